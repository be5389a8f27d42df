//! `person_name`, `first_name`, `last_name`: realistic fake names from embedded lists.

use super::util::*;
use super::words::{FIRST_NAMES, LAST_NAMES};
use crate::sanitize::spec::*;

pub struct PersonName;
pub struct FirstName;
pub struct LastName;

const ACCEPTS: &[TypeClass] = &[TypeClass::Text];

static PERSON: RuleSpec = RuleSpec {
    name: "person_name",
    summary: "A fake full name (\"Maria Lopez\"); cut to the column's varchar(n).",
    params: &[],
    accepts: ACCEPTS,
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"full_name = { rule = "person_name" }"#,
};

static FIRST: RuleSpec = RuleSpec {
    name: "first_name",
    summary: "A fake first name; cut to the column's varchar(n).",
    params: &[],
    accepts: ACCEPTS,
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"first_name = { rule = "first_name" }"#,
};

static LAST: RuleSpec = RuleSpec {
    name: "last_name",
    summary: "A fake last name; cut to the column's varchar(n).",
    params: &[],
    accepts: ACCEPTS,
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"last_name = { rule = "last_name" }"#,
};

#[derive(Clone, Copy)]
enum Part {
    Full,
    First,
    Last,
}

struct NameGen(Part);

impl Generate for NameGen {
    fn generate(&self, s: &mut Stream, _original: &[u8], out: &mut Vec<u8>) {
        match self.0 {
            Part::First => out.extend_from_slice(s.pick(FIRST_NAMES).as_bytes()),
            Part::Last => out.extend_from_slice(s.pick(LAST_NAMES).as_bytes()),
            Part::Full => {
                out.extend_from_slice(s.pick(FIRST_NAMES).as_bytes());
                out.push(b' ');
                out.extend_from_slice(s.pick(LAST_NAMES).as_bytes());
            }
        }
    }
}

fn build(part: Part, spec: &'static RuleSpec, args: &RuleArgs<'_>) -> Box<dyn ColumnSanitizer> {
    let mut g = Generated::new(NameGen(part), spec.name, args);
    g.unique = false;
    Box::new(g)
}

impl Rule for PersonName {
    fn spec(&self) -> &'static RuleSpec {
        &PERSON
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(build(Part::Full, &PERSON, args))
    }
}

impl Rule for FirstName {
    fn spec(&self) -> &'static RuleSpec {
        &FIRST
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(build(Part::First, &FIRST, args))
    }
}

impl Rule for LastName {
    fn spec(&self) -> &'static RuleSpec {
        &LAST
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(build(Part::Last, &LAST, args))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::column;

    #[test]
    fn names_look_like_names() {
        let mut col = column(TypeClass::Text, oids::VARCHAR);
        let s = must(super::super::util::tests::build(&PersonName, "", &col));
        common(s.as_ref(), b"Jane Doe");
        let n = text_of(s.as_ref(), "Jane Doe");
        assert_eq!(n.split(' ').count(), 2, "{n}");
        let s = must(super::super::util::tests::build(&FirstName, "", &col));
        assert!(FIRST_NAMES.contains(&text_of(s.as_ref(), "Jane").as_str()));
        let s = must(super::super::util::tests::build(&LastName, "", &col));
        assert!(LAST_NAMES.contains(&text_of(s.as_ref(), "Doe").as_str()));
        col.max_chars = Some(4);
        let s = must(super::super::util::tests::build(&PersonName, "", &col));
        for i in 0..50 {
            assert!(text_of(s.as_ref(), &format!("n{i}")).chars().count() <= 4);
        }
        let e = super::super::util::tests::build(&LastName, "x = 1", &col).err();
        assert!(e.expect("refused").contains("`x`"));
    }
}
