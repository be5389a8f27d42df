//! `credit_card` and `iban`: fake, checksum-valid payment identifiers in the original's format.

use super::util::*;
use crate::sanitize::checksum::{iban_check_digits, luhn_check_digit};
use crate::sanitize::spec::*;

pub struct CreditCard;
pub struct Iban;

static CARD: RuleSpec = RuleSpec {
    name: "credit_card",
    summary: "A fake Luhn-valid card number from issuer test ranges, in the original's format \
              (digit count, spaces, dashes kept).",
    params: &[],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"card_number = { rule = "credit_card" }"#,
};

static IBAN: RuleSpec = RuleSpec {
    name: "iban",
    summary: "A fake IBAN with a valid checksum, same country and length as the original \
              (DE when unknown), grouped in fours when the original is.",
    params: &[],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::Chars(34),
    example: r#"iban = { rule = "iban" }"#,
};

struct CardValue {
    domain: String,
    max_chars: Option<usize>,
}

impl ColumnSanitizer for CardValue {
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
        let mut s = Stream::of(ctx.key, "credit_card", &self.domain, input);
        let count = text.bytes().filter(u8::is_ascii_digit).count();
        let n = if count >= 12 { count } else { 16 };
        let prefix: &[u8] = match n {
            15 => {
                if s.below(2) == 0 {
                    b"34"
                } else {
                    b"37"
                }
            }
            16 if s.below(2) == 0 => [&b"51"[..], b"52", b"53", b"54", b"55"][s.below(5) as usize],
            _ => b"4",
        };
        // Where each generated digit lands: the original's digit positions when its format is
        // kept, else the first n positions. Each digit differs from the input's there.
        let places: Vec<usize> = if count >= 12 {
            text.bytes()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_digit())
                .map(|(i, _)| i)
                .collect()
        } else {
            (0..n).collect()
        };
        let mut digits = prefix.to_vec();
        while digits.len() < n - 1 {
            let avoid = places
                .get(digits.len())
                .and_then(|&p| input.get(p))
                .copied();
            digits.push(draw_other(&mut s, DIGITS, avoid));
        }
        digits.push(luhn_check_digit(&digits));
        let start = out.len();
        if count >= 12 {
            let mut it = digits.into_iter();
            for b in text.bytes() {
                out.push(if b.is_ascii_digit() {
                    it.next().unwrap_or(b)
                } else {
                    b
                });
            }
        } else {
            out.extend_from_slice(&digits);
        }
        truncate_chars(out, start, self.max_chars);
        Ok(Outcome::Value)
    }
}

impl Rule for CreditCard {
    fn spec(&self) -> &'static RuleSpec {
        &CARD
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(Box::new(CardValue {
            domain: args.domain.to_string(),
            max_chars: args.column.max_chars,
        }))
    }
}

/// Country, IBAN length, leading BBAN letters (bank code).
const IBAN_FORMATS: &[(&str, usize, usize)] = &[
    ("DE", 22, 0),
    ("AT", 20, 0),
    ("BE", 16, 0),
    ("CH", 21, 0),
    ("DK", 18, 0),
    ("ES", 24, 0),
    ("FI", 18, 0),
    ("FR", 27, 0),
    ("GB", 22, 4),
    ("IE", 22, 4),
    ("IT", 27, 1),
    ("LU", 20, 0),
    ("NL", 18, 4),
    ("NO", 15, 0),
    ("PL", 28, 0),
    ("PT", 25, 0),
    ("SE", 24, 0),
];

struct IbanValue {
    domain: String,
}

impl ColumnSanitizer for IbanValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let text = text_input(input)?.trim();
        let cc = text.get(..2).unwrap_or("").to_ascii_uppercase();
        let &(cc, len, letters) = IBAN_FORMATS
            .iter()
            .find(|f| f.0 == cc)
            .unwrap_or(&IBAN_FORMATS[0]);
        let mut s = Stream::of(ctx.key, "iban", &self.domain, input);
        // Each character differs from the input's at the place it is written to.
        let grouped = text.contains(' ');
        let mut bban = Vec::with_capacity(len);
        for i in 0..len - 4 {
            let at = if grouped {
                (i + 4) + (i + 4) / 4
            } else {
                i + 4
            };
            let avoid = input.get(at).copied();
            bban.push(if i < letters {
                draw_other(&mut s, UPPER, avoid)
            } else {
                draw_other(&mut s, DIGITS, avoid)
            });
        }
        let mut iban = cc.as_bytes().to_vec();
        iban.extend_from_slice(&iban_check_digits(cc.as_bytes(), &bban));
        iban.extend_from_slice(&bban);
        if grouped {
            for (i, chunk) in iban.chunks(4).enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(chunk);
            }
        } else {
            out.extend_from_slice(&iban);
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Iban {
    fn spec(&self) -> &'static RuleSpec {
        &IBAN
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(Box::new(IbanValue {
            domain: args.domain.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::checksum::{iban_valid, luhn_valid};
    use crate::sanitize::oids;
    use crate::sanitize::testing::column;

    fn luhn_ok(s: &str) -> bool {
        let d: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
        luhn_valid(&d)
    }

    fn iban_ok(s: &str) -> bool {
        let c: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
        iban_valid(&c)
    }

    #[test]
    fn cards_are_luhn_valid_in_format() {
        assert!(luhn_ok("4111 1111 1111 1111"));
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&CreditCard, "", &col));
        common(s.as_ref(), b"4111-1111-1111-1111");
        for input in [
            "4111-1111-1111-1111",
            "378282246310005",
            "5555 5555 5555 4444",
            "n/a",
        ] {
            for k in 0..20 {
                let out = text_of(s.as_ref(), &format!("{input}{}", " ".repeat(k % 2)));
                assert!(luhn_ok(&out), "{out}");
            }
        }
        assert_eq!(text_of(s.as_ref(), "3782 822463 10005").len(), 17);
    }

    #[test]
    fn ibans_are_valid() {
        assert!(iban_ok("DE89 3704 0044 0532 0130 00"));
        assert!(iban_ok("GB82WEST12345698765432"));
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Iban, "", &col));
        common(s.as_ref(), b"DE89 3704 0044 0532 0130 00");
        for input in [
            "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "NL91ABNA0417164300",
            "XX12",
            "",
        ] {
            let out = text_of(s.as_ref(), input);
            assert!(iban_ok(&out), "{input} → {out}");
            if input.starts_with("GB") || input.starts_with("DE") {
                assert_eq!(out.len(), input.len());
                assert_eq!(&out[..2], &input[..2]);
            }
        }
        assert!(build(&Iban, "country = \"DE\"", &col).is_err());
    }
}
