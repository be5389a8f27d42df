//! `constant`: every non-NULL value becomes the same value, written as PostgreSQL text
//! (`value = "0"`, `value = "2000-01-01"`, `value = "{}"`) and encoded for the column's type.

use super::util::*;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct Constant;

static SPEC: RuleSpec = RuleSpec {
    name: "constant",
    summary: "Replace every non-NULL value with one fixed value (NULL stays NULL unless \
              `replace_null`).",
    params: &[
        ParamSpec {
            name: "value",
            kind: ParamKind::String,
            required: true,
            doc: "the value as PostgreSQL text: \"n/a\", \"0\", \"12.50\", \"2000-01-01\", \
                  \"2000-01-01 00:00:00\", \"true\", a UUID, JSON, an IP address; bytea takes \
                  the text's bytes",
        },
        ParamSpec {
            name: "replace_null",
            kind: ParamKind::Bool,
            required: false,
            doc: "NULLs become the value too (default false)",
        },
    ],
    accepts: &[
        TypeClass::Text,
        TypeClass::Integer,
        TypeClass::Numeric,
        TypeClass::Date,
        TypeClass::Timestamp,
        TypeClass::Bool,
        TypeClass::Uuid,
        TypeClass::Json,
        TypeClass::Bytea,
        TypeClass::Inet,
        TypeClass::Enum,
    ],
    may_produce_null: false,
    unique_preserving: false,
    // The build refuses a value longer than the column's varchar(n).
    max_len: MaxLen::SameAsInput,
    example: r#"notes = { rule = "constant", value = "redacted" }"#,
};

struct ConstantValue {
    bytes: Vec<u8>,
    replace_null: bool,
}

impl ColumnSanitizer for ConstantValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        _ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        if input.is_none() && !self.replace_null {
            return Ok(Outcome::Null);
        }
        out.extend_from_slice(&self.bytes);
        Ok(Outcome::Value)
    }
}

/// The binary form of text `s` for `column`'s type.
pub fn encode_text(column: &ColumnInfo, s: &str) -> Result<Vec<u8>, String> {
    let oid = column.scalar_oid;
    let mut out = Vec::new();
    match column.class {
        TypeClass::Text | TypeClass::Enum | TypeClass::Bytea => out.extend_from_slice(s.as_bytes()),
        TypeClass::Integer => {
            let v: i64 = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not an integer"))?;
            let (lo, hi) = value::int_bounds(oid);
            if v < lo || v > hi {
                return Err(format!("{v} is out of range for type {}", column.type_name));
            }
            value::write_int(oid, v, &mut out);
        }
        TypeClass::Numeric if oid == oids::NUMERIC => value::numeric_from_str(s.trim(), &mut out)?,
        TypeClass::Numeric => {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number"))?;
            value::write_float(oid, v, &mut out);
        }
        TypeClass::Date => {
            let d = value::parse_date(s.trim())?;
            let d = i32::try_from(d).map_err(|_| format!("{s:?} is out of range"))?;
            out.extend_from_slice(&d.to_be_bytes());
        }
        TypeClass::Timestamp => {
            out.extend_from_slice(&value::parse_timestamp(s.trim())?.to_be_bytes());
        }
        TypeClass::Bool => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "on" | "1" => out.push(1),
            "false" | "f" | "no" | "off" | "0" => out.push(0),
            _ => return Err(format!("{s:?} is not a boolean")),
        },
        TypeClass::Uuid => out.extend_from_slice(&value::parse_uuid(s.trim())?),
        TypeClass::Json => {
            serde_json::from_str::<serde_json::Value>(s)
                .map_err(|e| format!("{s:?} is not JSON: {e}"))?;
            value::json_prefix(oid, &mut out);
            out.extend_from_slice(s.as_bytes());
        }
        TypeClass::Inet => {
            let (addr, bits) = match s.trim().split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (s.trim(), None),
            };
            let ip: std::net::IpAddr = addr
                .parse()
                .map_err(|_| format!("{s:?} is not an IP address"))?;
            let (bytes, full) = match ip {
                std::net::IpAddr::V4(v) => (v.octets().to_vec(), 32u8),
                std::net::IpAddr::V6(v) => (v.octets().to_vec(), 128u8),
            };
            let bits = match bits {
                None => full,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= full)
                    .ok_or_else(|| format!("{s:?} has an invalid netmask"))?,
            };
            value::write_inet(
                &value::Inet {
                    addr: bytes,
                    bits,
                    cidr: oid == oids::CIDR,
                },
                &mut out,
            );
        }
        TypeClass::Other => return Err(format!("type {} is not supported", column.type_name)),
    }
    Ok(out)
}

impl Rule for Constant {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Parameters
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let text = p_str(args.params, "value").unwrap_or_default();
        if let Some(n) = args.column.max_chars {
            if text.chars().count() > n {
                return Err(format!(
                    "parameter `value` has {} characters but the column is {}",
                    text.chars().count(),
                    args.column.type_name
                ));
            }
        }
        let bytes =
            encode_text(args.column, text).map_err(|e| format!("parameter `value`: {e}"))?;
        Ok(Box::new(ConstantValue {
            bytes,
            replace_null: p_bool(args.params, "replace_null").unwrap_or(false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::{column, run};

    #[test]
    fn encodes_per_type() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Constant, "value = \"n/a\"", &col));
        assert_eq!(text_of(s.as_ref(), "secret"), "n/a");
        assert_eq!(run(s.as_ref(), None).0, Outcome::Null);
        let s = must(build(&Constant, "value = \"x\"\nreplace_null = true", &col));
        assert_eq!(run(s.as_ref(), None), (Outcome::Value, b"x".to_vec()));
        let col = column(TypeClass::Integer, oids::INT2);
        let s = must(build(&Constant, "value = \"-3\"", &col));
        assert_eq!(value_of(s.as_ref(), &[0, 1]), (-3i16).to_be_bytes());
        let col = column(TypeClass::Numeric, oids::NUMERIC);
        let s = must(build(&Constant, "value = \"12.340\"", &col));
        let out = value_of(s.as_ref(), &[0; 8]);
        assert_eq!(value::numeric_to_string(&out).expect("numeric"), "12.340");
        let col = column(TypeClass::Json, oids::JSONB);
        let s = must(build(&Constant, "value = \"{}\"", &col));
        assert_eq!(value_of(s.as_ref(), b"\x01[]"), b"\x01{}");
        let col = column(TypeClass::Inet, oids::INET);
        let s = must(build(&Constant, "value = \"10.0.0.1/8\"", &col));
        let v = value::read_inet(&value_of(s.as_ref(), &[0; 8])).expect("inet");
        assert_eq!((v.addr, v.bits), (vec![10, 0, 0, 1], 8));
        let col = column(TypeClass::Date, oids::DATE);
        let s = must(build(&Constant, "value = \"2000-01-02\"", &col));
        assert_eq!(value_of(s.as_ref(), &[0; 4]), 1i32.to_be_bytes());
    }

    #[test]
    fn bad_values_rejected() {
        let col = column(TypeClass::Integer, oids::INT2);
        let e = build(&Constant, "value = \"70000\"", &col)
            .err()
            .expect("refused");
        assert!(e.contains("`value`") && e.contains("out of range"), "{e}");
        assert!(build(&Constant, "", &col).is_err());
        let mut col = column(TypeClass::Text, oids::VARCHAR);
        col.max_chars = Some(2);
        let e = build(&Constant, "value = \"abc\"", &col)
            .err()
            .expect("refused");
        assert!(e.contains("`value`"), "{e}");
        let col = column(TypeClass::Uuid, oids::UUID);
        assert!(build(&Constant, "value = \"nope\"", &col).is_err());
    }
}
