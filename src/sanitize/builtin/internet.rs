//! `company`, `username`, `url`: fake organisation and internet identifiers. `username` and
//! `url` are unique-preserving (a keyed discriminator is appended on unique columns).

use super::email::push_local_part;
use super::util::*;
use super::words::{push_slug, COMPANY_KINDS, COMPANY_SUFFIXES, COMPANY_WORDS, TLDS, URL_PATHS};
use crate::sanitize::spec::*;

pub struct Company;
pub struct Username;
pub struct Url;

static COMPANY: RuleSpec = RuleSpec {
    name: "company",
    summary: "A fake company name (\"Redwood Analytics Ltd.\"); cut to varchar(n).",
    params: &[],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"employer = { rule = "company" }"#,
};

static USERNAME: RuleSpec = RuleSpec {
    name: "username",
    summary: "A fake user name (\"maria.lopez42\"); unique-preserving (keyed discriminator on \
              unique columns); cut to varchar(n).",
    params: &[],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::SameAsInput,
    example: r#"login = { rule = "username" }"#,
};

static URL: RuleSpec = RuleSpec {
    name: "url",
    summary: "A fake https URL (\"https://www.summitlabs.com/pricing\"); unique-preserving \
              (keyed discriminator on unique columns); cut to varchar(n).",
    params: &[],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::SameAsInput,
    example: r#"website = { rule = "url" }"#,
};

#[derive(Clone, Copy)]
enum Kind {
    Company,
    Username,
    Url,
}

struct Gen(Kind);

impl Generate for Gen {
    fn fixed_prefix(&self) -> usize {
        match self.0 {
            Kind::Url => "https://".len(),
            _ => 0,
        }
    }

    fn generate(&self, s: &mut Stream, _original: &[u8], out: &mut Vec<u8>) {
        match self.0 {
            Kind::Company => {
                out.extend_from_slice(s.pick(COMPANY_WORDS).as_bytes());
                if s.below(3) > 0 {
                    out.push(b' ');
                    out.extend_from_slice(s.pick(COMPANY_KINDS).as_bytes());
                }
                out.push(b' ');
                out.extend_from_slice(s.pick(COMPANY_SUFFIXES).as_bytes());
            }
            Kind::Username => {
                push_local_part(s, out);
            }
            Kind::Url => {
                out.extend_from_slice(b"https://");
                if s.below(2) == 0 {
                    out.extend_from_slice(b"www.");
                }
                push_slug(s.pick(COMPANY_WORDS), out);
                if s.below(2) == 0 {
                    push_slug(s.pick(COMPANY_KINDS), out);
                }
                out.push(b'.');
                out.extend_from_slice(s.pick(TLDS).as_bytes());
                out.push(b'/');
                if s.below(4) > 0 {
                    out.extend_from_slice(s.pick(URL_PATHS).as_bytes());
                }
            }
        }
    }
}

fn build(
    kind: Kind,
    spec: &'static RuleSpec,
    args: &RuleArgs<'_>,
) -> Result<Box<dyn ColumnSanitizer>, String> {
    let mut g = Generated::new(Gen(kind), spec.name, args);
    if spec.unique_preserving {
        check_unique_room(args.column, DISCRIMINATOR_LEN + 2)?;
    } else {
        g.unique = false;
    }
    Ok(Box::new(g))
}

impl Rule for Company {
    fn spec(&self) -> &'static RuleSpec {
        &COMPANY
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        build(Kind::Company, &COMPANY, args)
    }
}

impl Rule for Username {
    fn spec(&self) -> &'static RuleSpec {
        &USERNAME
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        build(Kind::Username, &USERNAME, args)
    }
}

impl Rule for Url {
    fn spec(&self) -> &'static RuleSpec {
        &URL
    }
    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        build(Kind::Url, &URL, args)
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::column;

    #[test]
    fn internet_values() {
        let mut col = column(TypeClass::Text, oids::TEXT);
        let rules: [&dyn Rule; 3] = [&Company, &Username, &Url];
        for r in rules {
            let s = must(super::super::util::tests::build(r, "", &col));
            common(
                s.as_ref(),
                b"Jane's Bakery LLC / jdoe / https://jane.example",
            );
        }
        let s = must(super::super::util::tests::build(&Url, "", &col));
        assert!(text_of(s.as_ref(), "x").starts_with("https://"));
        col.unique = true;
        col.max_chars = Some(30);
        let s = must(super::super::util::tests::build(&Username, "", &col));
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let u = text_of(s.as_ref(), &format!("user{i}"));
            assert!(u.len() <= 30, "{u}");
            assert!(seen.insert(u));
        }
        col.max_chars = Some(10);
        let e = super::super::util::tests::build(&Username, "", &col).err();
        assert!(e.expect("refused").contains("unique"));
        assert!(super::super::util::tests::build(&Company, "", &col).is_ok());
    }
}
