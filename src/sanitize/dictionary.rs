//! The production values of a run's sanitized domains, held as a compact set of keyed digests,
//! so that `scrub` can find a customer's name or street inside free text and replace it with
//! the value the domain's own rule gives it (equal to the sanitized column).
//!
//! A value is stored as 16 bytes of a keyed BLAKE3 digest of its normalised text (ends trimmed
//! to word characters; ASCII case folded where the domain ignores case, e.g. emails) and the
//! index of its domain's mapping: about 22 bytes per value with the bucket index and the
//! first-word filter, and no production text in memory. Lookups hash only the spans of text
//! whose first word passes a one-bit-per-value filter and whose length and word count some
//! value has. Built once per run, then immutable and shared read-only by every worker.

use super::Key;

/// Values of more words than this are not terms (spans are tried up to this many words).
pub const MAX_WORDS: usize = 8;
/// Values longer than this (in bytes) are not terms.
const MAX_TERM_BYTES: usize = 255;
/// Shortest value stored at all; `scrub`'s own minimum (default 4) applies when matching.
const FLOOR_CHARS: usize = 2;

/// The rule a domain's values are mapped with: one per (rule, domain) of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainMapping {
    pub rule: String,
    pub domain: String,
    /// The column's rule parameters (e.g. `mail_domain`), so a match maps as the column does.
    pub params: toml::Table,
    /// Equal ignoring ASCII case (emails): matched case-insensitively.
    pub case_insensitive: bool,
}

/// Rules whose values are compared ignoring case.
pub fn ignores_case(rule: &str) -> bool {
    matches!(rule, "email")
}

/// A word byte: ASCII letters and digits, and every byte of a multi-byte UTF-8 character (so
/// `Müller` is one word and a span never cuts a character).
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// The `start..end` of every word of `text`.
fn words(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if is_word_byte(text[i]) {
            let start = i;
            while i < text.len() && is_word_byte(text[i]) {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Cheap hash of a word, ASCII case folded (FNV-1a): the first-word filter only.
fn word_hash(word: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in word {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn chars(text: &[u8]) -> usize {
    text.iter().filter(|b| (**b & 0xC0) != 0x80).count()
}

/// Too short to be told apart from ordinary words or numbers.
fn too_short(text: &[u8], min_chars: usize, min_digits: usize) -> bool {
    let digits_only = !text.iter().any(|b| b.is_ascii_alphabetic() || *b >= 0x80);
    let digits = text.iter().filter(|b| b.is_ascii_digit()).count();
    chars(text) < min_chars || (digits_only && digits < min_digits)
}

/// Keyed digest of a span, case folded or not (the fold is part of the hashed input, so the
/// two forms never collide with each other).
fn digest(key: &[u8; 32], text: &[u8], folded: bool) -> [u8; 16] {
    let mut buf = [0u8; MAX_TERM_BYTES + 1];
    buf[0] = u8::from(folded);
    for (d, s) in buf[1..].iter_mut().zip(text) {
        *d = if folded { s.to_ascii_lowercase() } else { *s };
    }
    let full = blake3::keyed_hash(key, &buf[..=text.len().min(MAX_TERM_BYTES)]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full.as_bytes()[..16]);
    out
}

/// The value with its non-word ends trimmed, if it can be a term.
fn term(value: &[u8]) -> Option<(&[u8], usize)> {
    let start = value.iter().position(|b| is_word_byte(*b))?;
    let end = value.iter().rposition(|b| is_word_byte(*b))? + 1;
    let text = &value[start..end];
    let count = words(text).len();
    let fits = text.len() <= MAX_TERM_BYTES && count <= MAX_WORDS;
    (fits && !too_short(text, FLOOR_CHARS, 1)).then_some((text, count))
}

/// Collects values; `finish` sorts them into a [`Dictionary`].
pub struct DictionaryBuilder {
    key: [u8; 32],
    mappings: Vec<DomainMapping>,
    entries: Vec<([u8; 16], u16)>,
    first_words: Vec<u32>,
    word_counts: u32,
    lengths: [u64; 4],
}

impl DictionaryBuilder {
    /// The digests are keyed by a key derived from the run's key.
    pub fn new(key: &Key) -> DictionaryBuilder {
        DictionaryBuilder {
            key: key.hash("scrub.dictionary", "", b""),
            mappings: Vec::new(),
            entries: Vec::new(),
            first_words: Vec::new(),
            word_counts: 0,
            lengths: [0; 4],
        }
    }

    /// Registers a domain's mapping (once per rule + domain); returns its index, or None when
    /// there are too many of them to number.
    pub fn add_mapping(&mut self, mapping: DomainMapping) -> Option<u16> {
        if let Some(i) = self
            .mappings
            .iter()
            .position(|m| m.rule == mapping.rule && m.domain == mapping.domain)
        {
            return u16::try_from(i).ok();
        }
        let index = u16::try_from(self.mappings.len()).ok()?;
        self.mappings.push(mapping);
        Some(index)
    }

    /// Adds one production value of mapping `mapping` (from `add_mapping`); values that cannot
    /// be terms (too short, too long, too many words) are skipped.
    pub fn insert(&mut self, mapping: u16, value: &[u8]) {
        let Some(m) = self.mappings.get(usize::from(mapping)) else {
            return;
        };
        let Some((text, count)) = term(value) else {
            return;
        };
        let folded = m.case_insensitive;
        self.entries
            .push((digest(&self.key, text, folded), mapping));
        let first = words(text).first().map_or(text, |(s, e)| &text[*s..*e]);
        self.first_words.push(word_hash(first) as u32);
        self.word_counts |= 1 << count;
        self.lengths[text.len() / 64] |= 1 << (text.len() % 64);
    }

    pub fn finish(mut self) -> Dictionary {
        // Equal digests: the first mapping registered wins, so a value maps one way.
        self.entries.sort_unstable();
        self.entries.dedup_by(|b, a| a.0 == b.0);
        let n = self.entries.len();
        let bucket_bits = (n.max(2).next_power_of_two().trailing_zeros()).saturating_sub(1);
        let mut buckets = vec![0u32; (1usize << bucket_bits) + 1];
        for (d, _) in &self.entries {
            buckets[bucket_of(d, bucket_bits) + 1] += 1;
        }
        for i in 1..buckets.len() {
            buckets[i] += buckets[i - 1];
        }
        let filter_bits = (n * 8).next_power_of_two().max(1 << 12);
        let mut first_words = vec![0u64; filter_bits / 64];
        for h in &self.first_words {
            let bit = (*h as usize) & (filter_bits - 1);
            first_words[bit / 64] |= 1 << (bit % 64);
        }
        let has_folded = self.mappings.iter().any(|m| m.case_insensitive);
        let has_exact = self.mappings.iter().any(|m| !m.case_insensitive);
        Dictionary {
            key: self.key,
            digests: self.entries.iter().map(|e| e.0).collect(),
            mapping_of: self.entries.iter().map(|e| e.1).collect(),
            mappings: self.mappings,
            buckets,
            bucket_bits,
            first_words,
            word_counts: self.word_counts,
            lengths: self.lengths,
            has_folded,
            has_exact,
        }
    }
}

fn bucket_of(d: &[u8; 16], bits: u32) -> usize {
    let mut top = [0u8; 8];
    top.copy_from_slice(&d[..8]);
    if bits == 0 {
        return 0;
    }
    (u64::from_be_bytes(top) >> (64 - bits)) as usize
}

/// A production value found in text: where, and which mapping replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub range: std::ops::Range<usize>,
    pub mapping: u16,
}

/// The immutable set of a run's production values (see the module documentation).
pub struct Dictionary {
    key: [u8; 32],
    mappings: Vec<DomainMapping>,
    /// Sorted; `mapping_of[i]` is the mapping of `digests[i]`.
    digests: Vec<[u8; 16]>,
    mapping_of: Vec<u16>,
    /// `digests[buckets[b]..buckets[b + 1]]` start with the `bucket_bits` bits `b`.
    buckets: Vec<u32>,
    bucket_bits: u32,
    /// One bit per value: its first word's hash (case folded).
    first_words: Vec<u64>,
    /// Bit `k`: some value has `k` words.
    word_counts: u32,
    /// Bit `n`: some value is `n` bytes long.
    lengths: [u64; 4],
    has_folded: bool,
    has_exact: bool,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dictionary({} values)", self.digests.len())
    }
}

impl Dictionary {
    pub fn mappings(&self) -> &[DomainMapping] {
        &self.mappings
    }

    /// Distinct values held.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Bytes of memory the dictionary holds (its tables, not the struct).
    pub fn heap_bytes(&self) -> usize {
        self.digests.capacity() * 16
            + self.mapping_of.capacity() * 2
            + self.buckets.capacity() * 4
            + self.first_words.capacity() * 8
    }

    fn lookup(&self, d: &[u8; 16]) -> Option<u16> {
        let b = bucket_of(d, self.bucket_bits);
        let (lo, hi) = (self.buckets[b] as usize, self.buckets[b + 1] as usize);
        let i = self.digests[lo..hi].binary_search(d).ok()?;
        self.mapping_of.get(lo + i).copied()
    }

    fn span_mapping(&self, span: &[u8]) -> Option<u16> {
        if span.len() > MAX_TERM_BYTES
            || self.lengths[span.len() / 64] & (1 << (span.len() % 64)) == 0
        {
            return None;
        }
        let exact = self
            .has_exact
            .then(|| self.lookup(&digest(&self.key, span, false)))
            .flatten();
        exact.or_else(|| {
            self.has_folded
                .then(|| self.lookup(&digest(&self.key, span, true)))
                .flatten()
        })
    }

    /// Every production value in `text` on word boundaries, left to right, longest first,
    /// not overlapping; spans shorter than `min_chars` characters, or of digits only and
    /// fewer than `min_digits` digits, are never matches.
    pub fn find(&self, text: &[u8], min_chars: usize, min_digits: usize) -> Vec<Hit> {
        let mut hits = Vec::new();
        if self.digests.is_empty() {
            return hits;
        }
        let words = words(text);
        let filter_bits = self.first_words.len() * 64;
        let mut next = 0;
        for i in 0..words.len() {
            if i < next {
                continue;
            }
            let (start, end) = words[i];
            let bit = (word_hash(&text[start..end]) as u32 as usize) & (filter_bits - 1);
            if self.first_words[bit / 64] & (1 << (bit % 64)) == 0 {
                continue;
            }
            let most = MAX_WORDS.min(words.len() - i);
            for k in (1..=most).rev() {
                if self.word_counts & (1 << k) == 0 {
                    continue;
                }
                let span = &text[start..words[i + k - 1].1];
                if too_short(span, min_chars, min_digits) {
                    continue;
                }
                if let Some(mapping) = self.span_mapping(span) {
                    hits.push(Hit {
                        range: start..words[i + k - 1].1,
                        mapping,
                    });
                    next = i + k;
                    break;
                }
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(rule: &str, domain: &str) -> DomainMapping {
        DomainMapping {
            rule: rule.into(),
            domain: domain.into(),
            params: toml::Table::new(),
            case_insensitive: ignores_case(rule),
        }
    }

    fn dictionary(values: &[(&str, &str)]) -> Dictionary {
        let mut b = DictionaryBuilder::new(&Key::from_bytes([7; 32]));
        for (rule, value) in values {
            let m = b.add_mapping(mapping(rule, rule)).unwrap_or_default();
            b.insert(m, value.as_bytes());
        }
        b.finish()
    }

    fn found(d: &Dictionary, text: &str) -> Vec<(String, String)> {
        d.find(text.as_bytes(), 4, 6)
            .into_iter()
            .map(|h| {
                (
                    text[h.range].to_string(),
                    d.mappings()[usize::from(h.mapping)].rule.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_values_on_word_boundaries_longest_first() {
        let d = dictionary(&[
            ("person_name", "James Blackwood"),
            ("person_name", "James"),
            ("street", "12 Baker Street"),
            ("email", "Jane.Roe@Example.org"),
        ]);
        assert_eq!(
            found(
                &d,
                "called James Blackwood, then James; lives at 12 Baker Street (jane.roe@example.org)"
            ),
            vec![
                ("James Blackwood".into(), "person_name".into()),
                ("James".into(), "person_name".into()),
                ("12 Baker Street".into(), "street".into()),
                ("jane.roe@example.org".into(), "email".into()),
            ]
        );
        // Inside a longer word, or in another case of a case-sensitive domain: no match.
        assert!(found(&d, "Jameson JAMES BLACKWOOD xJames").is_empty());
    }

    #[test]
    fn short_values_and_short_numbers_are_not_matched() {
        let d = dictionary(&[("person_name", "Al"), ("hash", "12345"), ("hash", "123456")]);
        assert!(found(&d, "Al paid 12345").is_empty());
        assert_eq!(
            found(&d, "ref 123456"),
            vec![("123456".into(), "hash".into())]
        );
    }

    #[test]
    fn a_million_values_stay_small() {
        let mut b = DictionaryBuilder::new(&Key::from_bytes([1; 32]));
        let m = b
            .add_mapping(mapping("person_name", "p"))
            .unwrap_or_default();
        for i in 0..100_000u32 {
            b.insert(m, format!("Person Number{i}").as_bytes());
        }
        let d = b.finish();
        assert_eq!(d.len(), 100_000);
        // Bytes per value, with the bucket index and the first-word filter.
        let per_value = d.heap_bytes() as f64 / d.len() as f64;
        assert!(per_value < 32.0, "{per_value} bytes per value");
        assert_eq!(found(&d, "to Person Number99999.").len(), 1);
        assert!(found(&d, "to Person Number100000.").is_empty());
    }
}
