//! `composite`: rules per field of a composite-type value (`address postal_address`), nested
//! composites and arrays of composites included; fields without a rule keep their bytes. Each
//! field's rule is built for the field's own type and maps in its own domain, exactly as the
//! same rule on a column would.

use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct Composite;

static SPEC: RuleSpec = RuleSpec {
    name: "composite",
    summary: "Apply rules to fields of a composite-type value (arrays of composites too); other \
              fields are kept byte for byte.",
    params: &[ParamSpec {
        name: "fields",
        kind: ParamKind::Table,
        required: true,
        doc: "field → rule entry, e.g. { street = \"street\", city = { rule = \"city\" }, \
              geo = { rule = \"composite\", fields = { lat = \"keep\" } } }",
    }],
    accepts: &[TypeClass::Other],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::Unbounded,
    example: r#"address = { rule = "composite", fields = { street = "street", city = "city", zip = "postcode" } }"#,
};

struct CompositeValue {
    /// One slot per field in wire order: the field's sanitizer, None to keep it.
    fields: Vec<Option<Box<dyn ColumnSanitizer>>>,
}

fn read_i32(input: &[u8], at: usize) -> Result<i32, SanitizeError> {
    input
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_be_bytes)
        .ok_or_else(|| SanitizeError("truncated composite value".to_string()))
}

impl ColumnSanitizer for CompositeValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let count = read_i32(input, 0)?;
        if usize::try_from(count).ok() != Some(self.fields.len()) {
            return Err(SanitizeError(format!(
                "composite value with {count} fields, the type has {}",
                self.fields.len()
            )));
        }
        let start = out.len();
        out.extend_from_slice(&input[..4]);
        let mut at = 4;
        let mut changed = false;
        for slot in &self.fields {
            let oid = input
                .get(at..at + 4)
                .ok_or_else(|| SanitizeError("truncated composite value".to_string()))?;
            let len = read_i32(input, at + 4)?;
            let body = at + 8;
            let field = if len < 0 {
                None
            } else {
                let end = body + usize::try_from(len).unwrap_or_default();
                Some(
                    input
                        .get(body..end)
                        .ok_or_else(|| SanitizeError("truncated composite field".to_string()))?,
                )
            };
            let next = body + field.map_or(0, <[u8]>::len);
            out.extend_from_slice(oid);
            match slot {
                None => out.extend_from_slice(&input[at + 4..next]),
                Some(rule) => {
                    let len_at = out.len();
                    out.extend_from_slice(&[0; 4]);
                    let value_at = out.len();
                    match rule.sanitize(field, ctx, out)? {
                        Outcome::Value => {
                            let n = i32::try_from(out.len() - value_at).map_err(|_| {
                                value::err("a sanitized composite field is too large")
                            })?;
                            out[len_at..value_at].copy_from_slice(&n.to_be_bytes());
                            changed = true;
                        }
                        Outcome::Null => {
                            out.truncate(len_at);
                            out.extend_from_slice(&(-1i32).to_be_bytes());
                            changed |= field.is_some();
                        }
                        Outcome::Same => {
                            out.truncate(len_at);
                            out.extend_from_slice(&input[at + 4..next]);
                        }
                    }
                }
            }
            at = next;
        }
        if at != input.len() {
            return Err(SanitizeError(
                "trailing bytes after a composite value".to_string(),
            ));
        }
        if !changed {
            out.truncate(start);
            return Ok(Outcome::Same);
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Composite {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Nested
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let column = args.column;
        if column.fields.is_empty() {
            return Err(format!(
                "`composite` applies to composite-type columns; {} is {}",
                column.name, column.type_name
            ));
        }
        let Some(entries) = args.params.get("fields").and_then(toml::Value::as_table) else {
            return Err("parameter `fields` must be a table of field → rule entry".to_string());
        };
        let names: Vec<&str> = column.fields.iter().map(|f| f.name.as_str()).collect();
        let mut slots: Vec<Option<Box<dyn ColumnSanitizer>>> =
            column.fields.iter().map(|_| None).collect();
        let mut problems = Vec::new();
        for (name, entry) in entries {
            let Some(i) = names.iter().position(|n| n == name) else {
                problems.push(format!(
                    "{}: no field {name:?} (the fields are {})",
                    column.type_name,
                    names.join(", ")
                ));
                continue;
            };
            let entry = match entry {
                toml::Value::String(rule) => {
                    let mut t = toml::Table::new();
                    t.insert("rule".into(), toml::Value::String(rule.clone()));
                    t
                }
                toml::Value::Table(t) => t.clone(),
                _ => {
                    problems.push(format!(
                        "field {name}: an entry is a rule name or {{ rule = \"…\", … }}"
                    ));
                    continue;
                }
            };
            if entry.get("rule").and_then(toml::Value::as_str) == Some("keep") {
                continue;
            }
            // A field maps like a column with the same entry: its own domain, else the rule's.
            let domain = entry
                .get("domain")
                .or_else(|| entry.get("rule"))
                .and_then(toml::Value::as_str)
                .unwrap_or(args.domain)
                .to_string();
            let mut field = column.fields[i].clone();
            field.name = format!("{}.{}", column.name, field.name);
            // A field in a domain that also rules a unique column maps as that column does.
            if let Some(rule) = entry.get("rule").and_then(toml::Value::as_str) {
                field.unique |= args.unique_in(rule, &domain);
            }
            match crate::sanitize::build_column_in(
                &entry,
                &field,
                &[],
                &domain,
                args.unique_domains,
                args.dictionary,
            ) {
                Ok(s) => slots[i] = Some(s),
                Err(errors) => {
                    problems.extend(errors.into_iter().map(|e| format!("field {name}: {e}")));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Box::new(CompositeValue { fields: slots }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::column;

    /// `postal_address(street text, city text, zip int4, tags text[])`.
    fn address() -> ColumnInfo {
        let mut col = column(TypeClass::Other, 50_000);
        col.type_name = "postal_address".into();
        let field = |name: &str, class, oid| {
            let mut f = column(class, oid);
            f.name = name.into();
            f
        };
        let mut tags = field("tags", TypeClass::Text, oids::TEXT);
        tags.array = true;
        col.fields = vec![
            field("street", TypeClass::Text, oids::TEXT),
            field("city", TypeClass::Text, oids::TEXT),
            field("zip", TypeClass::Integer, oids::INT4),
            tags,
        ];
        col
    }

    fn encode(fields: &[(u32, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = (fields.len() as i32).to_be_bytes().to_vec();
        for (oid, v) in fields {
            b.extend_from_slice(&oid.to_be_bytes());
            match v {
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        b
    }

    /// The fields of an encoded composite.
    fn decode(b: &[u8]) -> Vec<Option<Vec<u8>>> {
        let n = i32::from_be_bytes(b[..4].try_into().unwrap_or_default());
        let mut at = 4;
        let mut out = Vec::new();
        for _ in 0..n {
            let len = i32::from_be_bytes(b[at + 4..at + 8].try_into().unwrap_or_default());
            at += 8;
            if len < 0 {
                out.push(None);
            } else {
                out.push(Some(b[at..at + len as usize].to_vec()));
                at += len as usize;
            }
        }
        assert_eq!(at, b.len());
        out
    }

    #[test]
    fn named_fields_are_sanitized_and_the_rest_kept() {
        let s = must(build(
            &Composite,
            "fields = { street = \"street\", city = { rule = \"city\" }, zip = \"keep\" }",
            &address(),
        ));
        let zip = 12345i32.to_be_bytes();
        let input = encode(&[
            (oids::TEXT, Some(b"1 Private Lane")),
            (oids::TEXT, Some(b"Hometown")),
            (oids::INT4, Some(&zip)),
            (1009, None),
        ]);
        let out = decode(&value_of(s.as_ref(), &input));
        assert_eq!(out.len(), 4);
        assert!(out[0].as_deref().is_some_and(|v| v != b"1 Private Lane"));
        assert!(out[1].as_deref().is_some_and(|v| v != b"Hometown"));
        assert_eq!(out[2].as_deref(), Some(&zip[..]));
        assert_eq!(out[3], None);
        // Same input, same output; a NULL field stays NULL.
        assert_eq!(value_of(s.as_ref(), &input), value_of(s.as_ref(), &input));
        let nulls = encode(&[
            (oids::TEXT, None),
            (oids::TEXT, Some(b"Hometown")),
            (oids::INT4, None),
            (1009, None),
        ]);
        assert_eq!(decode(&value_of(s.as_ref(), &nulls))[0], None);
    }

    #[test]
    fn fields_map_like_columns_of_their_domain() {
        let s = must(build(
            &Composite,
            "fields = { street = { rule = \"street\", domain = \"d\" } }",
            &address(),
        ));
        let street = must(build(
            crate::sanitize::registry::lookup("street").unwrap_or(&Composite),
            "",
            &column(TypeClass::Text, oids::TEXT),
        ));
        let input = encode(&[
            (oids::TEXT, Some(b"1 Private Lane")),
            (oids::TEXT, None),
            (oids::INT4, None),
            (1009, None),
        ]);
        let out = decode(&value_of(s.as_ref(), &input));
        assert_eq!(out[0], Some(value_of(street.as_ref(), b"1 Private Lane")));
    }

    #[test]
    fn bad_fields_and_columns_are_refused() {
        let e = build(&Composite, "fields = { road = \"street\" }", &address());
        assert!(e.is_err_and(|e| e.contains("no field \"road\"") && e.contains("street, city")));
        let e = build(&Composite, "fields = { zip = \"email\" }", &address());
        assert!(e.is_err_and(|e| e.contains("field zip")));
        let e = build(
            &Composite,
            "fields = { street = \"street\" }",
            &column(TypeClass::Text, oids::TEXT),
        );
        assert!(e.is_err_and(|e| e.contains("composite-type columns")));
    }

    #[test]
    fn malformed_values_are_errors() {
        let s = must(build(
            &Composite,
            "fields = { street = \"street\" }",
            &address(),
        ));
        let ctx = Ctx {
            key: &crate::sanitize::testing::key(),
            row: None,
        };
        for bad in [
            &b""[..],
            &[0, 0, 0, 4],
            &[0, 0, 0, 2, 0, 0, 0, 25, 0, 0, 0, 9],
        ] {
            let mut out = Vec::new();
            assert!(s.sanitize(Some(bad), &ctx, &mut out).is_err());
        }
    }

    #[test]
    fn a_field_in_a_unique_domain_maps_as_the_unique_column_does() {
        let email = crate::sanitize::registry::lookup("email").unwrap_or(&Composite);
        let mut unique_col = column(TypeClass::Text, oids::TEXT);
        unique_col.unique = true;
        let unique_fake = value_of(
            must(build(email, "", &unique_col)).as_ref(),
            b"jane@privatebox.org",
        );
        let plain_fake = value_of(
            must(build(email, "", &column(TypeClass::Text, oids::TEXT))).as_ref(),
            b"jane@privatebox.org",
        );
        assert_ne!(unique_fake, plain_fake);
        let fields = "fields = { street = { rule = \"email\", domain = \"d\" }, city = { rule = \"email\", domain = \"e\" } }";
        let s = must(build_in(
            &Composite,
            fields,
            &address(),
            &unique_pair("email", "d"),
        ));
        let input = encode(&[
            (oids::TEXT, Some(b"jane@privatebox.org")),
            (oids::TEXT, Some(b"jane@privatebox.org")),
            (oids::INT4, None),
            (1009, None),
        ]);
        let out = decode(&value_of(s.as_ref(), &input));
        assert_eq!(out[0].as_deref(), Some(&unique_fake[..]));
        // Only the pair named: the same rule in another domain keeps the plain form.
        assert!(out[1]
            .as_deref()
            .is_some_and(|v| v != &unique_fake[..] && v != b"jane@privatebox.org"));
    }
}
