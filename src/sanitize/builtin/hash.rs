//! `hash`: keyed blake3 of the value. Text as hex/base64/uuid/decimal, uuid columns as a
//! UUID, bytea as raw bytes; integer columns through a keyed permutation of the type's range
//! (sign-preserving, bijective, so primary keys stay unique and foreign keys still join).

use super::util::*;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct Hash;

static SPEC: RuleSpec = RuleSpec {
    name: "hash",
    summary: "Keyed hash of the value (joins still match); integers via a keyed permutation of \
              the type's range in which no value maps to itself.",
    params: &[
        ParamSpec {
            name: "output",
            kind: ParamKind::String,
            required: false,
            doc: "text columns: \"hex\" (default), \"base64\" (URL-safe), \"uuid\" or \"integer\" \
                  (decimal digits)",
        },
        ParamSpec {
            name: "length",
            kind: ParamKind::Integer,
            required: false,
            doc: "characters of text output (bytes for bytea); default 32 hex, 22 base64, all \
                  digits of integer, 32 bytes; at least 16 hex / 11 base64 on unique columns",
        },
    ],
    accepts: &[
        TypeClass::Text,
        TypeClass::Integer,
        TypeClass::Uuid,
        TypeClass::Bytea,
    ],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::Param("length"),
    example: r#"customer_ref = { rule = "hash", output = "hex", length = 20, domain = "customer" }"#,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Hex,
    Base64,
    Uuid,
    Decimal,
    /// Integer column: the permutation.
    Permute,
    /// uuid column.
    UuidBinary,
    Raw,
}

struct HashValue {
    output: Output,
    length: usize,
    oid: u32,
    domain: String,
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The keyed permutation of an integer type's range: non-negative values map to
/// non-negative values, negative to negative, and no value maps to itself (a key kept as it
/// was in production would be a production value in staging).
pub fn permute_int(p: &Permutation, oid: u32, v: i64) -> i64 {
    let (_, max) = value::int_bounds(oid);
    let n = max as u128 + 1;
    if v >= 0 {
        p.derange(n, v as u128) as i64
    } else {
        let m = (-1 - v) as u128;
        -1 - p.derange(n, m) as i64
    }
}

/// Changes every character of `out` equal to the input's at the same position to another of
/// `alphabet`, drawn from the value's hash, so no input character survives in place (a hex
/// hash of a hex value, a decimal hash of a number).
fn move_off_input(out: &mut [u8], input: &[u8], alphabet: &[u8], h: &[u8; 32]) {
    let mut s = Stream::new(h);
    for (o, i) in out.iter_mut().zip(input) {
        if o == i {
            *o = draw_other(&mut s, alphabet, Some(*i));
        }
    }
}

const DECIMAL: &[u8; 10] = b"0123456789";

/// `move_off_input` for a UUID's text: the dashes, the version digit and the variant digit are
/// the format; the other hex digits move.
pub fn move_uuid_off_input(out: &mut [u8], input: &[u8], h: &[u8; 32]) {
    let mut s = Stream::new(h);
    for (i, (o, c)) in out.iter_mut().zip(input).enumerate() {
        if o == c && ![8, 13, 14, 18, 19, 23].contains(&i) {
            *o = draw_other(&mut s, HEX, Some(*c));
        }
    }
}

pub fn uuid_from_hash(h: &[u8; 32]) -> [u8; 16] {
    let mut u = [0u8; 16];
    u.copy_from_slice(&h[..16]);
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

impl ColumnSanitizer for HashValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        if self.output == Output::Permute {
            let v = value::read_int(self.oid, input)?;
            let p = Permutation::new(ctx.key, "hash", &self.domain, &[]);
            value::write_int(self.oid, permute_int(&p, self.oid, v), out);
            return Ok(Outcome::Value);
        }
        if self.output != Output::Raw && self.output != Output::UuidBinary {
            value::utf8(input)?;
        }
        let h = ctx.key.hash("hash", &self.domain, input);
        let start = out.len();
        match self.output {
            Output::Hex => {
                for i in 0..self.length {
                    let b = h[i / 2];
                    out.push(HEX[usize::from(if i % 2 == 0 { b >> 4 } else { b & 15 })]);
                }
            }
            Output::Base64 => {
                let mut acc: u32 = 0;
                let mut bits = 0;
                let mut bytes = h.iter();
                for _ in 0..self.length {
                    if bits < 6 {
                        acc = (acc << 8) | u32::from(bytes.next().copied().unwrap_or(0));
                        bits += 8;
                    }
                    bits -= 6;
                    out.push(B64[((acc >> bits) & 63) as usize]);
                }
            }
            Output::Uuid => {
                let mut s = String::with_capacity(36);
                value::push_uuid(&uuid_from_hash(&h), &mut s);
                out.extend_from_slice(s.as_bytes());
            }
            Output::Decimal => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[..8]);
                let digits = u64::from_le_bytes(b).to_string();
                out.extend_from_slice(&digits.as_bytes()[..self.length.min(digits.len())]);
            }
            Output::UuidBinary => {
                value::read_uuid(input)?;
                out.extend_from_slice(&uuid_from_hash(&h));
            }
            Output::Raw => out.extend_from_slice(&h[..self.length]),
            Output::Permute => {}
        }
        let written = &mut out[start..];
        match self.output {
            Output::Hex => move_off_input(written, input, HEX, &h),
            Output::Base64 => move_off_input(written, input, B64, &h),
            Output::Decimal => move_off_input(written, input, DECIMAL, &h),
            Output::Uuid => move_uuid_off_input(written, input, &h),
            _ => {}
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Hash {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let col = args.column;
        let requested = p_str(args.params, "output");
        let length = p_int(args.params, "length");
        let fixed_output = match col.class {
            TypeClass::Integer => Some(Output::Permute),
            TypeClass::Uuid => Some(Output::UuidBinary),
            TypeClass::Bytea => Some(Output::Raw),
            _ => None,
        };
        if let (Some(_), Some(o)) = (fixed_output, requested) {
            return Err(format!(
                "parameter `output` applies to text columns only, got {o:?} for type {}",
                col.type_name
            ));
        }
        let output = match (fixed_output, requested) {
            (Some(o), _) => o,
            (None, None | Some("hex")) => Output::Hex,
            (None, Some("base64")) => Output::Base64,
            (None, Some("uuid")) => Output::Uuid,
            (None, Some("integer")) => Output::Decimal,
            (None, Some(o)) => {
                return Err(format!(
                    "parameter `output` must be \"hex\", \"base64\", \"uuid\" or \"integer\", got {o:?}"
                ))
            }
        };
        let (default, max, min_unique) = match output {
            Output::Hex => (32, 64, 16),
            Output::Base64 => (22, 43, 11),
            Output::Uuid => (36, 36, 36),
            Output::Decimal => (20, 20, 19),
            Output::Raw => (32, 32, 8),
            Output::Permute | Output::UuidBinary => (0, 0, 0),
        };
        let length = match length {
            None => default,
            Some(_) if matches!(output, Output::Permute | Output::UuidBinary) => {
                return Err(format!(
                    "parameter `length` does not apply to type {}",
                    col.type_name
                ))
            }
            Some(n) if output == Output::Uuid && n >= 36 => 36,
            Some(n) if n < 1 || n > max => {
                return Err(format!(
                    "parameter `length` must be between 1 and {max} for this output, got {n}"
                ))
            }
            Some(n) if col.unique && (n as usize) < min_unique => {
                return Err(format!(
                    "parameter `length` must be at least {min_unique} on a unique column so \
                     distinct values stay distinct, got {n}"
                ))
            }
            Some(n) => n as usize,
        };
        Ok(Box::new(HashValue {
            output,
            length,
            oid: col.scalar_oid,
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
    fn text_outputs() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Hash, "", &col));
        common(s.as_ref(), b"alice@example.org");
        let h = text_of(s.as_ref(), "alice");
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        let s = must(build(&Hash, "output = \"base64\"\nlength = 12", &col));
        assert_eq!(text_of(s.as_ref(), "alice").len(), 12);
        let s = must(build(&Hash, "output = \"uuid\"", &col));
        let u = text_of(s.as_ref(), "alice");
        assert!(value::parse_uuid(&u).is_ok(), "{u}");
        let s = must(build(&Hash, "output = \"integer\"\nlength = 6", &col));
        let d = text_of(s.as_ref(), "alice");
        assert!(d.len() <= 6 && d.bytes().all(|b| b.is_ascii_digit()), "{d}");
    }

    #[test]
    fn integers_are_permuted_within_the_type() {
        let col = column(TypeClass::Integer, oids::INT2);
        let s = must(build(&Hash, "", &col));
        common(s.as_ref(), &1234i16.to_be_bytes());
        let mut seen = std::collections::HashSet::new();
        for v in i16::MIN..=i16::MAX {
            let out = value_of(s.as_ref(), &v.to_be_bytes());
            let w = value::read_int(oids::INT2, &out).expect("int2 output");
            assert_eq!(v < 0, w < 0, "sign kept");
            assert!(seen.insert(w));
        }
        let col = column(TypeClass::Integer, oids::INT8);
        let s = must(build(&Hash, "", &col));
        let out = value_of(s.as_ref(), &i64::MAX.to_be_bytes());
        assert_eq!(out.len(), 8);
        let col = column(TypeClass::Integer, oids::INT4);
        let s = must(build(&Hash, "", &col));
        assert_eq!(value_of(s.as_ref(), &7i32.to_be_bytes()).len(), 4);
        let mut bad = Vec::new();
        assert!(s
            .sanitize(
                Some(&[1, 2, 3]),
                &Ctx {
                    key: &crate::sanitize::testing::key(),
                    row: None
                },
                &mut bad
            )
            .is_err());
    }

    #[test]
    fn uuid_and_bytea() {
        let col = column(TypeClass::Uuid, oids::UUID);
        let s = must(build(&Hash, "", &col));
        common(s.as_ref(), &[7u8; 16]);
        let col = column(TypeClass::Bytea, oids::BYTEA);
        let s = must(build(&Hash, "length = 8", &col));
        assert_eq!(value_of(s.as_ref(), b"xyz").len(), 8);
    }

    #[test]
    fn bad_parameters() {
        let mut col = column(TypeClass::Text, oids::TEXT);
        let e = build(&Hash, "output = \"md5\"", &col)
            .err()
            .expect("refused");
        assert!(e.contains("`output`"), "{e}");
        let e = build(&Hash, "length = 100", &col).err().expect("refused");
        assert!(e.contains("`length`"), "{e}");
        col.unique = true;
        let e = build(&Hash, "length = 8", &col).err().expect("refused");
        assert!(e.contains("unique"), "{e}");
        let col = column(TypeClass::Integer, oids::INT4);
        assert!(build(&Hash, "output = \"hex\"", &col).is_err());
    }
}
