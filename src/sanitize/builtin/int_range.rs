//! `int_range`: a keyed integer uniformly in `[min, max]`.

use super::util::*;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct IntRange;

static SPEC: RuleSpec = RuleSpec {
    name: "int_range",
    summary: "A keyed random integer between min and max (inclusive).",
    params: &[
        ParamSpec {
            name: "min",
            kind: ParamKind::Integer,
            required: true,
            doc: "smallest value",
        },
        ParamSpec {
            name: "max",
            kind: ParamKind::Integer,
            required: true,
            doc: "largest value",
        },
    ],
    accepts: &[TypeClass::Integer],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"age = { rule = "int_range", min = 18, max = 90 }"#,
};

struct Range {
    min: i64,
    max: i64,
    oid: u32,
    domain: String,
}

impl ColumnSanitizer for Range {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        value::read_int(self.oid, input)?;
        let mut s = Stream::of(ctx.key, "int_range", &self.domain, input);
        value::write_int(self.oid, s.range_i64(self.min, self.max), out);
        Ok(Outcome::Value)
    }
}

impl Rule for IntRange {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Parameters
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let min = p_int(args.params, "min").unwrap_or(0);
        let max = p_int(args.params, "max").unwrap_or(0);
        let oid = args.column.scalar_oid;
        let (lo, hi) = value::int_bounds(oid);
        if min > max {
            return Err(format!(
                "parameter `min` ({min}) is greater than `max` ({max})"
            ));
        }
        if min < lo {
            return Err(format!(
                "parameter `min` ({min}) is out of range for type {}",
                args.column.type_name
            ));
        }
        if max > hi {
            return Err(format!(
                "parameter `max` ({max}) is out of range for type {}",
                args.column.type_name
            ));
        }
        Ok(Box::new(Range {
            min,
            max,
            oid,
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
    fn within_range() {
        let col = column(TypeClass::Integer, oids::INT2);
        let s = must(build(&IntRange, "min = 18\nmax = 90", &col));
        common(s.as_ref(), &5i16.to_be_bytes());
        for v in 0..300i16 {
            let out =
                value::read_int(oids::INT2, &value_of(s.as_ref(), &v.to_be_bytes())).expect("int2");
            assert!((18..=90).contains(&out));
        }
        let e = build(&IntRange, "min = 5\nmax = 1", &col)
            .err()
            .expect("refused");
        assert!(e.contains("`min`"), "{e}");
        let e = build(&IntRange, "min = 0\nmax = 100000", &col)
            .err()
            .expect("refused");
        assert!(e.contains("`max`"), "{e}");
        assert!(build(&IntRange, "min = 0", &col).is_err());
        let col = column(TypeClass::Integer, oids::INT8);
        let s = must(build(
            &IntRange,
            "min = -9223372036854775808\nmax = 9223372036854775807",
            &col,
        ));
        assert_eq!(value_of(s.as_ref(), &1i64.to_be_bytes()).len(), 8);
    }
}
