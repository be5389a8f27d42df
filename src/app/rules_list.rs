//! `restage rules list` and `restage rules explain NAME`: the built-in rules, from their own
//! declarations (`RuleSpec`), as text or JSON.

use serde_json::{json, Value};

use super::Failure;
use crate::cli::{RulesExplainArgs, RulesListArgs};
use crate::exit;
use crate::sanitize::compose::{edit_distance, RESERVED_KEYS};
use crate::sanitize::registry;
use crate::sanitize::spec::{MaxLen, OutputSource, ParamKind, RuleSpec, TypeClass};

pub fn list(args: &RulesListArgs) -> Result<(), Failure> {
    let specs: Vec<&RuleSpec> = registry::all().iter().map(|r| r.spec()).collect();
    if args.json {
        let all: Vec<Value> = specs.iter().map(|s| spec_json(s)).collect();
        println!("{}", pretty(&Value::Array(all))?);
        return Ok(());
    }
    print!("{}", list_table(&specs));
    Ok(())
}

pub fn explain(args: &RulesExplainArgs) -> Result<(), Failure> {
    let Some(rule) = registry::lookup(&args.name) else {
        return Err(Failure::new(exit::USAGE, unknown(&args.name)));
    };
    let spec = rule.spec();
    if args.json {
        println!("{}", pretty(&spec_json(spec))?);
    } else {
        print!("{}", explain_text(spec, rule.output_source()));
    }
    Ok(())
}

fn pretty(value: &Value) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot encode JSON: {e}")))
}

/// `unknown rule "kep" (did you mean "keep"?) …`, naming the closest rules.
fn unknown(name: &str) -> String {
    let mut close: Vec<(usize, &str)> = registry::all()
        .iter()
        .map(|r| r.spec().name)
        .map(|known| (edit_distance(known, name), known))
        .filter(|(d, known)| *d <= 2.max(known.chars().count() / 3))
        .collect();
    close.sort();
    let hint = match close.first() {
        Some((_, known)) => format!(" (did you mean {known:?}?)"),
        None => String::new(),
    };
    format!("unknown rule {name:?}{hint}; `restage rules list` shows the rules of this build")
}

fn accepts(spec: &RuleSpec) -> String {
    if TypeClass::ALL.iter().all(|c| spec.accepts.contains(c)) {
        return "any".to_string();
    }
    spec.accepts
        .iter()
        .map(TypeClass::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn max_len(spec: &RuleSpec) -> String {
    match spec.max_len {
        MaxLen::Unbounded => "unbounded".to_string(),
        MaxLen::Chars(n) => n.to_string(),
        MaxLen::SameAsInput => "fits column".to_string(),
        MaxLen::Param(p) => format!("`{p}`"),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Width `rules list` keeps within: a 100-column terminal shows it unwrapped.
const LIST_WIDTH: usize = 100;

/// One block per rule: name and guarantees on the first line with the accepted types (wrapped
/// in their column), then the summary below, indented under the guarantees.
fn list_table(specs: &[&RuleSpec]) -> String {
    let header = ["RULE", "NULL?", "UNIQUE?", "MAX LENGTH"];
    let rows: Vec<[String; 4]> = specs
        .iter()
        .map(|s| {
            [
                s.name.to_string(),
                yes_no(s.may_produce_null).to_string(),
                yes_no(s.unique_preserving).to_string(),
                max_len(s),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let cells = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}  "))
            .collect()
    };
    let accepts_at = widths.iter().map(|w| w + 2).sum::<usize>();
    let summary_at = widths[0] + 2;
    let mut out = cells(&header.map(String::from)) + "ACCEPTS\n";
    for (row, spec) in rows.iter().zip(specs) {
        let mut lines = wrap(&accepts(spec), LIST_WIDTH - accepts_at).into_iter();
        out.push_str(&cells(row));
        out.push_str(&lines.next().unwrap_or_default());
        out.push('\n');
        for more in lines {
            out.push_str(&format!("{:accepts_at$}{more}\n", ""));
        }
        for line in wrap(spec.summary, LIST_WIDTH - summary_at) {
            out.push_str(&format!("{:summary_at$}{line}\n", ""));
        }
    }
    out.push_str(
        "\nNULL?: may produce NULL (not for NOT NULL columns). UNIQUE?: distinct inputs stay \
         distinct\n(required on keys and UNIQUE columns). `restage rules explain NAME` shows a \
         rule's parameters\nand an example.\n",
    );
    out
}

/// `text` as lines of at most `width` characters, broken at spaces (a longer word keeps its
/// own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::String => "string",
        ParamKind::Integer => "integer",
        ParamKind::Float => "number",
        ParamKind::Bool => "bool",
        ParamKind::StringList => "list of strings",
        ParamKind::FloatList => "list of numbers",
        ParamKind::Table => "table",
    }
}

fn explain_text(spec: &RuleSpec, source: OutputSource) -> String {
    let mut out = format!("{}: {}\n\n", spec.name, spec.summary);
    if spec.params.is_empty() {
        out.push_str("Parameters: none\n");
    } else {
        out.push_str("Parameters:\n");
    }
    for p in spec.params {
        out.push_str(&format!(
            "  {} ({}, {}): {}\n",
            p.name,
            kind_name(p.kind),
            if p.required { "required" } else { "optional" },
            p.doc
        ));
    }
    out.push_str(&format!(
        "Any entry may also set `domain = \"NAME\"` (default: the rule's name): columns sharing a\n\
         rule and domain map equal values alike, UNIQUE or not, so joins on them still match.\n\
         Reserved keys: {}.\n",
        RESERVED_KEYS.join(", ")
    ));
    out.push_str(&format!(
        "\nAccepts: {} (domains count as their base type; arrays are sanitized element-wise)\n",
        accepts(spec)
    ));
    out.push_str("\nGuarantees:\n");
    out.push_str(if spec.may_produce_null {
        "  NULL:   may produce NULL, so it cannot go on a NOT NULL column\n"
    } else {
        "  NULL:   never turns a value into NULL\n"
    });
    out.push_str(if spec.unique_preserving {
        "  unique: distinct inputs give distinct outputs (fits primary keys and UNIQUE columns)\n"
    } else {
        "  unique: outputs may collide, so it cannot go on a primary key or UNIQUE column\n"
    });
    let length = match spec.max_len {
        MaxLen::Unbounded => "no bound, so it cannot go on a varchar(n) or char(n) column".into(),
        MaxLen::Chars(n) => format!("at most {n} characters (checked against varchar(n))"),
        MaxLen::SameAsInput => {
            "fits any varchar(n) or char(n): cut to the column's length where it would not fit; \
             on an unbounded column (text) it may be longer than the input"
                .into()
        }
        MaxLen::Param(p) => format!("at most `{p}` characters (set it to fit varchar(n))"),
    };
    out.push_str(&format!("  length: {length}\n"));
    out.push_str(&format!("  output: {}\n", output_text(source)));
    out.push_str(&format!("\nExample:\n  {}\n", spec.example));
    out
}

/// What a rule's output is made of, as `rules explain` states it.
fn output_text(source: OutputSource) -> &'static str {
    match source {
        OutputSource::KeyedHash => {
            "derived from the keyed hash of the value: never the original, and no run of 4 of \
             its digits or 6 of its characters in place beyond what the parameters keep"
        }
        OutputSource::Perturbed => "near the original on purpose, never equal to it",
        OutputSource::Masked => {
            "the original's characters, masked except those the parameters keep"
        }
        OutputSource::Parameters => {
            "built from the parameters or other columns, not from the value"
        }
        OutputSource::Nested => "other rules applied to parts of the value",
        OutputSource::Input => "the original value",
    }
}

fn spec_json(spec: &RuleSpec) -> Value {
    let (kind, value) = match spec.max_len {
        MaxLen::Unbounded => ("unbounded", Value::Null),
        MaxLen::Chars(n) => ("chars", json!(n)),
        MaxLen::SameAsInput => ("same_as_input", Value::Null),
        MaxLen::Param(p) => ("param", json!(p)),
    };
    json!({
        "name": spec.name,
        "summary": spec.summary,
        "params": spec.params.iter().map(|p| json!({
            "name": p.name,
            "kind": kind_name(p.kind),
            "required": p.required,
            "doc": p.doc,
        })).collect::<Vec<_>>(),
        "accepts": spec.accepts.iter().map(TypeClass::to_string).collect::<Vec<_>>(),
        "may_produce_null": spec.may_produce_null,
        "unique_preserving": spec.unique_preserving,
        "max_len": { "kind": kind, "value": value },
        "example": spec.example,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_a_row_per_rule_under_the_header() {
        let specs: Vec<&RuleSpec> = registry::all().iter().map(|r| r.spec()).collect();
        let text = list_table(&specs);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("RULE"), "{text}");
        let mut rows = lines.iter().filter(|l| !l.starts_with(' ')).skip(1);
        for spec in &specs {
            let row = rows.next().unwrap_or(&"");
            assert!(row.starts_with(&format!("{} ", spec.name)), "{text}");
        }
        // Every summary is there, word for word, wrapped within 100 columns.
        let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for spec in &specs {
            let summary = spec
                .summary
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(joined.contains(&summary), "{} in {text}", spec.name);
        }
        assert!(
            lines.iter().all(|l| l.chars().count() <= LIST_WIDTH),
            "{text}"
        );
    }

    #[test]
    fn unknown_names_get_the_closest_rule() {
        assert!(unknown("kep").contains("did you mean \"keep\"?"));
        assert!(unknown("nul").contains("did you mean \"null\"?"));
        assert!(!unknown("zzzzzzzz").contains("did you mean"));
    }

    /// The length line of `rules explain` matches what the rule does on a text column: on a
    /// unique one, the fake email for a short address is longer than the address.
    #[test]
    fn explain_states_the_length_email_produces() {
        use crate::sanitize::spec::{oids, TypeClass};
        use crate::sanitize::testing::{column, run};
        let Some(email) = registry::lookup("email") else {
            panic!("email is built in");
        };
        let text = explain_text(email.spec(), email.output_source());
        // A unique column, as an email column usually is: the keyed discriminator lengthens it.
        let mut col = column(TypeClass::Text, oids::TEXT);
        col.unique = true;
        let entry: toml::Table = toml::from_str("rule = \"email\"").unwrap_or_default();
        let built = crate::sanitize::build_column(&entry, &col, &[col.clone()], "d");
        let Ok(sanitizer) = built else {
            panic!("email builds on text");
        };
        let input = "yuki_dasilva3@outlook.com";
        let (_, out) = run(sanitizer.as_ref(), Some(input.as_bytes()));
        let longer = String::from_utf8_lossy(&out).chars().count() > input.chars().count();
        assert!(
            !longer || !text.contains("never longer than the input"),
            "{input} → {} but:\n{text}",
            String::from_utf8_lossy(&out)
        );
        assert!(text.contains("cut to the column's length"), "{text}");
    }

    #[test]
    fn explain_covers_the_declaration() {
        let Some(keep) = registry::lookup("keep") else {
            panic!("keep is built in");
        };
        let text = explain_text(keep.spec(), keep.output_source());
        assert!(text.starts_with("keep: "));
        assert!(text.contains("Parameters: none\n"));
        assert!(text.contains("Accepts: any"));
        assert!(text.contains(keep.spec().example));
        assert!(text.contains("  output: the original value\n"));
        let Some(phone) = registry::lookup("phone") else {
            panic!("phone is built in");
        };
        let text = explain_text(phone.spec(), phone.output_source());
        assert!(text.contains("never the original"), "{text}");
        let v = spec_json(keep.spec());
        assert_eq!(v["name"], "keep");
        assert_eq!(v["unique_preserving"], true);
        assert_eq!(v["max_len"]["kind"], "same_as_input");
    }
}
