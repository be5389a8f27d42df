//! `choice`: a keyed pick from a list of values, optionally weighted (text and enum columns;
//! for an enum every value must be one of its labels).

use super::util::*;
use crate::sanitize::spec::*;

pub struct Choice;

static SPEC: RuleSpec = RuleSpec {
    name: "choice",
    summary: "A keyed pick from a list of values, optionally weighted.",
    params: &[
        ParamSpec {
            name: "values",
            kind: ParamKind::StringList,
            required: true,
            doc: "the values to pick from (enum labels for an enum column)",
        },
        ParamSpec {
            name: "weights",
            kind: ParamKind::FloatList,
            required: false,
            doc: "relative weight of each value, as many as `values` (default: equal)",
        },
    ],
    accepts: &[TypeClass::Text, TypeClass::Enum],
    may_produce_null: false,
    unique_preserving: false,
    // The build refuses values longer than the column's varchar(n).
    max_len: MaxLen::SameAsInput,
    example: r#"status = { rule = "choice", values = ["active", "closed"], weights = [9, 1] }"#,
};

struct ChoiceValue {
    values: Vec<String>,
    /// Cumulative weights scaled to u64.
    cumulative: Vec<u64>,
    domain: String,
}

impl ColumnSanitizer for ChoiceValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let mut s = Stream::of(ctx.key, "choice", &self.domain, input);
        let total = self.cumulative.last().copied().unwrap_or(1);
        let r = s.below(total);
        let i = self.cumulative.partition_point(|c| *c <= r);
        let v = self.values.get(i).or(self.values.last());
        out.extend_from_slice(v.map_or(&[][..], |v| v.as_bytes()));
        Ok(Outcome::Value)
    }
}

impl Rule for Choice {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Parameters
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let values = p_strs(args.params, "values").unwrap_or_default();
        if values.is_empty() {
            return Err("parameter `values` must list at least one value".into());
        }
        if let Some(n) = args.column.max_chars {
            if let Some(v) = values.iter().find(|v| v.chars().count() > n) {
                return Err(format!(
                    "parameter `values`: {v:?} is longer than the column's {}",
                    args.column.type_name
                ));
            }
        }
        let weights = p_floats(args.params, "weights").unwrap_or_else(|| vec![1.0; values.len()]);
        if weights.len() != values.len() {
            return Err(format!(
                "parameter `weights` has {} entries but `values` has {}",
                weights.len(),
                values.len()
            ));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err("parameter `weights` must be non-negative numbers".into());
        }
        let sum: f64 = weights.iter().sum();
        if sum <= 0.0 {
            return Err("parameter `weights` must not all be zero".into());
        }
        let mut acc = 0.0;
        let scale = (1u64 << 52) as f64 / sum;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w;
                (acc * scale) as u64
            })
            .collect();
        Ok(Box::new(ChoiceValue {
            values,
            cumulative,
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
    fn picks_by_weight() {
        let col = column(TypeClass::Enum, 90_000);
        let s = must(build(
            &Choice,
            "values = [\"a\", \"b\", \"c\"]\nweights = [1, 0, 3]",
            &col,
        ));
        let mut counts = [0; 3];
        for i in 0..4000 {
            let v = text_of(s.as_ref(), &format!("v{i}"));
            counts[usize::from(v.as_bytes()[0] - b'a')] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!(counts[2] > 2 * counts[0], "{counts:?}");
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(
            &Choice,
            "values = [\"x\", \"y\", \"z\", \"w\"]",
            &col,
        ));
        let a: Vec<_> = (0..20)
            .map(|i| text_of(s.as_ref(), &i.to_string()))
            .collect();
        let b: Vec<_> = (0..20)
            .map(|i| text_of(s.as_ref(), &i.to_string()))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|v| v != &a[0]));
        let other = crate::sanitize::Key::from_secret(b"k2");
        let c: Vec<_> = (0..20)
            .map(|i| {
                crate::sanitize::testing::run_with(
                    s.as_ref(),
                    Some(i.to_string().as_bytes()),
                    &other,
                )
                .1
            })
            .collect();
        assert_ne!(
            a.iter().map(|v| v.as_bytes().to_vec()).collect::<Vec<_>>(),
            c
        );
    }

    #[test]
    fn bad_parameters() {
        let mut col = column(TypeClass::Text, oids::VARCHAR);
        assert!(build(&Choice, "values = []", &col)
            .err()
            .expect("refused")
            .contains("`values`"));
        let e = build(&Choice, "values = [\"a\"]\nweights = [1, 2]", &col).err();
        assert!(e.expect("refused").contains("`weights`"));
        let e = build(&Choice, "values = [\"a\"]\nweights = [0]", &col).err();
        assert!(e.expect("refused").contains("`weights`"));
        col.max_chars = Some(2);
        let e = build(&Choice, "values = [\"abc\"]", &col).err();
        assert!(e.expect("refused").contains("longer"));
    }
}
