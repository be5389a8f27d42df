//! `phone`: keeps the original's format (length, punctuation, a leading `+CC` country code, a
//! national trunk `0`) and derives every other digit and letter from the keyed hash, so no
//! production digits survive and distinct numbers of one format stay distinct.
//!
//! The digits after the kept ones are split into guards (every third digit, and every ASCII
//! letter) and the rest. Guards move to a different character of their class, by an offset
//! drawn from the keyed hash of the rest; the rest then goes through a keyed permutation
//! tweaked by the new guards. Both steps can be undone knowing the output, so the map is
//! injective; and since every third digit changes, no run of three input digits stays in place.

use super::util::*;
use crate::sanitize::spec::*;

pub struct Phone;

static SPEC: RuleSpec = RuleSpec {
    name: "phone",
    summary: "A fake phone number in the original's format (punctuation, length, a +CC country \
              code and a trunk 0 kept; every other digit and letter replaced, never three input \
              digits in place); unique-preserving.",
    params: &[],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::SameAsInput,
    example: r#"phone = { rule = "phone" }"#,
};

struct PhoneValue {
    domain: String,
}

/// Digits of the ITU country calling code at the start of `d` (digit values, first non-zero).
fn country_code_len(d: &[u8]) -> usize {
    match d {
        [1 | 7, ..] => 1,
        [a, b, ..] => {
            let two = a * 10 + b;
            let two_digit = matches!(two,
                20 | 27 | 30..=34 | 36 | 39 | 40 | 41 | 43..=49 | 51..=58 | 60..=66 | 81 | 82
                | 84 | 86 | 90..=95 | 98);
            if two_digit {
                2
            } else {
                3
            }
        }
        _ => d.len(),
    }
}

/// Fewer digits than this have no country code or trunk: all of them are replaced.
const MIN_FORMATTED: usize = 4;

/// Digits of one permuted block (10^18 < 2^63).
const BLOCK: usize = 18;

/// How the digits of one number split: `keep` leading digits stay, and whether the first
/// replaced digit must stay non-zero (so a national number does not gain a trunk `0`).
/// Inputs of one class map into that class, and classes are told apart by what they keep.
fn classify(text: &str, digits: &[u8]) -> (usize, bool) {
    if digits.len() < MIN_FORMATTED {
        return (0, false);
    }
    let mut keep = 0;
    if text.trim_start().starts_with('+') && digits[0] != 0 {
        keep = country_code_len(digits).min(digits.len() - 1);
    }
    // A single digit left after the country code has no trunk: it takes any value.
    if digits.len() - keep < 2 {
        return (keep, false);
    }
    if digits[keep] == 0 {
        (keep + 1, false)
    } else {
        (keep, true)
    }
}

impl ColumnSanitizer for PhoneValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let text = text_input(input)?;
        let digits: Vec<u8> = text
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        let letters: Vec<u8> = text.bytes().filter(u8::is_ascii_alphabetic).collect();
        let (keep, nonzero_first) = classify(text, &digits);
        let rest = &digits[keep..];

        // The class: what is kept, the first digit's range, the length.
        let mut tweak: Vec<u8> = digits[..keep].iter().map(|d| b'0' + d).collect();
        tweak.push(if nonzero_first { b'+' } else { b'/' });
        tweak.extend_from_slice(text.len().to_string().as_bytes());
        tweak.push(b'/');

        // Guards move by an offset drawn from the hash of the other digits.
        let guard = |i: usize| i % 3 == 0;
        let mut seed_input = tweak.clone();
        seed_input.extend(
            rest.iter()
                .enumerate()
                .filter(|(i, _)| !guard(*i))
                .map(|(_, d)| b'0' + d),
        );
        let mut s = Stream::of(ctx.key, "phone", &self.domain, &seed_input);
        let mut new_rest: Vec<u8> = rest.iter().map(|d| b'0' + d).collect();
        for (i, d) in new_rest.iter_mut().enumerate().filter(|(i, _)| guard(*i)) {
            let alphabet: &[u8] = if i == 0 && nonzero_first {
                &DIGITS[1..]
            } else {
                DIGITS
            };
            *d = draw_other(&mut s, alphabet, Some(*d));
        }
        let new_letters: Vec<u8> = letters
            .iter()
            .map(|&c| {
                let alphabet = if c.is_ascii_uppercase() { UPPER } else { LOWER };
                draw_other(&mut s, alphabet, Some(c))
            })
            .collect();

        // The other digits: a keyed permutation per block, tweaked by the new guards.
        tweak.extend(
            new_rest
                .iter()
                .enumerate()
                .filter(|(i, _)| guard(*i))
                .map(|(_, d)| *d),
        );
        tweak.push(b'/');
        tweak.extend_from_slice(&new_letters);
        let others: Vec<usize> = (0..rest.len()).filter(|i| !guard(*i)).collect();
        for (b, block) in others.chunks(BLOCK).enumerate() {
            let mut t = tweak.clone();
            t.extend_from_slice(format!("/{b}").as_bytes());
            let perm = Permutation::new(ctx.key, "phone", &self.domain, &t);
            let v = block
                .iter()
                .fold(0u128, |a, &i| a * 10 + u128::from(rest[i]));
            let y = perm.apply(10u128.pow(block.len() as u32), v);
            let y = format!("{:0w$}", y, w = block.len());
            for (&i, c) in block.iter().zip(y.bytes()) {
                new_rest[i] = c;
            }
        }

        let mut new_digits = digits[..keep].iter().map(|d| b'0' + d).chain(new_rest);
        let mut new_letters = new_letters.into_iter();
        for b in text.bytes() {
            let next = if b.is_ascii_digit() {
                new_digits.next()
            } else if b.is_ascii_alphabetic() {
                new_letters.next()
            } else {
                None
            };
            out.push(next.unwrap_or(b));
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Phone {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(Box::new(PhoneValue {
            domain: args.domain.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::column;

    #[test]
    fn keeps_format_and_country_prefix() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Phone, "", &col));
        common(s.as_ref(), b"+1 (555) 123-4567");
        for input in [
            "+1 (555) 123-4567",
            "+44 20 7946 0958",
            "+353 1 234 5678",
            "0049 30 1234567",
            "030/1234567",
            "555-0100",
            "12",
            "call me",
        ] {
            let out = text_of(s.as_ref(), input);
            assert_eq!(shape(&out), shape(input), "{input} → {out}");
        }
        assert!(text_of(s.as_ref(), "+44 20 7946 0958").starts_with("+44 "));
        assert!(text_of(s.as_ref(), "+353 1 234 5678").starts_with("+353 "));
        assert!(text_of(s.as_ref(), "030/1234567").starts_with('0'));
        assert!(!text_of(s.as_ref(), "555-0100").starts_with('0'));
    }

    #[test]
    fn zeros_are_replaced_like_any_digit() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Phone, "", &col));
        let out = text_of(s.as_ref(), "+1 000-000-0001");
        assert_eq!(shape(&out), "+9 999-999-9999", "{out}");
        // The country code and the trunk zero stay; every third digit after them moves.
        assert!(out.starts_with("+1 0"), "{out}");
        for (at, c) in out.char_indices().skip(4) {
            if c.is_ascii_digit() && (at - 4) % 4 == 0 {
                assert_ne!(c, '0', "{out}");
            }
        }
        let out = text_of(s.as_ref(), "0000000000");
        assert!(out.starts_with('0') && out[1..2] != *"0", "{out}");
        for input in ["0", "7", "00", "000"] {
            let out = text_of(s.as_ref(), input);
            assert_eq!(out.len(), input.len());
            assert_ne!(out, input);
        }
        // Letters (vanity numbers, notes) are replaced too, keeping their case.
        let out = text_of(s.as_ref(), "1-800-FLOWERS");
        assert_eq!(shape(&out), "9-999-AAAAAAA", "{out}");
        assert!(!out.contains("FLOWERS") && !out.contains("800"), "{out}");
    }

    /// A unique zero-padded column: no value stays as it was, none collide.
    #[test]
    fn zero_padded_unique_values_all_move() {
        let mut col = column(TypeClass::Text, oids::TEXT);
        col.unique = true;
        let s = must(build(&Phone, "", &col));
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let input = format!("{i:010}");
            let out = text_of(s.as_ref(), &input);
            assert_ne!(out, input);
            assert!(seen.insert(out), "collision at {input}");
        }
    }

    #[test]
    fn distinct_numbers_stay_distinct() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Phone, "", &col));
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            assert!(seen.insert(text_of(s.as_ref(), &format!("+1 555 {i:07}"))));
        }
        assert!(build(&Phone, "format = 1", &col).is_err());
    }
}
