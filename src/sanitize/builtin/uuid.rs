//! `uuid`: a keyed version-4 UUID derived from the value (uuid or text columns). Distinct
//! inputs collide with probability 2⁻¹²² per pair: unique-preserving.

use super::hash::{move_uuid_off_input, uuid_from_hash};
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct Uuid;

static SPEC: RuleSpec = RuleSpec {
    name: "uuid",
    summary: "A keyed random-looking UUID (version 4) per value; joins on it still match.",
    params: &[],
    accepts: &[TypeClass::Uuid, TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::Chars(36),
    example: r#"external_id = { rule = "uuid", domain = "customer" }"#,
};

struct UuidValue {
    text: bool,
    domain: String,
}

impl ColumnSanitizer for UuidValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let h = ctx.key.hash("uuid", &self.domain, input);
        let u = uuid_from_hash(&h);
        if self.text {
            value::utf8(input)?;
            let mut s = String::with_capacity(36);
            value::push_uuid(&u, &mut s);
            let mut s = s.into_bytes();
            move_uuid_off_input(&mut s, input, &h);
            out.extend_from_slice(&s);
        } else {
            value::read_uuid(input)?;
            out.extend_from_slice(&u);
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Uuid {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(Box::new(UuidValue {
            text: args.column.class == TypeClass::Text,
            domain: args.domain.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::column;

    #[test]
    fn uuids() {
        let col = column(TypeClass::Uuid, oids::UUID);
        let s = must(build(&Uuid, "", &col));
        common(s.as_ref(), &[1u8; 16]);
        let out = value_of(s.as_ref(), &[1u8; 16]);
        assert_eq!((out.len(), out[6] >> 4), (16, 4));
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Uuid, "", &col));
        let t = text_of(s.as_ref(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert!(value::parse_uuid(&t).is_ok() && t.len() == 36);
        assert!(build(&Uuid, "version = 7", &col).is_err());
    }
}
