//! `phone`: keeps the original's format (length, punctuation, a leading `+CC` or `00CC`
//! country prefix, a trunk `0`) and replaces the other digits through a keyed permutation of
//! all numbers with that many digits, so distinct numbers of one format stay distinct.

use super::util::*;
use crate::sanitize::spec::*;

pub struct Phone;

static SPEC: RuleSpec = RuleSpec {
    name: "phone",
    summary: "A fake phone number in the original's format (punctuation, length, +CC country \
              prefix kept; digits replaced); unique-preserving.",
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

/// Digits of the ITU country calling code at the start of `d` (1–3).
fn country_code_len(d: &[u8]) -> usize {
    match d {
        [b'1' | b'7', ..] => 1,
        [a, b, ..] => {
            let two = (a - b'0') * 10 + (b - b'0');
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

/// Digits of one permuted block (10^18 < 2^63).
const BLOCK: usize = 18;

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
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_digit).collect();
        // Digits kept: the country prefix and trunk zeros.
        let trimmed = text.trim_start();
        let mut keep = 0;
        if trimmed.starts_with('+') {
            keep = country_code_len(&digits);
        } else if trimmed.starts_with("00") && digits.len() > 4 {
            keep = 2 + country_code_len(&digits[2..]);
        }
        keep = keep.min(digits.len());
        keep += digits[keep..].iter().take_while(|d| **d == b'0').count();
        let rest = &digits[keep..];
        // Permute the remaining digits (first one non-zero) in blocks of BLOCK digits.
        let mut tweak = digits[..keep].to_vec();
        tweak.push(b'/');
        tweak.extend_from_slice(text.len().to_string().as_bytes());
        let perm = Permutation::new(ctx.key, "phone", &self.domain, &tweak);
        let mut new_digits = Vec::with_capacity(digits.len());
        new_digits.extend_from_slice(&digits[..keep]);
        for (i, block) in rest.chunks(BLOCK).enumerate() {
            let v = block
                .iter()
                .fold(0u128, |a, d| a * 10 + u128::from(d - b'0'));
            let width = block.len() as u32;
            let (lo, n) = if i == 0 {
                let lo = 10u128.pow(width - 1);
                (lo, 10u128.pow(width) - lo)
            } else {
                (0, 10u128.pow(width))
            };
            let y = lo + perm.apply(n, v - lo);
            let s = format!("{:0w$}", y, w = block.len());
            new_digits.extend_from_slice(s.as_bytes());
        }
        let mut it = new_digits.into_iter();
        for b in text.bytes() {
            if b.is_ascii_digit() {
                out.push(it.next().unwrap_or(b));
            } else {
                out.push(b);
            }
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

    fn shape(s: &str) -> String {
        s.chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect()
    }

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
