//! Personal tokens inside larger values: email addresses, phone numbers, card numbers (Luhn),
//! IBANs (mod 97), IPv4 addresses and national-id-like numbers (`123-45-6789`), found in any
//! byte string (free text, a json document, xml, text-like bytea). One forward pass; tokens
//! are ASCII, so the bytes around them may be anything. Pure: used by the `scrub` rule.

use std::ops::Range;

use super::checksum::{iban_valid, luhn_valid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenKind {
    Email,
    Phone,
    Card,
    Iban,
    Ip,
    NationalId,
}

impl TokenKind {
    pub const ALL: [TokenKind; 6] = [
        TokenKind::Email,
        TokenKind::Phone,
        TokenKind::Card,
        TokenKind::Iban,
        TokenKind::Ip,
        TokenKind::NationalId,
    ];

    /// The name used in rules files (`kinds = ["email", …]`).
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Email => "email",
            TokenKind::Phone => "phone",
            TokenKind::Card => "card",
            TokenKind::Iban => "iban",
            TokenKind::Ip => "ip",
            TokenKind::NationalId => "national_id",
        }
    }

    pub fn by_name(name: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub range: Range<usize>,
}

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-'!#$&*=?^`{|}~/".contains(&b)
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// The email address around the `@` at `at`, if there is one.
fn email_at(text: &[u8], at: usize) -> Option<Range<usize>> {
    let mut start = at;
    while start > 0 && is_local_char(text[start - 1]) && at - start < 64 {
        start -= 1;
    }
    // Quotes and dots may surround the address in prose: `'a@b.c'`, `(a@b.c).`
    while start < at && matches!(text[start], b'.' | b'\'' | b'`' | b'/' | b'{' | b'|') {
        start += 1;
    }
    let mut end = at + 1;
    while end < text.len() && is_domain_char(text[end]) && end - at <= 255 {
        end += 1;
    }
    while end > at + 1 && matches!(text[end - 1], b'.' | b'-') {
        end -= 1;
    }
    if start == at || end <= at + 1 {
        return None;
    }
    let domain = &text[at + 1..end];
    let labels: Vec<&[u8]> = domain.split(|b| *b == b'.').collect();
    let ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l[0] != b'-' && l[l.len() - 1] != b'-')
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic));
    ok.then_some(start..end)
}

fn boundary_before(text: &[u8], i: usize) -> bool {
    i == 0 || !text[i - 1].is_ascii_alphanumeric()
}

fn boundary_after(text: &[u8], i: usize) -> bool {
    i >= text.len() || !text[i].is_ascii_alphanumeric()
}

/// An IBAN starting at `i` (two capitals, two digits, groups of four possibly spaced).
fn iban_at(text: &[u8], i: usize) -> Option<Range<usize>> {
    if i + 15 > text.len() || !boundary_before(text, i) {
        return None;
    }
    let mut compact = Vec::with_capacity(34);
    let mut end = i;
    let mut j = i;
    while j < text.len() && compact.len() < 34 {
        let b = text[j];
        if b.is_ascii_uppercase() || b.is_ascii_digit() {
            compact.push(b);
            j += 1;
            if compact.len() >= 15 && boundary_after(text, j) && iban_valid(&compact) {
                end = j;
            }
        } else if b == b' ' && compact.len() % 4 == 0 && j + 1 < text.len() {
            j += 1;
        } else {
            break;
        }
    }
    (end > i).then_some(i..end)
}

/// Every IBAN of `text` (compact or in space-separated groups of four, checksum-valid), in
/// order: the one IBAN scanner of `scrub`, `rules init` and `verify`.
pub fn iban_spans(text: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < text.len() {
        if text[i].is_ascii_uppercase() && text[i + 1].is_ascii_uppercase() {
            if let Some(r) = iban_at(text, i) {
                i = r.end;
                out.push(r);
                continue;
            }
        }
        i += 1;
    }
    out
}

/// A run of digits with phone/card punctuation starting at `i`; returns its range (ending on a
/// digit) and its digit count.
fn digit_run(text: &[u8], i: usize) -> (Range<usize>, usize) {
    let mut j = i;
    let mut end = i;
    let mut digits = 0;
    let mut last_sep = false;
    while j < text.len() {
        let b = text[j];
        if b.is_ascii_digit() {
            digits += 1;
            end = j + 1;
            last_sep = false;
        } else if b" -.()/".contains(&b) && !last_sep && digits < 20 {
            // One separator at a time: `1 - 2` is arithmetic, not a number.
            last_sep = b != b'(' && b != b')';
        } else {
            break;
        }
        if digits > 19 {
            break;
        }
        j += 1;
    }
    (i..end, digits)
}

fn is_ipv4(s: &[u8]) -> bool {
    let parts: Vec<&[u8]> = s.split(|b| *b == b'.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.iter().all(u8::is_ascii_digit)
                && (p.len() == 1 || p[0] != b'0')
                && std::str::from_utf8(p)
                    .ok()
                    .and_then(|t| t.parse::<u16>().ok())
                    .is_some_and(|n| n <= 255)
        })
}

/// `2024-01-31…`, `2024/01/31…`: a run that starts as a date (a four-digit year, a separator,
/// a one- or two-digit month) is a date or a timestamp, not a number.
fn date_prefixed(run: &[u8]) -> bool {
    run.len() >= 7
        && run[..4].iter().all(u8::is_ascii_digit)
        && matches!(run[4], b'-' | b'/' | b'.')
        && run[5].is_ascii_digit()
        && (!run[6].is_ascii_digit() || run.get(7).is_some_and(|c| !c.is_ascii_digit()))
}

/// What a run of digits and separators is, if anything personal.
fn classify_run(run: &[u8], digits: usize, international: bool) -> Option<TokenKind> {
    let only_digits: Vec<u8> = run.iter().copied().filter(u8::is_ascii_digit).collect();
    let seps: Vec<u8> = run
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_digit())
        .collect();
    if !international && is_ipv4(run) {
        return Some(TokenKind::Ip);
    }
    let groups: Vec<&[u8]> = run
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let group_lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if !international && group_lens == [3, 2, 4] && seps.iter().all(|b| *b == b'-') {
        return Some(TokenKind::NationalId);
    }
    let first = only_digits.first().copied();
    if !international
        && (13..=19).contains(&digits)
        && seps.iter().all(|b| *b == b' ' || *b == b'-')
        && first != Some(b'0')
        && !only_digits.iter().all(|d| Some(*d) == first)
        && luhn_valid(&only_digits)
    {
        return Some(TokenKind::Card);
    }
    // Dates and times are not phones: 2024-01-31, 31.01.2024, 12:30.
    let date_like = groups.len() == 3
        && group_lens.iter().filter(|l| **l <= 2).count() >= 2
        && group_lens.contains(&4)
        && !run.contains(&b'(');
    if date_like || !(7..=15).contains(&digits) {
        return None;
    }
    let dots = seps.iter().filter(|b| **b == b'.').count();
    if international {
        return (dots == 0 || groups.len() >= 3).then_some(TokenKind::Phone);
    }
    let separated = seps.iter().any(|b| b" -()".contains(b));
    if separated && groups.len() >= 2 && dots == 0 {
        return Some(TokenKind::Phone);
    }
    // Bare digits read as a phone only as a national number with its trunk prefix.
    (seps.is_empty() && first == Some(b'0') && digits >= 10).then_some(TokenKind::Phone)
}

/// Every personal token in `text`, in order, not overlapping.
pub fn find(text: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    // Where the last token ended: an email's local part may start before `i`.
    let mut floor = 0;
    while i < text.len() {
        let b = text[i];
        if b == b'@' {
            if let Some(r) = email_at(text, i) {
                if r.start >= floor {
                    // Digits of the local part were not tokens: drop any taken from it.
                    while out.last().is_some_and(|t: &Token| t.range.end > r.start) {
                        out.pop();
                    }
                    i = r.end;
                    floor = r.end;
                    out.push(Token {
                        kind: TokenKind::Email,
                        range: r,
                    });
                    continue;
                }
            }
            i += 1;
            continue;
        }
        if b.is_ascii_uppercase() && i + 1 < text.len() && text[i + 1].is_ascii_uppercase() {
            if let Some(r) = iban_at(text, i) {
                i = r.end;
                floor = r.end;
                out.push(Token {
                    kind: TokenKind::Iban,
                    range: r,
                });
                continue;
            }
        }
        let plus = b == b'+' && text.get(i + 1).is_some_and(u8::is_ascii_digit);
        let open = b == b'(' && text.get(i + 1).is_some_and(u8::is_ascii_digit);
        if (b.is_ascii_digit() || plus || open) && boundary_before(text, i) {
            let start = if plus || open { i + 1 } else { i };
            let (run, digits) = digit_run(text, start);
            let end = run.end;
            let token_start = if open { i } else { start };
            // A run that goes on as a time (`2024-01-31 10:00`, `10:00`) or an email is not a
            // number of its own.
            let ends = boundary_after(text, end) && !matches!(text.get(end), Some(b'@' | b':'));
            let kind = (ends && !date_prefixed(&text[token_start..end]))
                .then(|| classify_run(&text[token_start..end], digits, plus))
                .flatten();
            if let Some(kind) = kind {
                let range = if plus { i..end } else { token_start..end };
                out.push(Token { kind, range });
                floor = end;
            }
            i = end.max(i + 1);
            // Skip the rest of an alphanumeric word (`abc123` is not a number).
            while i < text.len() && text[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        if b.is_ascii_alphanumeric() {
            // Skip a word: digits inside identifiers are not numbers.
            while i < text.len() && text[i].is_ascii_alphanumeric() {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, String)> {
        find(text.as_bytes())
            .into_iter()
            .map(|t| (t.kind, text[t.range].to_string()))
            .collect()
    }

    #[test]
    fn finds_each_kind_in_prose_and_json() {
        let text = r#"{"who": "Mail jane.roe+x@mail.example.org, call +44 7700 900123 or (030) 1234-5678",
            "card": "4111 1111 1111 1111", "iban": "DE89 3704 0044 0532 0130 00",
            "ip": "203.0.113.7", "ssn": "123-45-6789"}"#;
        assert_eq!(
            kinds(text),
            vec![
                (TokenKind::Email, "jane.roe+x@mail.example.org".into()),
                (TokenKind::Phone, "+44 7700 900123".into()),
                (TokenKind::Phone, "(030) 1234-5678".into()),
                (TokenKind::Card, "4111 1111 1111 1111".into()),
                (TokenKind::Iban, "DE89 3704 0044 0532 0130 00".into()),
                (TokenKind::Ip, "203.0.113.7".into()),
                (TokenKind::NationalId, "123-45-6789".into()),
            ]
        );
    }

    #[test]
    fn ordinary_numbers_dates_and_identifiers_are_not_tokens() {
        for text in [
            "order 12345 shipped 2024-01-31 at 12:30, total 1234.56",
            "'2024-01-01 00:00:00+00'::timestamp with time zone, 2024-01-01 00, 2024/1/5 10",
            "version 1.2.3, id abc1234567890, uuid 0b1e2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            "{\"qty\": 3, \"price\": 19.99, \"ts\": \"2024-01-31T10:00:00Z\"}",
            "a@b, @handle, x@localhost, 1 - 2 - 3",
            "1234567890123",
        ] {
            assert_eq!(kinds(text), vec![], "{text}");
        }
    }

    #[test]
    fn ibans_compact_or_grouped_with_their_checksum() {
        let spans = |t: &str| -> Vec<String> {
            iban_spans(t.as_bytes())
                .into_iter()
                .map(|r| t[r].to_string())
                .collect()
        };
        assert_eq!(
            spans("IBAN GB82 WEST 1234 5698 7654 32, iban:DE89370400440532013000."),
            ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"]
        );
        assert!(spans("GB82WEST12345698765433 xGB82WEST12345698765432").is_empty());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"0123456789 +-.()@abcDE/"[(x % 23) as usize]
                })
                .collect();
            for t in find(&bytes) {
                assert!(t.range.start < t.range.end && t.range.end <= bytes.len());
            }
        }
    }
}
