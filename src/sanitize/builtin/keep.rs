//! `keep`: the value travels unchanged. The explicit decision that a column is not personal data.

use crate::sanitize::spec::*;

pub struct Keep;

pub(crate) static SPEC: RuleSpec = RuleSpec {
    name: "keep",
    summary:
        "Copy the value unchanged (an explicit decision that the column holds no personal data).",
    params: &[],
    accepts: TypeClass::ALL,
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::SameAsInput,
    example: r#"created_at = "keep""#,
};

impl Rule for Keep {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Input
    }

    fn build(&self, _args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(Box::new(FixedOutcome(Outcome::Same)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::{column, run};

    #[test]
    fn keeps_values_and_nulls() {
        let col = column(TypeClass::Text, crate::sanitize::oids::TEXT);
        let s = must(build(&Keep, "", &col));
        assert_eq!(run(s.as_ref(), Some(b"abc")), (Outcome::Same, Vec::new()));
        assert_eq!(run(s.as_ref(), None), (Outcome::Same, Vec::new()));
    }
}
