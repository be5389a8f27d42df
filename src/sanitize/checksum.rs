//! Check digits of payment identifiers: Luhn (card numbers) and ISO 7064 mod 97-10 (IBANs).
//! One implementation for the rules that generate valid identifiers and for the detectors that
//! recognise real ones in sampled values.

/// Luhn check digit (ASCII) for `body`, the ASCII digits before it.
pub fn luhn_check_digit(body: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, d) in body.iter().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0') % 10);
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// Whether the ASCII digits `digits` end with their Luhn check digit.
pub fn luhn_valid(digits: &[u8]) -> bool {
    digits.iter().all(u8::is_ascii_digit)
        && digits
            .split_last()
            .is_some_and(|(check, body)| luhn_check_digit(body) == *check)
}

/// The remainder mod 97 of the number spelled by `chars` (digits as themselves, letters as
/// 10–35), fed left to right without building the big number.
fn mod97(chars: impl IntoIterator<Item = u8>) -> u32 {
    let mut rem = 0u32;
    for c in chars {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c.to_ascii_uppercase().wrapping_sub(b'A')) + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem
}

/// ISO 13616 check digits (ASCII) for country code `cc` and account part `bban`.
pub fn iban_check_digits(cc: &[u8], bban: &[u8]) -> [u8; 2] {
    let rem = mod97(bban.iter().chain(cc).chain(b"00").copied());
    let check = 98 - rem;
    [b'0' + (check / 10) as u8, b'0' + (check % 10) as u8]
}

/// Whether `iban` (no spaces: country, check digits, account part) has valid check digits.
/// Only the checksum; the caller decides what shapes it accepts.
pub fn iban_valid(iban: &[u8]) -> bool {
    iban.len() > 4
        && iban.iter().all(u8::is_ascii_alphanumeric)
        && mod97(iban[4..].iter().chain(&iban[..4]).copied()) == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_digits() {
        assert_eq!(luhn_check_digit(b"411111111111111"), b'1');
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"5500000000000004"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b"4111-1111"));
        assert!(!luhn_valid(b""));
    }

    #[test]
    fn iban_digits() {
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(!iban_valid(b"DE89370400440532013001"));
        assert_eq!(iban_check_digits(b"DE", b"370400440532013000"), *b"89");
        assert!(!iban_valid(b"DE8"));
    }
}
