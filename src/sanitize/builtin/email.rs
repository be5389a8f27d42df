//! `email`: a realistic fake address (`maria.lopez@example.com`). On a unique column a keyed
//! discriminator joins the local part (`maria.lopez.k3n…@example.com`), so distinct inputs
//! never share an output.

use super::util::*;
use super::words::{push_slug, FIRST_NAMES, LAST_NAMES, MAIL_DOMAINS};
use crate::sanitize::spec::*;

pub struct Email;

static SPEC: RuleSpec = RuleSpec {
    name: "email",
    summary: "A fake, realistic email address; unique-preserving (a keyed discriminator is \
              added on unique columns); fits the column's varchar(n).",
    params: &[ParamSpec {
        name: "mail_domain",
        kind: ParamKind::String,
        required: false,
        doc: "domain of every address, e.g. \"example.com\"; default: one of example.com, \
              example.net, example.org",
    }],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::SameAsInput,
    example: r#"email = { rule = "email", mail_domain = "example.com", domain = "person_email" }"#,
};

struct EmailValue {
    mail_domain: Option<String>,
    domain: String,
    unique: bool,
    /// Characters left for the local part (after `@domain` and the discriminator).
    local_max: Option<usize>,
}

/// Appends a realistic local part built from fake first and last names.
pub fn push_local_part(s: &mut Stream, out: &mut Vec<u8>) {
    let first = s.pick(FIRST_NAMES);
    let last = s.pick(LAST_NAMES);
    match s.below(8) {
        0..=2 => {
            push_slug(first, out);
            out.push(b'.');
            push_slug(last, out);
        }
        3 => {
            push_slug(first, out);
            push_slug(last, out);
        }
        4 => {
            push_slug(&first[..1], out);
            push_slug(last, out);
        }
        5 => {
            push_slug(first, out);
            out.push(b'_');
            push_slug(last, out);
        }
        6 => {
            push_slug(first, out);
            out.push(b'.');
            push_slug(last, out);
            out.push(s.digit());
            out.push(s.digit());
        }
        _ => {
            push_slug(first, out);
            push_slug(&last[..1], out);
            for _ in 0..(2 + s.below(3)) {
                out.push(s.digit());
            }
        }
    }
}

impl ColumnSanitizer for EmailValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let seed = ctx.key.hash("email", &self.domain, input);
        let mut s = Stream::new(&seed);
        let start = out.len();
        for _ in 0..=REDRAWS {
            out.truncate(start);
            push_local_part(&mut s, out);
            truncate_chars(out, start, self.local_max);
            if self.unique {
                out.push(b'.');
                push_base32(&seed, DISCRIMINATOR_LEN, out);
            }
            out.push(b'@');
            // A fixed mail domain is the parameter's, not an echo: only the rest is compared.
            let compared = out.len();
            match &self.mail_domain {
                Some(d) => out.extend_from_slice(d.as_bytes()),
                None => out.extend_from_slice(s.pick(MAIL_DOMAINS).as_bytes()),
            }
            let end = if self.mail_domain.is_some() {
                compared
            } else {
                out.len()
            };
            // A fake name drawn from the same lists as a production one can give it back:
            // draw again from the same stream (still deterministic).
            if !echoes(input, &out[start..end], 0) {
                break;
            }
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Email {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let mail_domain = p_str(args.params, "mail_domain").map(str::to_string);
        if let Some(d) = &mail_domain {
            let ok = !d.is_empty()
                && d.contains('.')
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !ok {
                return Err(format!(
                    "parameter `mail_domain` must be a domain name such as \"example.com\", got {d:?}"
                ));
            }
        }
        let domain_len = mail_domain.as_ref().map_or_else(
            || MAIL_DOMAINS.iter().map(|d| d.len()).max().unwrap_or(0),
            String::len,
        );
        let tail = 1
            + domain_len
            + if args.column.unique {
                1 + DISCRIMINATOR_LEN
            } else {
                0
            };
        let local_max = match args.column.max_chars {
            Some(n) if n < tail + 1 => {
                return Err(format!(
                    "the column is {} but addresses need at least {} characters{}",
                    args.column.type_name,
                    tail + 1,
                    if args.column.unique {
                        " (with the unique discriminator)"
                    } else {
                        ""
                    }
                ))
            }
            Some(n) => Some(n - tail),
            None => None,
        };
        Ok(Box::new(EmailValue {
            mail_domain,
            domain: args.domain.to_string(),
            unique: args.column.unique,
            local_max,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::{column, key};

    #[test]
    fn realistic_and_deterministic() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Email, "", &col));
        common(s.as_ref(), b"john@corp.com");
        let e = text_of(s.as_ref(), "john@corp.com");
        let (local, dom) = e.split_once('@').expect("has @");
        assert!(!local.is_empty() && MAIL_DOMAINS.contains(&dom), "{e}");
        let s = must(build(&Email, "mail_domain = \"test.example\"", &col));
        assert!(text_of(s.as_ref(), "x@y.z").ends_with("@test.example"));
    }

    #[test]
    fn fits_varchar_and_refuses_too_narrow() {
        let mut col = column(TypeClass::Text, oids::VARCHAR);
        col.max_chars = Some(20);
        let s = must(build(&Email, "mail_domain = \"example.com\"", &col));
        for i in 0..200 {
            let e = text_of(s.as_ref(), &format!("user{i}@corp.com"));
            assert!(e.len() <= 20 && e.ends_with("@example.com"), "{e}");
        }
        col.unique = true;
        let e = build(&Email, "", &col).err().expect("refused");
        assert!(e.contains("at least"), "{e}");
        let e = build(
            &Email,
            "mail_domain = \"not a domain\"",
            &column(TypeClass::Text, 25),
        );
        assert!(e.err().expect("refused").contains("`mail_domain`"));
    }

    #[test]
    fn unique_column_maps_distinct_to_distinct() {
        let mut col = column(TypeClass::Text, oids::TEXT);
        col.unique = true;
        let s = must(build(&Email, "", &col));
        let k = key();
        let n = if cfg!(debug_assertions) {
            200_000
        } else {
            2_000_000
        };
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut out = Vec::new();
        let ctx = Ctx { key: &k, row: None };
        for i in 0..n {
            out.clear();
            let input = format!("user{i}@corp.example");
            s.sanitize(Some(input.as_bytes()), &ctx, &mut out)
                .expect("sanitizes");
            assert!(seen.insert(out.clone()), "collision at {i}");
        }
    }
}
