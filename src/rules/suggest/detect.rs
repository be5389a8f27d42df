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
    /// Values with an email address somewhere inside (free text, JSON).
    pub containing_email: usize,
}

impl SampleProfile {
    pub fn add(&mut self, value: &str) {
        self.sampled += 1;
        if let Some(kind) = classify_value(value) {
            if let Some(i) = CONTENT_KINDS.iter().position(|k| *k == kind) {
                self.whole[i] += 1;
            }
        }
        if contains_email(value) {
            self.containing_email += 1;
        }
    }

    /// Adds another sample of the same column (another partition's).
    pub fn merge(&mut self, other: &SampleProfile) {
        self.sampled += other.sampled;
        for (mine, theirs) in self.whole.iter_mut().zip(other.whole) {
            *mine += theirs;
        }
        self.containing_email += other.containing_email;
    }

    /// How many sampled values are wholly of `kind`.
    pub fn count(&self, kind: Pii) -> usize {
        CONTENT_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.whole[i])
    }

    /// The kind at least half of the sampled values are, with its count.
    pub fn dominant(&self) -> Option<(Pii, usize)> {
        CONTENT_KINDS
            .iter()
            .map(|k| (*k, self.count(*k)))
            .filter(|(_, n)| *n > 0 && n * 2 >= self.sampled)
            .max_by_key(|(_, n)| *n)
    }

    /// Free text with email addresses in at least one value in ten.
    pub fn embeds_emails(&self) -> bool {
        self.containing_email > 0 && self.containing_email * 10 >= self.sampled
    }
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

/// An email address somewhere in free text.
pub fn contains_email(v: &str) -> bool {
    v.contains('@')
        && v.split(|c: char| c.is_whitespace() || "<>()[],;:\"'".contains(c))
            .map(|t| t.trim_end_matches(['.', '!', '?']))
            .any(is_email)
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
    addr.contains(':') && addr.parse::<std::net::Ipv6Addr>().is_ok()
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
        assert_eq!(merged.containing_email, 4);
        let words = profile(&["hello", "world"]);
        assert_eq!(words.dominant(), None);
        assert!(!words.embeds_emails());
    }

}
