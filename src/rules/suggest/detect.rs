//! Value detectors over sampled values, and the counts they add up to. Nothing here keeps a
//! value: only how many looked like what.

use super::kinds::Pii;
use crate::sanitize::checksum::{iban_valid, luhn_valid};

/// The kinds sampled values are tested for, in the order they are tried.
const CONTENT_KINDS: [Pii; 6] = [
    Pii::Secret,
    Pii::Email,
    Pii::BankAccount,
    Pii::CardNumber,
    Pii::IpAddress,
    Pii::Phone,
];

/// Counts over a column's sampled values. Holds no value: only how many looked like what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleProfile {
    /// Non-null values looked at.
    pub sampled: usize,
    /// Per kind of [`CONTENT_KINDS`], values that are wholly one of those.
    whole: [usize; 6],
    /// Per kind of [`CONTENT_KINDS`], values with one somewhere inside (free text, or the text
    /// form of a composite, array, json, xml or tsvector value).
    inside: [usize; 6],
    /// Values that could not be read as text (binary `bytea`): nothing is known about them.
    pub unreadable: usize,
}

impl SampleProfile {
    pub fn add(&mut self, value: &str) {
        self.sampled += 1;
        if let Some(kind) = classify_value(value) {
            if let Some(i) = CONTENT_KINDS.iter().position(|k| *k == kind) {
                self.whole[i] += 1;
            }
        }
        for (count, found) in self.inside.iter_mut().zip(kinds_inside(value)) {
            *count += usize::from(found);
        }
    }

    /// A value that is not text (bytes that are not UTF-8).
    pub fn add_unreadable(&mut self) {
        self.sampled += 1;
        self.unreadable += 1;
    }

    /// Adds another sample of the same column (another partition's).
    pub fn merge(&mut self, other: &SampleProfile) {
        self.sampled += other.sampled;
        for (mine, theirs) in self.whole.iter_mut().zip(other.whole) {
            *mine += theirs;
        }
        for (mine, theirs) in self.inside.iter_mut().zip(other.inside) {
            *mine += theirs;
        }
        self.unreadable += other.unreadable;
    }

    /// How many sampled values are wholly of `kind`.
    pub fn count(&self, kind: Pii) -> usize {
        CONTENT_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.whole[i])
    }

    /// How many sampled values have a `kind` somewhere inside (wholly-`kind` values included).
    pub fn inside(&self, kind: Pii) -> usize {
        CONTENT_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.inside[i])
    }

    /// The kind at least half of the sampled values are, with its count.
    pub fn dominant(&self) -> Option<(Pii, usize)> {
        CONTENT_KINDS
            .iter()
            .map(|k| (*k, self.count(*k)))
            .filter(|(_, n)| *n > 0 && n * 2 >= self.sampled)
            .max_by_key(|(_, n)| *n)
    }

    /// Whether any sampled value holds something personal inside, however few.
    pub fn holds_personal_data(&self) -> bool {
        self.inside.iter().any(|n| *n > 0)
    }

    /// What was found, as counts: "60/60 sampled values contain email addresses", one per
    /// kind found (except `skip`, reported wholly elsewhere), and the unreadable values.
    pub fn findings(&self, skip: Option<Pii>) -> Vec<String> {
        let mut out: Vec<String> = CONTENT_KINDS
            .iter()
            .filter(|k| Some(**k) != skip)
            .map(|k| (*k, self.inside(*k)))
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{n}/{} sampled values contain {}", self.sampled, k.plural()))
            .collect();
        if self.unreadable > 0 {
            out.push(format!(
                "{}/{} sampled values are binary, not text",
                self.unreadable, self.sampled
            ));
        }
        out
    }
}

/// Separators around tokens in free text and in the text forms PostgreSQL gives composites
/// (`(a,"b c")`), arrays (`{a,"b"}`), json, xml and tsvector (`'word':1`).
const TOKEN_SEPARATORS: &str = "<>()[]{},;:\"'\\`|";

/// Per kind of [`CONTENT_KINDS`], whether one occurs somewhere inside `v`.
pub fn kinds_inside(v: &str) -> [bool; 6] {
    let mut found = [false; 6];
    let mut mark = |kind: Pii| {
        if let Some(i) = CONTENT_KINDS.iter().position(|k| *k == kind) {
            found[i] = true;
        }
    };
    for token in v.split(|c: char| c.is_whitespace() || TOKEN_SEPARATORS.contains(c)) {
        let t = token.trim_matches(['.', '!', '?', '=']);
        if t.is_empty() {
            continue;
        }
        if t.contains('@') && is_email(t) {
            mark(Pii::Email);
        } else if t.starts_with("eyJ") && is_jwt(t) {
            mark(Pii::Secret);
        } else if t.len() >= 15 && is_iban(t) {
            mark(Pii::BankAccount);
        }
    }
    // IPv6 addresses hold colons: tokens split without them.
    let ip_separators = TOKEN_SEPARATORS.replace(':', "");
    for token in v.split(|c: char| c.is_whitespace() || ip_separators.contains(c)) {
        let t = token.trim_matches(['.', ':', '!', '?', '=']);
        if t.len() >= 7 && is_ip(t) {
            mark(Pii::IpAddress);
        }
    }
    // Written in groups (`GB82 WEST 1234 5698 7654 32`): the scanner `scrub` uses.
    if !crate::sanitize::detect::iban_spans(v.as_bytes()).is_empty() {
        mark(Pii::BankAccount);
    }
    for run in number_runs(v) {
        if is_card_number(run) {
            mark(Pii::CardNumber);
        } else if is_phone(run) && (run.starts_with('+') || national_phone_shape(run)) {
            mark(Pii::Phone);
        }
    }
    found
}

/// An email address somewhere in free text.
#[cfg(test)]
fn contains_email(v: &str) -> bool {
    let at = CONTENT_KINDS.iter().position(|k| *k == Pii::Email);
    at.is_some_and(|i| kinds_inside(v)[i])
}

/// Inside free text, a number without `+` reads as a phone number only when it is grouped
/// (a bare run of digits is as likely an order number or a bit string), with nine digits or
/// more, the first group at least two long: `No. 3 (1950-1952)` is not one.
fn national_phone_shape(run: &str) -> bool {
    if !run.chars().any(|c| " -().\u{a0}/".contains(c)) {
        return false;
    }
    let first = run
        .split(|c: char| !c.is_ascii_digit())
        .find(|g| !g.is_empty())
        .map_or(0, str::len);
    digit_count(run) >= 9 && first >= 2
}

fn digit_count(s: &str) -> usize {
    s.chars().filter(char::is_ascii_digit).count()
}

/// Maximal runs of phone and card characters with at least seven digits, trimmed, that are not
/// glued to letters (`A-1234567`, hex digests) nor followed by a colon (a time of day).
fn number_runs(v: &str) -> Vec<&str> {
    let in_run = |c: char| c.is_ascii_digit() || " -().+/\u{a0}".contains(c);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in v.char_indices().chain(std::iter::once((v.len(), '\0'))) {
        let inside = i < v.len() && in_run(c);
        match (start, inside) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                start = None;
                let run = v[s..i].trim_matches(|x: char| x.is_whitespace() || ".-/".contains(x));
                let run = match (run.strip_prefix('('), run.contains(')')) {
                    (Some(r), false) => r,
                    _ => run,
                };
                let run = match (run.strip_suffix(')'), run.contains('(')) {
                    (Some(r), false) => r,
                    _ => run,
                };
                let run = run.trim();
                // Neighbours of the trimmed run in `v` (a subslice of it).
                let at = (run.as_ptr() as usize).saturating_sub(v.as_ptr() as usize);
                let before = v[..at].chars().next_back();
                let after = v[at + run.len()..].chars().next();
                let glued = before.is_some_and(char::is_alphanumeric)
                    || after.is_some_and(|c| c.is_alphanumeric() || c == ':');
                if !glued && digit_count(run) >= 7 {
                    out.push(run);
                }
            }
            _ => {}
        }
    }
    out
}

/// What one value wholly is, if it is one of the recognised kinds.
pub fn classify_value(value: &str) -> Option<Pii> {
    let v = value.trim();
    if v.is_empty() || v.len() > 4096 {
        return None;
    }
    if is_jwt(v) {
        Some(Pii::Secret)
    } else if is_email(v) {
        Some(Pii::Email)
    } else if is_iban(v) {
        Some(Pii::BankAccount)
    } else if is_card_number(v) {
        Some(Pii::CardNumber)
    } else if is_ip(v) {
        Some(Pii::IpAddress)
    } else if is_phone(v) {
        Some(Pii::Phone)
    } else {
        None
    }
}

pub fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    let local_ok = local
        .chars()
        .all(|c| c.is_alphanumeric() || "._%+-'!#$&*=?^`{|}~/".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
    local_ok && domain_ok
}

/// 13–19 digits, optionally grouped with spaces or dashes, passing Luhn, not one repeated digit.
pub fn is_card_number(v: &str) -> bool {
    if !v
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let digits: String = v.chars().filter(char::is_ascii_digit).collect();
    let first = digits.chars().next();
    (13..=19).contains(&digits.len())
        && !digits.chars().all(|c| Some(c) == first)
        && !digits.starts_with('0')
        && luhn_valid(digits.as_bytes())
}

/// An IBAN (spaces allowed) whose ISO 13616 mod-97 checksum is valid.
pub fn is_iban(v: &str) -> bool {
    let s: String = v.chars().filter(|c| *c != ' ').collect();
    let b = s.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    iban_valid(b)
}

pub fn is_ip(v: &str) -> bool {
    let addr = v.split_once('/').map_or(v, |(a, _)| a);
    if addr.parse::<std::net::Ipv4Addr>().is_ok() {
        return addr.split('.').count() == 4;
    }
    // Eight two-digit groups are an EUI-64 hardware address (macaddr8), not IPv6.
    let hardware = addr.split(':').count() == 8 && addr.split(':').all(|g| g.len() == 2);
    addr.contains(':') && !hardware && addr.parse::<std::net::Ipv6Addr>().is_ok()
}

/// `header.payload.signature` in base64url, header starting `eyJ` (`{"`).
pub fn is_jwt(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && v.starts_with("eyJ")
        && v.len() >= 30
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
        })
}

/// 7–15 digits with phone punctuation; plain numbers, dates and times are not phones.
pub fn is_phone(v: &str) -> bool {
    let body = v.strip_prefix('+');
    let international = body.is_some();
    let body = body.unwrap_or(v).trim_start();
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || " -().\u{a0}/".contains(c))
    {
        return false;
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    let groups: Vec<&str> = body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    // 2024-01-31, 31.01.2024, 1/31/2024
    let date_like = groups.len() == 3
        && groups.iter().filter(|g| g.len() <= 2).count() >= 2
        && groups.iter().any(|g| g.len() == 4)
        && !body.contains('(');
    if date_like {
        return false;
    }
    let separated = body.chars().any(|c| " -()".contains(c));
    let number_like = !separated && body.chars().filter(|c| *c == '.').count() <= 1;
    if international {
        return !(number_like && body.contains('.'));
    }
    if separated {
        return groups.len() >= 2;
    }
    // Bare digits: only a national number with its trunk prefix (0…) reads as a phone.
    number_like && !body.contains('.') && body.starts_with('0') && digits >= 10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(values: &[&str]) -> SampleProfile {
        let mut p = SampleProfile::default();
        for v in values {
            p.add(v);
        }
        p
    }

    #[test]
    fn value_detectors() {
        assert!(is_email("ana.silva+x@example.co.uk"));
        assert!(!is_email("not an email"));
        assert!(!is_email("a@b"));
        assert!(contains_email("call or write to luis@example.com."));
        assert!(!contains_email("price @ 5 dollars"));
        assert!(is_card_number("4111 1111 1111 1111"));
        assert!(is_card_number("5500-0000-0000-0004"));
        assert!(!is_card_number("4111 1111 1111 1112"), "Luhn fails");
        assert!(!is_card_number("0000000000000000"));
        assert!(is_iban("GB82 WEST 1234 5698 7654 32"));
        assert!(is_iban("DE89370400440532013000"));
        assert!(!is_iban("DE89370400440532013001"), "checksum fails");
        assert!(is_ip("192.168.10.1"));
        assert!(is_ip("2001:db8::1"));
        assert!(!is_ip("08:00:2b:01:02:03:04:05"), "a macaddr8");
        assert!(!is_ip("1.2.3"));
        assert!(is_jwt(
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        ));
        assert!(!is_jwt("a.b.c"));
        assert!(is_phone("+55 (12) 3923-5555"));
        assert!(is_phone("(171) 555-7788"));
        assert!(is_phone("030-0074321"));
        assert!(is_phone("+4930123456"));
        assert!(is_phone("0301234567"));
        assert!(!is_phone("2024-01-31"));
        assert!(!is_phone("31.01.2024"));
        assert!(!is_phone("1234567.89"));
        assert!(!is_phone("12345678"), "a bare number");
        assert!(!is_phone("12"));
    }

    #[test]
    fn profile_counts_without_keeping_values() {
        let p = profile(&[
            "a@example.com",
            "b@example.org",
            "c@example.net",
            "hello",
            "4111111111111111",
        ]);
        assert_eq!(p.sampled, 5);
        assert_eq!(p.count(Pii::Email), 3);
        assert_eq!(p.count(Pii::CardNumber), 1);
        assert_eq!(p.dominant(), Some((Pii::Email, 3)));
        let mut merged = p.clone();
        merged.merge(&profile(&["d@example.com", "x"]));
        assert_eq!(merged.sampled, 7);
        assert_eq!(merged.count(Pii::Email), 4);
        assert_eq!(merged.inside(Pii::Email), 4);
        let words = profile(&["hello", "world"]);
        assert_eq!(words.dominant(), None);
        assert!(!words.holds_personal_data());
        assert!(words.findings(None).is_empty());
    }

    #[test]
    fn personal_tokens_inside_structured_text_forms() {
        let kinds = |v: &str| -> Vec<Pii> {
            CONTENT_KINDS
                .iter()
                .zip(kinds_inside(v))
                .filter(|(_, f)| *f)
                .map(|(k, _)| *k)
                .collect()
        };
        // A composite, an array of composites, nested json, xml and a tsvector.
        assert_eq!(
            kinds("(1 Harbour Road,Porthaven,owner1@example.net)"),
            [Pii::Email]
        );
        assert_eq!(
            kinds(
                r#"{"(1 Mill Lane,Eastwick,old1@example.com)","(8 Quay St,Westby,\"+44 7700 900001\")"}"#
            ),
            [Pii::Email, Pii::Phone]
        );
        assert_eq!(
            kinds(r#"{"history": [[{"email": "h@example.org"}], {"ip": "10.1.2.3"}]}"#),
            [Pii::Email, Pii::IpAddress]
        );
        assert_eq!(
            kinds("<card><mail>c@example.net</mail></card>"),
            [Pii::Email]
        );
        assert_eq!(kinds("'about':6 'reader1@example.org':4"), [Pii::Email]);
        assert_eq!(kinds("called on +44 7700 900123 today"), [Pii::Phone]);
        assert_eq!(kinds("card 4111 1111 1111 1111, thanks"), [Pii::CardNumber]);
        // (Its digit groups read as a phone number too; either way it is personal.)
        assert!(kinds("pay to GB82 WEST 1234 5698 7654 32 now").contains(&Pii::BankAccount));
        assert_eq!(kinds("from 2001:db8::1 at noon"), [Pii::IpAddress]);
        // Not personal: times, dates, numbers, ranges, digests, uuids, years.
        for v in [
            r#"{"at": "2024-01-01 10:00:00+00", "amount": 12345678.90, "n": 1234567}"#,
            r#"["2024-01-01 00:00:00+00","2024-01-02 00:00:00+00")"#,
            "{1,2,3,4,5,6,7,8,9}",
            "0123456789abcdef0123456789abcdef",
            "550e8400-e29b-41d4-a716-446655440000",
            "Symphony No. 3 (1950-1952)",
            "(1.5,2.5)",
            "08:00:2b:01:02:03:04:05",
            "01011010101101011010110101101011",
        ] {
            assert_eq!(kinds(v), [], "{v}");
        }
    }

    #[test]
    fn findings_are_counts_only() {
        let mut p = profile(&["x a@example.com y", "+44 7700 900123", "plain"]);
        p.add_unreadable();
        assert_eq!(
            p.findings(None),
            [
                "1/4 sampled values contain email addresses",
                "1/4 sampled values contain phone numbers",
                "1/4 sampled values are binary, not text",
            ]
        );
        assert_eq!(p.findings(Some(Pii::Email)).len(), 2);
        assert!(p.holds_personal_data());
    }
}
