//! `template`: a text value assembled from other columns of the same row.
//!
//! `{col}` is the original value of `col`, `{col:sanitized}` the value `col` gets in the
//! target (its own rule applied); modifiers `:lower`, `:upper`, `:slug` (lowercase letters and
//! digits only) follow, e.g. `"{first_name:sanitized:slug}.{last_name:sanitized:slug}@example.com"`.
//! `{_hash}` is 16 keyed base32 characters of this column's original value (required on
//! unique columns). `{{` and `}}` are literal braces. NULL columns print as empty text.

use super::util::*;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct Template;

static SPEC: RuleSpec = RuleSpec {
    name: "template",
    summary: "Text built from other columns of the row, original or sanitized, e.g. an email \
              from the fake first and last name.",
    params: &[ParamSpec {
        name: "template",
        kind: ParamKind::String,
        required: true,
        doc: "format string: {column}, {column:sanitized}, modifiers :lower :upper :slug, \
              {_hash} (keyed discriminator, required on unique columns), {{ and }} for braces",
    }],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::SameAsInput,
    example: r#"email = { rule = "template", template = "{first_name:sanitized:slug}.{last_name:sanitized:slug}@example.com" }"#,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
    Slug,
}

enum Part {
    Literal(String),
    Field {
        column: ColumnInfo,
        sanitized: bool,
        case: Case,
    },
    Hash,
}

struct TemplateValue {
    parts: Vec<Part>,
    domain: String,
    max_chars: Option<usize>,
}

fn parse(t: &str, this: &ColumnInfo, row: &[ColumnInfo]) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '}' => return Err("parameter `template` has a `}` without `{` (write `}}`)".into()),
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => field.push(c),
                        None => {
                            return Err("parameter `template` has an unclosed `{`".into());
                        }
                    }
                }
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                }
                let mut it = field.split(':');
                let name = it.next().unwrap_or_default().trim();
                if name == "_hash" {
                    parts.push(Part::Hash);
                    continue;
                }
                let Some(column) = row.iter().find(|c| c.name == name) else {
                    return Err(format!(
                        "parameter `template`: no column {name:?} in {}",
                        this.table
                    ));
                };
                if column.array || !value::displayable(column.class) {
                    return Err(format!(
                        "parameter `template`: column {name:?} of type {} cannot be printed",
                        column.type_name
                    ));
                }
                let mut sanitized = false;
                let mut case = Case::Keep;
                for m in it {
                    match m.trim() {
                        "sanitized" => sanitized = true,
                        "original" => sanitized = false,
                        "lower" => case = Case::Lower,
                        "upper" => case = Case::Upper,
                        "slug" => case = Case::Slug,
                        other => {
                            return Err(format!(
                                "parameter `template`: unknown modifier {other:?} in {{{field}}} \
                                 (sanitized, original, lower, upper, slug)"
                            ))
                        }
                    }
                }
                if sanitized && name == this.name {
                    return Err(format!(
                        "parameter `template` cannot read this column's own sanitized value ({{{field}}})"
                    ));
                }
                parts.push(Part::Field {
                    column: column.clone(),
                    sanitized,
                    case,
                });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Literal(lit));
    }
    Ok(parts)
}

impl ColumnSanitizer for TemplateValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let start = out.len();
        let mut buf = Vec::new();
        let mut text = String::new();
        let mut hash_at = None;
        for part in &self.parts {
            match part {
                Part::Literal(l) => out.extend_from_slice(l.as_bytes()),
                Part::Hash => {
                    let h = ctx.key.hash("template", &self.domain, input);
                    hash_at = Some(out.len());
                    push_base32(&h, DISCRIMINATOR_LEN, out);
                }
                Part::Field {
                    column,
                    sanitized,
                    case,
                } => {
                    let row = ctx.row.ok_or_else(|| {
                        value::err(format!("template: column {}: no row access", column.name))
                    })?;
                    let original = row.original(&column.name).map_err(value::err)?;
                    buf.clear();
                    let v = if *sanitized {
                        match row.sanitized(&column.name, &mut buf).map_err(value::err)? {
                            Outcome::Value => Some(&buf[..]),
                            Outcome::Same => original,
                            Outcome::Null => None,
                        }
                    } else {
                        original
                    };
                    let Some(v) = v else { continue };
                    text.clear();
                    value::display(column, v, &mut text)?;
                    match case {
                        Case::Keep => out.extend_from_slice(text.as_bytes()),
                        Case::Lower => out.extend_from_slice(text.to_lowercase().as_bytes()),
                        Case::Upper => out.extend_from_slice(text.to_uppercase().as_bytes()),
                        Case::Slug => {
                            for c in text.chars().flat_map(char::to_lowercase) {
                                if c.is_ascii_alphanumeric() {
                                    out.push(c as u8);
                                }
                            }
                        }
                    }
                }
            }
        }
        match (hash_at, self.max_chars) {
            (Some(h), Some(max)) => fit_around_hash(out, start, h, max),
            _ => truncate_chars(out, start, self.max_chars),
        }
        Ok(Outcome::Value)
    }

    fn reads(&self) -> Vec<ColumnRead> {
        let mut reads: Vec<ColumnRead> = Vec::new();
        for p in &self.parts {
            if let Part::Field {
                column, sanitized, ..
            } = p
            {
                let r = ColumnRead {
                    column: column.name.clone(),
                    sanitized: *sanitized,
                };
                if !reads.contains(&r) {
                    reads.push(r);
                }
            }
        }
        reads
    }
}

/// Cuts `out[start..]` to `max` characters without touching the discriminator at `hash`
/// (the text after it is kept first, e.g. an `@domain`, then the text before it).
fn fit_around_hash(out: &mut Vec<u8>, start: usize, hash: usize, max: usize) {
    let chars = |b: &[u8]| b.iter().filter(|c| **c & 0xC0 != 0x80).count();
    if chars(&out[start..]) <= max {
        return;
    }
    let tail = out.split_off(hash + DISCRIMINATOR_LEN);
    let budget = max.saturating_sub(DISCRIMINATOR_LEN);
    let mut tail = tail;
    truncate_chars(&mut tail, 0, Some(budget));
    let disc = out.split_off(hash);
    truncate_chars(out, start, Some(budget - chars(&tail)));
    out.extend_from_slice(&disc);
    out.extend_from_slice(&tail);
}

impl Rule for Template {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Parameters
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let t = p_str(args.params, "template").unwrap_or_default();
        let parts = parse(t, args.column, args.row)?;
        if args.column.unique && !parts.iter().any(|p| matches!(p, Part::Hash)) {
            return Err(
                "parameter `template` must contain {_hash} on a unique column so distinct values \
                 stay distinct"
                    .into(),
            );
        }
        if args.column.unique && args.column.max_chars.is_some_and(|n| n < DISCRIMINATOR_LEN) {
            return Err(format!(
                "the column is unique and {} but {{_hash}} needs {DISCRIMINATOR_LEN} characters",
                args.column.type_name
            ));
        }
        Ok(Box::new(TemplateValue {
            parts,
            domain: args.domain.to_string(),
            max_chars: args.column.max_chars,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::testing::{column, key};

    struct Row;

    impl RowAccess for Row {
        fn original(&self, column: &str) -> Result<Option<&[u8]>, String> {
            match column {
                "first_name" => Ok(Some(b"Jane")),
                "last_name" => Ok(Some(b"O'Neil")),
                "id" => Ok(Some(&[0, 0, 0, 42])),
                "email" => Ok(Some(b"jane@corp.com")),
                "nick" => Ok(None),
                _ => Err(format!("no column {column}")),
            }
        }
        fn sanitized(&self, column: &str, out: &mut Vec<u8>) -> Result<Outcome, String> {
            match column {
                "first_name" => {
                    out.extend_from_slice(b"Mary Ann");
                    Ok(Outcome::Value)
                }
                _ => Ok(Outcome::Same),
            }
        }
    }

    fn row() -> Vec<ColumnInfo> {
        let mk = |n: &str, class, oid| {
            let mut c = column(class, oid);
            c.name = n.into();
            c
        };
        vec![
            mk("first_name", TypeClass::Text, oids::TEXT),
            mk("last_name", TypeClass::Text, oids::TEXT),
            mk("id", TypeClass::Integer, oids::INT4),
            mk("email", TypeClass::Text, oids::TEXT),
            mk("nick", TypeClass::Text, oids::TEXT),
            mk("tags", TypeClass::Other, 600),
        ]
    }

    fn build(t: &str, unique: bool) -> Result<Box<dyn ColumnSanitizer>, String> {
        let r = row();
        let mut col = r[3].clone();
        col.unique = unique;
        let mut params = toml::Table::new();
        params.insert("template".into(), toml::Value::String(t.into()));
        Template.build(&RuleArgs {
            params: &params,
            column: &col,
            domain: "d",
            row: &r,
            unique_domains: &NO_UNIQUE_DOMAINS,
            dictionary: None,
        })
    }

    fn eval(s: &dyn ColumnSanitizer, k: &crate::sanitize::Key) -> String {
        let mut out = Vec::new();
        let ctx = Ctx {
            key: k,
            row: Some(&Row),
        };
        let o = s.sanitize(Some(b"jane@corp.com"), &ctx, &mut out);
        assert_eq!(o, Ok(Outcome::Value));
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn builds_from_the_row() {
        let s = build(
            "{first_name:sanitized:slug}.{last_name:slug}{nick}+{id}@example.com {{x}}",
            false,
        );
        let s = s.expect("builds");
        assert_eq!(eval(s.as_ref(), &key()), "maryann.oneil+42@example.com {x}");
        assert_eq!(
            s.reads(),
            vec![
                ColumnRead {
                    column: "first_name".into(),
                    sanitized: true
                },
                ColumnRead {
                    column: "last_name".into(),
                    sanitized: false
                },
                ColumnRead {
                    column: "nick".into(),
                    sanitized: false
                },
                ColumnRead {
                    column: "id".into(),
                    sanitized: false
                },
            ]
        );
        let s = build("{first_name:upper}-{_hash}", true).expect("builds");
        let a = eval(s.as_ref(), &key());
        assert!(a.starts_with("JANE-") && a.len() == 5 + 16, "{a}");
        assert_ne!(
            a,
            eval(s.as_ref(), &crate::sanitize::Key::from_secret(b"x"))
        );
        let mut out = Vec::new();
        let none = s.sanitize(
            None,
            &Ctx {
                key: &key(),
                row: Some(&Row),
            },
            &mut out,
        );
        assert_eq!(none, Ok(Outcome::Null));
    }

    #[test]
    fn unique_varchar_keeps_the_discriminator() {
        let mut out = b"xx".to_vec();
        out.extend_from_slice(b"a.very.long.name.");
        out.extend_from_slice(&[b'h'; DISCRIMINATOR_LEN]);
        out.extend_from_slice(b"@example.com");
        fit_around_hash(&mut out, 2, 2 + 17, 32);
        let want = format!("xxa.ve{}@example.com", "h".repeat(DISCRIMINATOR_LEN));
        assert_eq!(out, want.as_bytes());
    }

    #[test]
    fn bad_templates() {
        for (t, want) in [
            ("{nope}", "no column"),
            ("{tags}", "cannot be printed"),
            ("{id:shout}", "modifier"),
            ("{email:sanitized}", "own sanitized"),
            ("{id", "unclosed"),
            ("a}", "without"),
        ] {
            let e = build(t, false).err().expect("refused");
            assert!(e.contains(want) && e.contains("`template`"), "{t}: {e}");
        }
        assert!(build("{first_name}", true)
            .err()
            .expect("refused")
            .contains("_hash"));
    }
}
