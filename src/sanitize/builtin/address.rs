//! `address`, `street`, `city`, `postcode`, `country`: fake postal data from embedded lists.
//! `postcode` keeps the original's shape (digits stay digits, letters stay letters of the same
//! case, punctuation and spaces kept: `SW1A 1AA` → `KX4B 7TT`).

use super::util::*;
use super::words::{CITIES, COUNTRIES, STREET_NAMES, STREET_SUFFIXES};
use crate::sanitize::spec::*;

pub struct Address;
pub struct Street;
pub struct City;
pub struct Postcode;
pub struct Country;

macro_rules! spec {
    ($id:ident, $name:literal, $summary:literal, $example:literal) => {
        static $id: RuleSpec = RuleSpec {
            name: $name,
            summary: $summary,
            params: &[],
            accepts: &[TypeClass::Text],
            may_produce_null: false,
            unique_preserving: false,
            max_len: MaxLen::SameAsInput,
            example: $example,
        };
    };
}

spec!(
    ADDRESS,
    "address",
    "A fake one-line postal address (\"742 Oak Street, Springfield 40213\"); cut to varchar(n).",
    r#"address = { rule = "address" }"#
);
spec!(
    STREET,
    "street",
    "A fake street address (\"742 Oak Street\"); cut to varchar(n).",
    r#"street = { rule = "street" }"#
);
spec!(
    CITY,
    "city",
    "A fake city name; cut to varchar(n).",
    r#"city = { rule = "city" }"#
);
spec!(
    POSTCODE,
    "postcode",
    "A fake postcode in the original's shape (digits, letters, spacing kept).",
    r#"zip = { rule = "postcode" }"#
);
spec!(
    COUNTRY,
    "country",
    "A fake country name; cut to varchar(n).",
    r#"country = { rule = "country" }"#
);

#[derive(Clone, Copy)]
enum Kind {
    Address,
    Street,
    City,
    Postcode,
    Country,
}

struct Gen(Kind);

fn push_street(s: &mut Stream, out: &mut Vec<u8>) {
    out.extend_from_slice((1 + s.below(9999)).to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(s.pick(STREET_NAMES).as_bytes());
    out.push(b' ');
    out.extend_from_slice(s.pick(STREET_SUFFIXES).as_bytes());
}

fn push_postcode(s: &mut Stream, original: &[u8], out: &mut Vec<u8>) {
    let text = std::str::from_utf8(original).unwrap_or("");
    if !text.chars().any(|c| c.is_ascii_alphanumeric()) {
        for _ in 0..5 {
            out.push(s.digit());
        }
        return;
    }
    // Every digit and letter becomes another one, so none of the original stays in place.
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if c.is_ascii_digit() {
            out.push(draw_other(s, DIGITS, Some(c as u8)));
        } else if c.is_ascii_uppercase() {
            out.push(draw_other(s, UPPER, Some(c as u8)));
        } else if c.is_ascii_lowercase() {
            out.push(draw_other(s, LOWER, Some(c as u8)));
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

impl Generate for Gen {
    fn generate(&self, s: &mut Stream, original: &[u8], out: &mut Vec<u8>) {
        match self.0 {
            Kind::Street => push_street(s, out),
            Kind::City => out.extend_from_slice(s.pick(CITIES).as_bytes()),
            Kind::Country => out.extend_from_slice(s.pick(COUNTRIES).as_bytes()),
            Kind::Postcode => push_postcode(s, original, out),
            Kind::Address => {
                push_street(s, out);
                out.extend_from_slice(b", ");
                out.extend_from_slice(s.pick(CITIES).as_bytes());
                out.push(b' ');
                push_postcode(s, b"", out);
            }
        }
    }
}

fn build(kind: Kind, spec: &'static RuleSpec, args: &RuleArgs<'_>) -> Box<dyn ColumnSanitizer> {
    let mut g = Generated::new(Gen(kind), spec.name, args);
    g.unique = false;
    Box::new(g)
}

macro_rules! rule {
    ($t:ident, $kind:expr, $spec:ident) => {
        impl Rule for $t {
            fn spec(&self) -> &'static RuleSpec {
                &$spec
            }
            fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
                Ok(build($kind, &$spec, args))
            }
        }
    };
}

rule!(Address, Kind::Address, ADDRESS);
rule!(Street, Kind::Street, STREET);
rule!(City, Kind::City, CITY);
rule!(Postcode, Kind::Postcode, POSTCODE);
rule!(Country, Kind::Country, COUNTRY);

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::column;

    #[test]
    fn postal_values() {
        let mut col = column(TypeClass::Text, oids::TEXT);
        let rules: [&dyn Rule; 5] = [&Address, &Street, &City, &Postcode, &Country];
        for r in rules {
            let s = must(super::super::util::tests::build(r, "", &col));
            common(s.as_ref(), b"10 Downing Street, London SW1A 2AA");
            assert!(super::super::util::tests::build(r, "x = 1", &col).is_err());
        }
        let s = must(super::super::util::tests::build(&Postcode, "", &col));
        let p = text_of(s.as_ref(), "SW1A 2AA");
        assert_eq!(p.len(), 8);
        assert!(
            p.as_bytes()[4] == b' ' && p.as_bytes()[2].is_ascii_digit(),
            "{p}"
        );
        let s = must(super::super::util::tests::build(&Address, "", &col));
        assert!(text_of(s.as_ref(), "x").contains(", "));
        col.max_chars = Some(10);
        let s = must(super::super::util::tests::build(&Address, "", &col));
        assert!(text_of(s.as_ref(), "x").len() <= 10);
    }
}
