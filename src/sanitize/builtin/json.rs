//! `json`: applies rules to values at paths inside json/jsonb and leaves the rest untouched.
//!
//! ```toml
//! profile = { rule = "json", paths = { "$.address.street" = { rule = "street" },
//!             "$.phones[*]" = "phone", "$.contacts[*].email" = { rule = "email" } } }
//! ```
//! Paths: `$` then `.key`, `["key"]`, `[n]`, `[*]` or `.*` (every member or element). A path
//! ending at a string applies the rule as to a text value; at a number, as to a numeric value
//! when the rule takes numbers (`number_noise`), else to its text; at an object or array, to
//! every string/number inside it. `null` makes the value JSON null; absent paths are skipped.

use serde_json::Value;

use crate::sanitize::compose::build_entry;
use crate::sanitize::registry;
use crate::sanitize::spec::*;
use crate::sanitize::value;

pub struct Json;

static SPEC: RuleSpec = RuleSpec {
    name: "json",
    summary: "Apply rules to values at JSON paths inside json/jsonb; everything else is kept.",
    params: &[ParamSpec {
        name: "paths",
        kind: ParamKind::Table,
        required: true,
        doc: "path → rule entry, e.g. { \"$.address.street\" = { rule = \"street\" }, \
              \"$.phones[*]\" = \"phone\" }",
    }],
    accepts: &[TypeClass::Json],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::Unbounded,
    example: r#"profile = { rule = "json", paths = { "$.address.street" = { rule = "street" }, "$.phones[*]" = { rule = "phone" } } }"#,
};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
    Any,
}

fn parse_path(p: &str) -> Result<Vec<Seg>, String> {
    let bad = |why: &str| format!("path {p:?}: {why}");
    let rest = p
        .strip_prefix('$')
        .ok_or_else(|| bad("must start with `$`"))?;
    let b = rest.as_bytes();
    let mut segs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && b[end] != b'.' && b[end] != b'[' {
                    end += 1;
                }
                let name = &rest[start..end];
                match name {
                    "" => return Err(bad("empty key after `.`")),
                    "*" => segs.push(Seg::Any),
                    _ => segs.push(Seg::Key(name.to_string())),
                }
                i = end;
            }
            b'[' => {
                let close = rest[i..]
                    .find(']')
                    .map(|c| c + i)
                    .ok_or_else(|| bad("unclosed `[`"))?;
                let inner = &rest[i + 1..close];
                if inner == "*" {
                    segs.push(Seg::Any);
                } else if let Ok(n) = inner.parse::<usize>() {
                    segs.push(Seg::Index(n));
                } else if inner.len() >= 2
                    && ((inner.starts_with('"') && inner.ends_with('"'))
                        || (inner.starts_with('\'') && inner.ends_with('\'')))
                {
                    segs.push(Seg::Key(inner[1..inner.len() - 1].to_string()));
                } else {
                    return Err(bad("`[…]` takes an index, `*` or a quoted key"));
                }
                i = close + 1;
            }
            _ => return Err(bad("expected `.` or `[`")),
        }
    }
    Ok(segs)
}

struct Leaf {
    path: Vec<Seg>,
    text: Option<Box<dyn ColumnSanitizer>>,
    number: Option<Box<dyn ColumnSanitizer>>,
}

struct JsonValue {
    leaves: Vec<Leaf>,
    oid: u32,
}

fn walk(
    v: &mut Value,
    path: &[Seg],
    leaf: &Leaf,
    ctx: &Ctx<'_>,
    changed: &mut bool,
) -> Result<(), SanitizeError> {
    let Some((first, rest)) = path.split_first() else {
        return apply(v, leaf, ctx, changed);
    };
    match (first, v) {
        (Seg::Key(k), Value::Object(m)) => {
            if let Some(child) = m.get_mut(k) {
                walk(child, rest, leaf, ctx, changed)?;
            }
        }
        (Seg::Index(n), Value::Array(a)) => {
            if let Some(child) = a.get_mut(*n) {
                walk(child, rest, leaf, ctx, changed)?;
            }
        }
        (Seg::Any, Value::Array(a)) => {
            for child in a {
                walk(child, rest, leaf, ctx, changed)?;
            }
        }
        (Seg::Any, Value::Object(m)) => {
            for (_, child) in m.iter_mut() {
                walk(child, rest, leaf, ctx, changed)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn apply(
    v: &mut Value,
    leaf: &Leaf,
    ctx: &Ctx<'_>,
    changed: &mut bool,
) -> Result<(), SanitizeError> {
    let mut out = Vec::new();
    match v {
        Value::Array(a) => {
            for child in a {
                apply(child, leaf, ctx, changed)?;
            }
        }
        Value::Object(m) => {
            for (_, child) in m.iter_mut() {
                apply(child, leaf, ctx, changed)?;
            }
        }
        Value::Null => {}
        Value::String(s) => {
            if let Some(t) = &leaf.text {
                match t.sanitize(Some(s.as_bytes()), ctx, &mut out)? {
                    Outcome::Same => {}
                    Outcome::Null => {
                        *v = Value::Null;
                        *changed = true;
                    }
                    Outcome::Value => {
                        *v = Value::String(value::utf8(&out)?.to_string());
                        *changed = true;
                    }
                }
            }
        }
        Value::Number(_) | Value::Bool(_) => {
            let text = v.to_string();
            let number_rule = matches!(v, Value::Number(_))
                .then_some(())
                .and(leaf.number.as_ref());
            let outcome = if let Some(n) = number_rule {
                let mut bin = Vec::new();
                // serde_json prints floats like 1e300 with an exponent: go through f64 then.
                let decimal = if text.contains(['e', 'E']) {
                    text.parse::<f64>()
                        .map(|f| format!("{f:.6}"))
                        .unwrap_or_default()
                } else {
                    text.clone()
                };
                if value::numeric_from_str(&decimal, &mut bin).is_err() {
                    return Ok(());
                }
                let o = n.sanitize(Some(&bin), ctx, &mut out)?;
                if o == Outcome::Value {
                    let s = value::numeric_to_string(&out)?;
                    out.clear();
                    out.extend_from_slice(s.as_bytes());
                }
                o
            } else if let Some(t) = &leaf.text {
                t.sanitize(Some(text.as_bytes()), ctx, &mut out)?
            } else {
                Outcome::Same
            };
            match outcome {
                Outcome::Same => {}
                Outcome::Null => {
                    *v = Value::Null;
                    *changed = true;
                }
                Outcome::Value => {
                    let s = value::utf8(&out)?;
                    *v = match serde_json::from_str::<Value>(s) {
                        Ok(n @ (Value::Number(_) | Value::Bool(_))) => n,
                        _ => Value::String(s.to_string()),
                    };
                    *changed = true;
                }
            }
        }
    }
    Ok(())
}

impl ColumnSanitizer for JsonValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let text = value::json_text(self.oid, input)?;
        let mut doc: Value = serde_json::from_str(text)
            .map_err(|e| value::err(format!("malformed JSON value: {e}")))?;
        let mut changed = false;
        for leaf in &self.leaves {
            walk(&mut doc, &leaf.path, leaf, ctx, &mut changed)?;
        }
        if !changed {
            return Ok(Outcome::Same);
        }
        value::json_prefix(self.oid, out);
        serde_json::to_writer(&mut *out, &doc)
            .map_err(|e| value::err(format!("writing JSON: {e}")))?;
        Ok(Outcome::Value)
    }

    fn reads(&self) -> Vec<ColumnRead> {
        let mut reads = Vec::new();
        for l in &self.leaves {
            for s in l.text.iter().chain(l.number.iter()) {
                for r in s.reads() {
                    if !reads.contains(&r) {
                        reads.push(r);
                    }
                }
            }
        }
        reads
    }
}

impl Rule for Json {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let Some(paths) = args.params.get("paths").and_then(toml::Value::as_table) else {
            return Err("parameter `paths` must be a table of path = rule".into());
        };
        if paths.is_empty() {
            return Err("parameter `paths` names no path".into());
        }
        let mut problems = Vec::new();
        let mut leaves = Vec::new();
        for (p, entry) in paths {
            let path = match parse_path(p) {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("parameter `paths`: {e}"));
                    continue;
                }
            };
            let entry = match entry {
                toml::Value::String(r) => {
                    let mut t = toml::Table::new();
                    t.insert("rule".into(), toml::Value::String(r.clone()));
                    t
                }
                toml::Value::Table(t) => t.clone(),
                _ => {
                    problems.push(format!(
                        "parameter `paths`: {p:?} must be a rule name or {{ rule = \"…\" }}"
                    ));
                    continue;
                }
            };
            let accepts = entry
                .get("rule")
                .and_then(toml::Value::as_str)
                .and_then(registry::lookup)
                .map(|r| r.spec().accepts);
            let takes = |c: TypeClass| accepts.is_none_or(|a| a.contains(&c));
            let pseudo = |class: TypeClass, oid: u32| ColumnInfo {
                table: args.column.table.clone(),
                name: format!("{}{}", args.column.name, &p[1..]),
                type_name: if class == TypeClass::Text {
                    "text"
                } else {
                    "numeric"
                }
                .into(),
                class,
                scalar_oid: oid,
                array: false,
                max_chars: None,
                not_null: false,
                unique: false,
            };
            let mut sub = Vec::new();
            let text = takes(TypeClass::Text)
                .then(|| {
                    build_entry(
                        &entry,
                        &pseudo(TypeClass::Text, oids::TEXT),
                        args.row,
                        args.domain,
                        &mut sub,
                    )
                })
                .flatten();
            let number = (accepts.is_some() && takes(TypeClass::Numeric))
                .then(|| {
                    build_entry(
                        &entry,
                        &pseudo(TypeClass::Numeric, oids::NUMERIC),
                        args.row,
                        args.domain,
                        &mut sub,
                    )
                })
                .flatten();
            if accepts.is_some() && !takes(TypeClass::Text) && !takes(TypeClass::Numeric) {
                sub.push("the rule applies neither to text nor to numbers".into());
            }
            sub.dedup();
            problems.extend(sub.into_iter().map(|e| format!("path {p:?}: {e}")));
            if text.is_some() || number.is_some() {
                leaves.push(Leaf { path, text, number });
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Box::new(JsonValue {
            leaves,
            oid: args.column.scalar_oid,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::{column, run};

    const PATHS: &str = r#"paths = { "$.address.street" = { rule = "lorem" }, "$.phones[*]" = "phone", "$.salary" = { rule = "number_noise", percent = 10 }, "$.contacts[*].email" = { rule = "email", mail_domain = "example.com" }, "$.secret" = "null" }"#;

    #[test]
    fn rewrites_only_the_paths() {
        let col = column(TypeClass::Json, oids::JSONB);
        let s = must(build(&Json, PATHS, &col));
        let doc = r#"{"name":"Jane","address":{"street":"12 Long Road","city":"Leeds"},"phones":["+44 20 7946 0958","555-0100"],"salary":52000.50,"contacts":[{"email":"a@b.c","n":1}],"secret":"xyz","z":[1,2]}"#;
        let mut input = vec![1u8];
        input.extend_from_slice(doc.as_bytes());
        common(s.as_ref(), &input);
        let out = value_of(s.as_ref(), &input);
        assert_eq!(out[0], 1);
        let v: Value = serde_json::from_slice(&out[1..]).expect("JSON out");
        assert_eq!(v["name"], "Jane");
        assert_eq!(v["address"]["city"], "Leeds");
        assert_ne!(v["address"]["street"], "12 Long Road");
        assert!(v["phones"][0]
            .as_str()
            .is_some_and(|p| p.starts_with("+44 ")));
        assert!(v["salary"].is_number() && v["salary"] != 52000.50);
        assert!(v["contacts"][0]["email"]
            .as_str()
            .is_some_and(|e| e.ends_with("@example.com")));
        assert_eq!(v["contacts"][0]["n"], 1);
        assert!(v["secret"].is_null());
        assert_eq!(v["z"], serde_json::json!([1, 2]));
        let keys: Vec<_> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(keys[0], "name", "member order kept");
        // Nothing at the paths: unchanged.
        let (o, _) = run(s.as_ref(), Some(b"\x01{\"other\":1}"));
        assert_eq!(o, Outcome::Same);
        let col = column(TypeClass::Json, oids::JSON);
        let s = must(build(&Json, PATHS, &col));
        let out = value_of(s.as_ref(), doc.as_bytes());
        assert_eq!(out[0], b'{');
        let mut o = Vec::new();
        let k = crate::sanitize::testing::key();
        let ctx = Ctx { key: &k, row: None };
        assert!(s.sanitize(Some(b"{oops"), &ctx, &mut o).is_err());
    }

    #[test]
    fn paths_checked() {
        assert_eq!(
            parse_path("$.a[0][*].b[\"c d\"].*"),
            Ok(vec![
                Seg::Key("a".into()),
                Seg::Index(0),
                Seg::Any,
                Seg::Key("b".into()),
                Seg::Key("c d".into()),
                Seg::Any
            ])
        );
        let col = column(TypeClass::Json, oids::JSONB);
        let e = build(&Json, r#"paths = { "a.b" = "email", "$.x" = "nope", "$.y" = { rule = "mask", keep_last = -1 }, "$.d" = "date_shift" }"#, &col)
            .err()
            .expect("refused");
        assert!(e.contains("\"a.b\"") && e.contains("`$`"), "{e}");
        assert!(e.contains("unknown rule \"nope\""), "{e}");
        assert!(e.contains("`keep_last`"), "{e}");
        assert!(e.contains("neither"), "{e}");
        assert!(build(&Json, "paths = {}", &col).is_err());
    }
}
