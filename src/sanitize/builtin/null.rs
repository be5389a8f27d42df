//! `null`: every value becomes NULL. Refused on NOT NULL columns by the rules check.

use crate::sanitize::spec::*;

pub struct Null;

pub(crate) static SPEC: RuleSpec = RuleSpec {
    name: "null",
    summary: "Replace every value with NULL.",
    params: &[],
    accepts: TypeClass::ALL,
    may_produce_null: true,
    unique_preserving: false,
    max_len: MaxLen::Chars(0),
    example: r#"notes = { rule = "null" }"#,
};

impl Rule for Null {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Parameters
    }

    fn build(&self, _args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(Box::new(FixedOutcome(Outcome::Null)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::{column, run};

    #[test]
    fn every_value_becomes_null() {
        let col = column(TypeClass::Integer, crate::sanitize::oids::INT4);
        let s = must(build(&Null, "", &col));
        assert_eq!(
            run(s.as_ref(), Some(&7i32.to_be_bytes())),
            (Outcome::Null, Vec::new())
        );
    }
}
