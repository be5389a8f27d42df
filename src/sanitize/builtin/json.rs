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
//!
//! The document is edited in place: the values at the paths are rewritten and every other byte
//! is copied through, so a `json` column keeps its spacing and member order, and each of a
//! key's duplicates (which `json` allows) is rewritten. A value reached by several paths gets
//! their rules one after the other, in path order.

use std::borrow::Cow;

use crate::sanitize::compose::build_entry;
use crate::sanitize::json_scan::{self, Kind, Scanner};
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

/// Paths are tracked as bits of a word while the document is walked.
const MAX_PATHS: usize = 64;
/// Deeper documents are refused rather than risking the stack.
const MAX_DEPTH: usize = 512;

struct JsonValue {
    leaves: Vec<Leaf>,
    /// Bit per leaf whose path has exactly n segments, by n.
    ends_at: Vec<u64>,
    oid: u32,
}

/// The output being built: the input text copied through, with edited values spliced in.
struct Editor<'a> {
    text: &'a str,
    out: &'a mut Vec<u8>,
    /// Input bytes up to here are already in `out`.
    copied: usize,
    changed: bool,
    /// Reused for every rule's output within the document.
    scratch: Vec<u8>,
}

impl Editor<'_> {
    fn replace(
        &mut self,
        start: usize,
        end: usize,
        with: &Scalar<'_>,
    ) -> Result<(), SanitizeError> {
        self.out
            .extend_from_slice(&self.text.as_bytes()[self.copied..start]);
        match with {
            Scalar::Null => self.out.extend_from_slice(b"null"),
            Scalar::Bool(b) => self
                .out
                .extend_from_slice(if *b { b"true" } else { b"false" }),
            Scalar::Num(n) => self.out.extend_from_slice(n.as_bytes()),
            Scalar::Str(s) => serde_json::to_writer(&mut *self.out, s.as_ref())
                .map_err(|e| value::err(format!("writing JSON: {e}")))?,
        }
        self.copied = end;
        self.changed = true;
        Ok(())
    }
}

/// A scalar as the rules along its paths see it, one after the other.
enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(Cow<'a, str>),
    Bool(bool),
    Null,
}

fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (set != 0).then(|| {
            let i = set.trailing_zeros() as usize;
            set &= set - 1;
            i
        })
    })
}

fn malformed(e: String) -> SanitizeError {
    value::err(format!("malformed JSON value: {e}"))
}

/// Where a walk steps into a container: a member, by key, or an element, by index.
enum Step<'a> {
    Member(&'a str),
    Element(usize),
}

impl Seg {
    fn matches(&self, step: &Step<'_>) -> bool {
        match (self, step) {
            (Seg::Any, _) => true,
            (Seg::Key(k), Step::Member(name)) => k == name,
            (Seg::Index(n), Step::Element(i)) => n == i,
            _ => false,
        }
    }
}

impl JsonValue {
    /// The paths among `deeper` whose segment at `depth` takes `step`.
    fn children(&self, deeper: u64, depth: usize, step: Step<'_>) -> u64 {
        bits(deeper)
            .filter(|&l| self.leaves[l].path[depth].matches(&step))
            .fold(0, |set, l| set | 1 << l)
    }

    /// Visits the value at the scanner. `applying`: paths that ended at this value or above
    /// it, so their rule applies to every scalar here; `pending`: paths that continue below,
    /// each having matched `depth` segments.
    fn visit(
        &self,
        sc: &mut Scanner<'_>,
        depth: usize,
        applying: u64,
        pending: u64,
        ed: &mut Editor<'_>,
        ctx: &Ctx<'_>,
    ) -> Result<(), SanitizeError> {
        let ended = self.ends_at.get(depth).copied().unwrap_or(0);
        let here = applying | (pending & ended);
        let deeper = pending & !ended;
        if here == 0 && deeper == 0 {
            sc.skip_value().map_err(malformed)?;
            return Ok(());
        }
        if depth >= MAX_DEPTH {
            return Err(value::err(format!(
                "JSON value nested deeper than {MAX_DEPTH} levels"
            )));
        }
        match sc.peek().map_err(malformed)? {
            Kind::Object => {
                sc.expect(b'{').map_err(malformed)?;
                if sc.eat(b'}') {
                    return Ok(());
                }
                loop {
                    let key = sc.string().map_err(malformed)?;
                    sc.expect(b':').map_err(malformed)?;
                    let child = if deeper == 0 {
                        0
                    } else {
                        let name = sc.unescape(key).map_err(malformed)?;
                        self.children(deeper, depth, Step::Member(&name))
                    };
                    self.visit(sc, depth + 1, here, child, ed, ctx)?;
                    if !sc.eat(b',') {
                        break;
                    }
                }
                sc.expect(b'}').map_err(malformed)
            }
            Kind::Array => {
                sc.expect(b'[').map_err(malformed)?;
                if sc.eat(b']') {
                    return Ok(());
                }
                let mut index = 0;
                loop {
                    let child = self.children(deeper, depth, Step::Element(index));
                    self.visit(sc, depth + 1, here, child, ed, ctx)?;
                    index += 1;
                    if !sc.eat(b',') {
                        break;
                    }
                }
                sc.expect(b']').map_err(malformed)
            }
            Kind::String => {
                let t = sc.string().map_err(malformed)?;
                if here == 0 {
                    return Ok(());
                }
                let s = sc.unescape(t).map_err(malformed)?;
                self.apply(here, Scalar::Str(s), t.start, t.end, ed, ctx)
            }
            kind => {
                let start = sc.pos();
                let text = sc.scalar().map_err(malformed)?;
                if here == 0 {
                    return Ok(());
                }
                let v = match kind {
                    Kind::Number => Scalar::Num(Cow::Borrowed(text)),
                    Kind::True => Scalar::Bool(true),
                    Kind::False => Scalar::Bool(false),
                    _ => return Ok(()),
                };
                self.apply(here, v, start, sc.pos(), ed, ctx)
            }
        }
    }

    /// Runs the rules of the paths in `rules` over one scalar, in path order, and splices the
    /// result in when it changed.
    fn apply(
        &self,
        rules: u64,
        mut v: Scalar<'_>,
        start: usize,
        end: usize,
        ed: &mut Editor<'_>,
        ctx: &Ctx<'_>,
    ) -> Result<(), SanitizeError> {
        let mut changed = false;
        let mut out = std::mem::take(&mut ed.scratch);
        for l in bits(rules) {
            let leaf = &self.leaves[l];
            out.clear();
            let outcome = match &v {
                Scalar::Null => break,
                Scalar::Str(s) => match &leaf.text {
                    Some(t) => t.sanitize(Some(s.as_bytes()), ctx, &mut out)?,
                    None => Outcome::Same,
                },
                Scalar::Num(n) => match (&leaf.number, &leaf.text) {
                    (Some(rule), _) => number_rule(rule.as_ref(), n, ctx, &mut out)?,
                    (None, Some(t)) => t.sanitize(Some(n.as_bytes()), ctx, &mut out)?,
                    (None, None) => Outcome::Same,
                },
                Scalar::Bool(b) => match &leaf.text {
                    Some(t) => {
                        let text: &[u8] = if *b { b"true" } else { b"false" };
                        t.sanitize(Some(text), ctx, &mut out)?
                    }
                    None => Outcome::Same,
                },
            };
            match outcome {
                Outcome::Same => continue,
                Outcome::Null => v = Scalar::Null,
                Outcome::Value => {
                    let s = value::utf8(&out)?;
                    // A number or boolean stays one when the rule's text still reads as one.
                    v = match (&v, s) {
                        (Scalar::Num(_) | Scalar::Bool(_), "true") => Scalar::Bool(true),
                        (Scalar::Num(_) | Scalar::Bool(_), "false") => Scalar::Bool(false),
                        (Scalar::Num(_) | Scalar::Bool(_), n) if json_scan::is_number(n) => {
                            Scalar::Num(Cow::Owned(n.to_string()))
                        }
                        _ => Scalar::Str(Cow::Owned(s.to_string())),
                    };
                }
            }
            changed = true;
        }
        if changed {
            ed.replace(start, end, &v)?;
        }
        ed.scratch = out;
        Ok(())
    }
}

/// Applies a numeric rule (`number_noise`) to a JSON number through numeric's binary form;
/// the result, if any, is left in `out` as text.
fn number_rule(
    rule: &dyn ColumnSanitizer,
    n: &str,
    ctx: &Ctx<'_>,
    out: &mut Vec<u8>,
) -> Result<Outcome, SanitizeError> {
    let mut bin = Vec::new();
    // Exponents are outside numeric's text form: go through f64 then.
    let decimal = if n.contains(['e', 'E']) {
        n.parse::<f64>()
            .map(|f| format!("{f:.6}"))
            .unwrap_or_default()
    } else {
        n.to_string()
    };
    if value::numeric_from_str(&decimal, &mut bin).is_err() {
        return Ok(Outcome::Same);
    }
    let o = rule.sanitize(Some(&bin), ctx, out)?;
    if o == Outcome::Value {
        let s = value::numeric_to_string(out)?;
        out.clear();
        out.extend_from_slice(s.as_bytes());
    }
    Ok(o)
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
        let mark = out.len();
        value::json_prefix(self.oid, out);
        let mut ed = Editor {
            text,
            out,
            copied: 0,
            changed: false,
            scratch: Vec::new(),
        };
        let mut sc = Scanner::new(text);
        let all = match self.leaves.len() {
            0 => 0,
            n => u64::MAX >> (MAX_PATHS - n),
        };
        let visited = self.visit(&mut sc, 0, 0, all, &mut ed, ctx).and_then(|()| {
            if sc.at_end() {
                Ok(())
            } else {
                Err(malformed(format!(
                    "trailing characters at byte {}",
                    sc.pos()
                )))
            }
        });
        let (copied, changed) = (ed.copied, ed.changed);
        if let Err(e) = visited {
            out.truncate(mark);
            return Err(e);
        }
        if !changed {
            out.truncate(mark);
            return Ok(Outcome::Same);
        }
        out.extend_from_slice(&text.as_bytes()[copied..]);
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

    fn output_source(&self) -> OutputSource {
        OutputSource::Nested
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
            // A text leaf in a domain that also rules a unique column maps as that column
            // does (numbers keep the plain form: the unique forms of numeric rules are
            // permutations of a column's own range, which a leaf does not have).
            let leaf_unique = entry
                .get("rule")
                .and_then(toml::Value::as_str)
                .is_some_and(|r| {
                    let domain = entry
                        .get("domain")
                        .and_then(toml::Value::as_str)
                        .unwrap_or(args.domain);
                    args.unique_in(r, domain)
                });
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
                fields: Vec::new(),
                not_null: false,
                unique: leaf_unique && class == TypeClass::Text,
            };
            let mut sub = Vec::new();
            let text = takes(TypeClass::Text)
                .then(|| {
                    build_entry(
                        &entry,
                        &pseudo(TypeClass::Text, oids::TEXT),
                        args.row,
                        args.domain,
                        args.unique_domains,
                        args.dictionary,
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
                        args.unique_domains,
                        args.dictionary,
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
        if leaves.len() > MAX_PATHS {
            problems.push(format!(
                "parameter `paths`: at most {MAX_PATHS} paths per column, got {}",
                leaves.len()
            ));
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let longest = leaves.iter().map(|l| l.path.len()).max().unwrap_or(0);
        let mut ends_at = vec![0u64; longest + 1];
        for (i, l) in leaves.iter().enumerate() {
            ends_at[l.path.len()] |= 1 << i;
        }
        Ok(Box::new(JsonValue {
            leaves,
            ends_at,
            oid: args.column.scalar_oid,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::testing::{column, run};
    use serde_json::Value;

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
    fn edits_in_place_keeping_the_rest_byte_for_byte() {
        let col = column(TypeClass::Json, oids::JSON);
        let s = must(build(
            &Json,
            r#"paths = { "$.email" = { rule = "email", mail_domain = "example.com" }, "$.tags[1]" = "null", "$.profile" = "lorem", "$.profile.city" = "mask" }"#,
            &col,
        ));
        // json keeps its spacing, duplicate keys, escapes and member order.
        let doc = "{ \"id\" : 7,\n  \"email\": \"a@b.c\", \"email\" : \"d\\u0040e.f\", \"tags\": [\"x\", \"y\", 3],\n \"profile\": {\"bio\": \"Line one\\nline two\", \"age\": 41, \"ok\": true, \"city\": \"Leeds\", \"n\": null} }";
        let out = String::from_utf8(value_of(s.as_ref(), doc.as_bytes())).expect("UTF-8");
        assert!(out.starts_with("{ \"id\" : 7,\n  \"email\": \""), "{out}");
        let v: Value = serde_json::from_str(&out).expect("valid JSON out");
        assert_eq!(
            out.matches("@example.com").count(),
            2,
            "both duplicates sanitized: {out}"
        );
        assert!(
            !out.contains("a@b.c") && !out.contains("d\\u0040e.f"),
            "{out}"
        );
        assert_eq!(v["tags"], serde_json::json!(["x", null, 3]));
        let p = &v["profile"];
        assert!(p["bio"].as_str().is_some_and(|b| b != "Line one\nline two"));
        assert!(p["age"].is_string() || p["age"].is_number());
        assert_ne!(p["city"], "Leeds");
        assert!(p["n"].is_null());
        // The whole-object rule ran first, then the mask on its output.
        assert!(p["city"].as_str().is_some_and(|c| c.contains('*')), "{p}");
        // Unchanged documents are reported as such; nothing partial is left on errors.
        let (o, _) = run(s.as_ref(), Some(b"{\"email\": null, \"tags\": [1]}"));
        assert_eq!(o, Outcome::Same);
        let k = crate::sanitize::testing::key();
        let ctx = Ctx { key: &k, row: None };
        for bad in [
            &b"{\"email\": \"x\"} extra"[..],
            b"{\"email\": \"x\"",
            b"[1,",
        ] {
            let mut o = b"kept".to_vec();
            assert!(s.sanitize(Some(bad), &ctx, &mut o).is_err());
            assert_eq!(o, b"kept");
        }
        let deep = format!("{{\"profile\": {}1{}}}", "[".repeat(600), "]".repeat(600));
        let e = s
            .sanitize(Some(deep.as_bytes()), &ctx, &mut Vec::new())
            .expect_err("too deep");
        assert!(e.to_string().contains("deeper"), "{e}");
        // Subtrees no path reaches are skipped, however deep.
        let (o, _) = run(
            s.as_ref(),
            Some(deep.replace("profile", "other").as_bytes()),
        );
        assert_eq!(o, Outcome::Same);
    }

    #[test]
    fn numbers_and_booleans() {
        let col = column(TypeClass::Json, oids::JSONB);
        let s = must(build(
            &Json,
            r#"paths = { "$.n" = { rule = "number_noise", percent = 50 }, "$.big" = { rule = "number_noise", percent = 50 }, "$.flag" = { rule = "choice", values = ["yes", "no"] } }"#,
            &col,
        ));
        let out = value_of(
            s.as_ref(),
            b"\x01{\"n\": 1000, \"big\": 1.5e3, \"flag\": true}",
        );
        let v: Value = serde_json::from_slice(&out[1..]).expect("JSON out");
        assert!(v["n"].is_number() && v["n"] != 1000, "{v}");
        assert!(v["big"].is_number(), "{v}");
        assert!(v["flag"] == "yes" || v["flag"] == "no", "{v}");
        // `$` is the whole document, here a bare string.
        let whole = must(build(&Json, r#"paths = { "$" = "lorem" }"#, &col));
        let out = value_of(whole.as_ref(), b"\x01 \"hello there\" ");
        let v: Value = serde_json::from_slice(&out[1..]).expect("JSON out");
        assert!(v.is_string() && v != "hello there", "{v}");
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
        let many: Vec<String> = (0..65).map(|i| format!("\"$.k{i}\" = \"lorem\"")).collect();
        let e = build(&Json, &format!("paths = {{ {} }}", many.join(", ")), &col)
            .err()
            .expect("too many paths refused");
        assert!(e.contains("at most 64 paths"), "{e}");
    }

    #[test]
    fn a_text_leaf_in_a_unique_domain_maps_as_the_unique_column_does() {
        let email = registry::lookup("email").unwrap_or(&Json);
        let mut unique_col = column(TypeClass::Text, oids::TEXT);
        unique_col.unique = true;
        let unique_fake = text_of(must(build(email, "", &unique_col)).as_ref(), "a@b.c");
        let plain_fake = text_of(
            must(build(email, "", &column(TypeClass::Text, oids::TEXT))).as_ref(),
            "a@b.c",
        );
        assert_ne!(unique_fake, plain_fake);
        let col = column(TypeClass::Json, oids::JSON);
        let paths =
            r#"paths = { "$.email" = "email", "$.other" = { rule = "email", domain = "e" } }"#;
        let s = must(build_in(&Json, paths, &col, &unique_pair("email", "d")));
        let out = text_of(s.as_ref(), r#"{"email": "a@b.c", "other": "a@b.c"}"#);
        let v: Value = serde_json::from_str(&out).expect("valid JSON out");
        assert_eq!(v["email"], unique_fake.as_str(), "{out}");
        assert_ne!(v["other"], unique_fake.as_str(), "{out}");
    }
}
