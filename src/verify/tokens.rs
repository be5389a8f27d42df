//! What the whole-target sweep looks for inside a value's text form: production values of
//! sanitized columns (as the whole value or as a run of tokens inside it) and, in kept
//! columns, personal data by shape (the detectors `rules init` samples with).
//!
//! Pure and synchronous. Production values are reduced to 64-bit hashes of their normalized
//! token runs ([`needle`]), so the set held in memory grows with the number of distinct
//! sanitized production values, not with their size, and no value is kept in the clear.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};

use crate::rules::suggest::{is_card_number, is_email, is_phone};

/// Longest run of tokens compared: a production value of more tokens (a free-text note) is
/// looked for by its first `MAX_WINDOW` tokens.
pub const MAX_WINDOW: usize = 8;
/// Production values shorter than this (normalized) are not looked for: short values (`Li`,
/// `42`, `NY`) turn up everywhere by chance.
pub const MIN_NEEDLE_CHARS: usize = 6;
/// Production values without letters need this many digits: shorter numbers (a count, a
/// price, a year) match unrelated numbers of other columns.
pub const MIN_NEEDLE_DIGITS: usize = 7;

/// Characters that belong to a token: letters, digits and the punctuation inside emails,
/// phone numbers and hyphenated names. Everything else (spaces, quotes, braces, commas,
/// colons, parentheses, slashes) separates tokens, which splits the text forms of json, xml,
/// composite and array values into their scalar parts.
fn in_token(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '@' | '.' | '_' | '+' | '-')
}

/// Lower-cased tokens of `text`, without the leading or trailing dots and dashes that end a
/// sentence or a list (`mail me at a@b.org.`).
pub fn tokens(text: &str) -> Vec<String> {
    lowered_tokens(text).map(Cow::into_owned).collect()
}

/// [`tokens`] without copying the tokens that are lower case already (most of them).
fn lowered_tokens(text: &str) -> impl Iterator<Item = Cow<'_, str>> {
    text.split(|c: char| !in_token(c))
        .map(|t| t.trim_matches(['.', '-']))
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.chars().any(char::is_uppercase) {
                Cow::Owned(t.to_lowercase())
            } else {
                Cow::Borrowed(t)
            }
        })
}

fn hash_run<T: AsRef<str>>(run: &[T]) -> u64 {
    let mut h = DefaultHasher::new();
    for (i, t) in run.iter().enumerate() {
        if i > 0 {
            ' '.hash(&mut h);
        }
        t.as_ref().hash(&mut h);
    }
    h.finish()
}

/// The hash a production value is looked for by, or None when it is too short to mean
/// anything found elsewhere ([`MIN_NEEDLE_CHARS`], [`MIN_NEEDLE_DIGITS`]).
pub fn needle(value: &str) -> Option<u64> {
    needle_run(value).map(|run| hash_run(&run))
}

/// The tokens a production value is looked for by (see [`needle`]).
fn needle_run(value: &str) -> Option<Vec<Cow<'_, str>>> {
    let run: Vec<Cow<str>> = lowered_tokens(value).take(MAX_WINDOW).collect();
    let chars: usize = run.iter().map(|t| t.chars().count()).sum::<usize>() + run.len();
    let letters = run.iter().any(|t| t.chars().any(char::is_alphabetic));
    let digits: usize = run
        .iter()
        .map(|t| t.chars().filter(char::is_ascii_digit).count())
        .sum();
    if run.is_empty()
        || chars.saturating_sub(1) < MIN_NEEDLE_CHARS
        || (!letters && digits < MIN_NEEDLE_DIGITS)
    {
        return None;
    }
    Some(run)
}

/// The values of these sets are hashes already: used as they are.
#[derive(Debug, Clone, Copy, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are stored; this keeps any other key correct, if slower.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<Prehashed>>;

/// The production values looked for: the hashes of their token runs ([`needle`]), and of
/// the first token of each run. A run of a searched text can only match where it starts with
/// the first token of some needle, so most tokens cost one lookup instead of
/// [`MAX_WINDOW`].
#[derive(Debug, Clone, Default)]
pub struct Needles {
    runs: HashSet64,
    firsts: HashSet64,
}

impl Needles {
    /// Adds `value` when it is long enough to be looked for ([`needle`]).
    pub fn insert(&mut self, value: &str) {
        if let Some(run) = needle_run(value) {
            self.runs.insert(hash_run(&run));
            self.firsts.insert(hash_run(&run[..1]));
        }
    }

    /// Distinct needles.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// Whether a run of 1 to [`MAX_WINDOW`] consecutive tokens of `text` is one of `needles`.
pub fn holds_needle(text: &str, needles: &Needles) -> bool {
    if needles.is_empty() {
        return false;
    }
    let toks: Vec<Cow<str>> = lowered_tokens(text).collect();
    (0..toks.len()).any(|start| {
        let window = &toks[start..toks.len().min(start + MAX_WINDOW)];
        // Extends one hasher token by token: the same sequence `hash_run` feeds.
        let mut h = DefaultHasher::new();
        window[0].as_ref().hash(&mut h);
        let first = h.clone().finish();
        if !needles.firsts.contains(&first) {
            return false;
        }
        needles.runs.contains(&first)
            || window[1..].iter().any(|t| {
                ' '.hash(&mut h);
                t.as_ref().hash(&mut h);
                needles.runs.contains(&h.clone().finish())
            })
    })
}

/// Kinds of personal data recognised by shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    Email,
    Phone,
    CardNumber,
    Iban,
}

impl Shape {
    pub const ALL: [Shape; 4] = [Shape::Email, Shape::Phone, Shape::CardNumber, Shape::Iban];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Email => "email",
            Shape::Phone => "phone",
            Shape::CardNumber => "card_number",
            Shape::Iban => "iban",
        }
    }
}

/// Mail domains whose addresses are not personal data: the reserved example domains
/// (RFC 2606, RFC 6761) the `email` rule writes, plus the `mail_domain`s a rules file sets.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    mail_domains: Vec<String>,
}

impl Generated {
    pub fn new(mail_domains: impl IntoIterator<Item = String>) -> Generated {
        Generated {
            mail_domains: mail_domains.into_iter().map(|d| d.to_lowercase()).collect(),
        }
    }

    fn is_generated_email(&self, email: &str) -> bool {
        let domain = email.rsplit_once('@').map_or("", |(_, d)| d).to_lowercase();
        let reserved = ["example.com", "example.net", "example.org"]
            .iter()
            .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
            || [".example", ".test", ".invalid", ".localhost"]
                .iter()
                .any(|tld| domain.ends_with(tld));
        reserved || self.mail_domains.contains(&domain)
    }
}

/// Characters of a phone or card number as written: digits and their separators.
fn in_number(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.' | '/' | '\u{a0}')
}

/// `2024-01-31`, `31/01/2024`, `31.01.2024`: dates and times are not phone numbers, and a
/// run of digits that starts with one (`2024-01-31 10`) is not either.
fn is_date_group(g: &str) -> bool {
    let parts: Vec<&str> = g.split(['-', '/', '.']).collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.iter().any(|p| p.len() == 4)
}

/// Digits a phone number found in a kept column must have: national numbers have 9 or more
/// almost everywhere, while year ranges (`1980-1990`) and catalogue numbers have fewer.
const MIN_PHONE_DIGITS: usize = 9;

/// Runs of number characters, split where a space-separated group is a date; a group glued
/// to letters (`HWV351`, `CD2`) belongs to a word, not to a number.
fn number_runs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit() || c == '+' || c == '(') {
        let before = rest[..start].chars().next_back();
        let tail = &rest[start..];
        let len = tail.find(|c: char| !in_number(c)).unwrap_or(tail.len());
        let run = &tail[..len];
        let after = tail[len..].chars().next();
        rest = &tail[len..];
        let mut groups: Vec<&str> = run.split([' ', '\u{a0}']).collect();
        if before.is_some_and(char::is_alphanumeric) && !groups.is_empty() {
            groups.remove(0);
        }
        if after.is_some_and(char::is_alphanumeric) {
            groups.pop();
        }
        let mut current: Vec<&str> = Vec::new();
        for group in groups {
            if is_date_group(group) {
                if !current.is_empty() {
                    out.push(current.join(" "));
                }
                current.clear();
            } else if !group.is_empty() {
                current.push(group);
            }
        }
        if !current.is_empty() {
            out.push(current.join(" "));
        }
    }
    out.into_iter()
        .map(|r| r.trim_matches(['.', '-', '/', ' ']).to_string())
        .filter(|r| r.bytes().filter(u8::is_ascii_digit).count() >= 7)
        .collect()
}

/// The kinds of personal data found in `text` by shape, ignoring generated email addresses.
pub fn shapes(text: &str, generated: &Generated) -> Vec<Shape> {
    let mut found = Vec::new();
    if text.contains('@')
        && text
            .split(|c: char| c.is_whitespace() || "<>()[]{},;:\"'`=\\/".contains(c))
            .map(|t| t.trim_end_matches(['.', '!', '?']))
            .any(|t| is_email(t) && !generated.is_generated_email(t))
    {
        found.push(Shape::Email);
    }
    let ibans = crate::sanitize::detect::iban_spans(text.as_bytes());
    // The digit groups of an IBAN are no phone number.
    let mut rest = std::borrow::Cow::Borrowed(text);
    for span in &ibans {
        let blank = "x".repeat(span.len());
        rest.to_mut().replace_range(span.clone(), &blank);
    }
    let runs = number_runs(&rest);
    if runs.iter().any(|r| is_card_number(r)) {
        found.push(Shape::CardNumber);
    }
    let phone = |r: &String| {
        r.bytes().filter(u8::is_ascii_digit).count() >= MIN_PHONE_DIGITS
            && is_phone(r)
            && !is_card_number(r)
    };
    if runs.iter().any(phone) {
        found.push(Shape::Phone);
    }
    if !ibans.is_empty() {
        found.push(Shape::Iban);
    }
    found
}

/// The text form a value is searched in: bytea (`\x…` in hex output) is decoded, and read
/// as text where its bytes are UTF-8; other values as PostgreSQL prints them.
pub fn searchable(value: &str, bytea: bool) -> std::borrow::Cow<'_, str> {
    if !bytea {
        return value.into();
    }
    let Some(hex) = value.strip_prefix("\\x") else {
        return value.into();
    };
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> Needles {
        let mut needles = Needles::default();
        for v in values {
            needles.insert(v);
        }
        needles
    }

    /// The first-token filter finds exactly what hashing every window would.
    #[test]
    fn a_needle_is_found_wherever_its_run_starts() {
        let s = set(&["Ann Lee Smith", "Lee Smith Jones", "4111 1111 1111"]);
        let brute = |text: &str| {
            let toks = tokens(text);
            (0..toks.len()).any(|a| {
                (a + 1..=toks.len().min(a + MAX_WINDOW))
                    .any(|b| s.runs.contains(&hash_run(&toks[a..b])))
            })
        };
        for text in [
            "ann lee smith jones",
            "Dear Lee Smith Jones,",
            "x Lee Smith",
            "card 4111 1111 1111 9",
            "Ann Lee",
            "",
        ] {
            assert_eq!(holds_needle(text, &s), brute(text), "{text}");
        }
        assert!(holds_needle("Dear Lee Smith Jones,", &s));
        assert!(!holds_needle("x Lee Smith", &s));
    }

    #[test]
    fn text_forms_split_into_their_scalar_parts() {
        assert_eq!(
            tokens(r#"{"email": "A.B@Mail.org", "n": [1, 2]}"#),
            ["email", "a.b@mail.org", "n", "1", "2"]
        );
        assert_eq!(
            tokens(r#"("12 Baker Street",London,"+44 20 7946 0001")"#),
            ["12", "baker", "street", "london", "+44", "20", "7946", "0001"]
        );
        assert_eq!(tokens("{x@y.org,\"z w\"}"), ["x@y.org", "z", "w"]);
        assert_eq!(
            tokens("mail me at a@b.org."),
            ["mail", "me", "at", "a@b.org"]
        );
    }

    #[test]
    fn production_values_are_found_whole_or_as_a_token_run() {
        let s = set(&[
            "client7@privatebox.org",
            "Ada Hopper 12",
            "+44 20 7946 0012",
        ]);
        assert!(holds_needle("client7@privatebox.org", &s));
        assert!(holds_needle(r#"{"row": {"name": "ADA HOPPER 12"}}"#, &s));
        assert!(holds_needle(
            r#"("1 Baker St",London,"+44 20 7946 0012")"#,
            &s
        ));
        assert!(holds_needle(
            "ticket from client7@privatebox.org: call me",
            &s
        ));
        assert!(!holds_needle("client77@privatebox.org", &s));
        assert!(!holds_needle("Ada Hopper 123", &s));
        assert!(!holds_needle("", &s));
    }

    #[test]
    fn long_values_are_found_by_their_first_tokens() {
        let s = set(&["one two three four five six seven eight nine ten"]);
        assert!(holds_needle(
            "quoted: one two three four five six seven eight (and more)",
            &s
        ));
    }

    #[test]
    fn short_values_are_not_looked_for() {
        assert_eq!(needle("Li"), None);
        assert_eq!(needle("NY"), None);
        assert_eq!(needle("123456"), None);
        assert_eq!(needle("  "), None);
        assert!(needle("1234567").is_some());
        assert!(needle("Ann Lee").is_some());
    }

    #[test]
    fn shapes_are_found_inside_text_forms() {
        let g = Generated::default();
        assert_eq!(shapes("{a@privatebox.org,b}", &g), [Shape::Email]);
        assert_eq!(
            shapes(r#"("1 Baker St",London,"+44 20 7946 0012")"#, &g),
            [Shape::Phone]
        );
        assert_eq!(
            shapes("paid with 4111 1111 1111 1111 today", &g),
            [Shape::CardNumber]
        );
        assert_eq!(
            shapes("IBAN GB82 WEST 1234 5698 7654 32", &g),
            [Shape::Iban]
        );
        assert_eq!(shapes("iban:GB82WEST12345698765432.", &g), [Shape::Iban]);
    }

    #[test]
    fn generated_and_innocent_values_have_no_shape() {
        let g = Generated::new(["staging.corp".to_string()]);
        for text in [
            "maria.lopez@example.com",
            "x@mail.example.org",
            "a@b.test",
            "someone@staging.corp",
            "2024-03-01 10:00:00+00",
            r#"{"at": "2024-03-01 10:00:00+00", "total": 12.99}"#,
            "order 1234 of 2024",
            "4111 1111 1111 1112",
            "GB82WEST12345698765433",
            "Seek And Shall Find: More Of The Best (1963-1981)",
            "Music for the Royal Fireworks, HWV351 (1749): La Réjouissance",
            "K. 407/386c: III. Allegro",
            "ref AB1234567 (CD2)",
        ] {
            assert_eq!(shapes(text, &g), [], "{text}");
        }
    }

    #[test]
    fn bytea_is_searched_as_text() {
        assert_eq!(searchable("\\x612040622e6f7267", true), "a @b.org");
        assert_eq!(
            searchable("\\x612040622e6f7267", false),
            "\\x612040622e6f7267"
        );
    }
}
