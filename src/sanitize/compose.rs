//! Builds one column's sanitizer from its rules-file entry: looks the rule up, checks its
//! parameters and its declaration against the column (type, NULL, UNIQUE, length).
//!
//! An entry is the inline table written for a column, e.g.
//! `{ rule = "email", domain = "person_email", mail_domain = "example.com" }`; the string form
//! `"keep"` is `{ rule = "keep" }`. Reserved keys: `rule`, `domain`, `when`.

use std::sync::Arc;

use super::dictionary::Dictionary;
use super::registry;
use super::spec::*;

/// Keys of an entry that are not rule parameters.
pub const RESERVED_KEYS: &[&str] = &["rule", "domain", "when"];

/// Every problem of one column's entry, each one sentence (the caller adds file, line, table
/// and column), or the sanitizer.
///
/// `when = [{ matches = "…", rule = "keep" }, { column = "kind", equals = "staff", rule =
/// "keep" }, { is_null = true, rule = "null" }]` tries branches in order (first match wins,
/// else the entry's own rule). On an array column the sanitizer applies to every element;
/// `keep` and `null` without `when` apply to the whole array.
pub fn build_column(
    entry: &toml::Table,
    column: &ColumnInfo,
    row: &[ColumnInfo],
    default_domain: &str,
) -> Result<Box<dyn ColumnSanitizer>, Vec<String>> {
    build_column_in(entry, column, row, default_domain, &NO_UNIQUE_DOMAINS, None)
}

/// [`build_column`] within a resolution whose `unique_domains` (rule + domain pairs that rule a
/// unique column) the rules that build inner rules need, and its dictionary of production
/// values (for `scrub`).
pub fn build_column_in(
    entry: &toml::Table,
    column: &ColumnInfo,
    row: &[ColumnInfo],
    default_domain: &str,
    unique_domains: &UniqueDomains,
    dictionary: Option<&Arc<Dictionary>>,
) -> Result<Box<dyn ColumnSanitizer>, Vec<String>> {
    let mut problems = Vec::new();
    let built = build_entry(
        entry,
        column,
        row,
        default_domain,
        unique_domains,
        dictionary,
        &mut problems,
    );
    match built {
        Some(s) if problems.is_empty() => {
            let whole = !entry.contains_key("when")
                && matches!(
                    entry.get("rule").and_then(toml::Value::as_str),
                    Some("keep" | "null")
                );
            if column.array && !whole {
                Ok(Box::new(super::array::Elementwise { element: s }))
            } else {
                Ok(s)
            }
        }
        _ => {
            if problems.is_empty() {
                problems.push("the rule could not be built".to_string());
            }
            Err(problems)
        }
    }
}

/// Builds one entry (a column's, a `when` branch's or a JSON path's), collecting problems.
pub fn build_entry(
    entry: &toml::Table,
    column: &ColumnInfo,
    row: &[ColumnInfo],
    default_domain: &str,
    unique_domains: &UniqueDomains,
    dictionary: Option<&Arc<Dictionary>>,
    problems: &mut Vec<String>,
) -> Option<Box<dyn ColumnSanitizer>> {
    let Some(name) = entry.get("rule") else {
        problems.push("missing `rule = \"…\"`".to_string());
        return None;
    };
    let Some(name) = name.as_str() else {
        problems.push("`rule` must be a string".to_string());
        return None;
    };
    let Some(rule) = registry::lookup(name) else {
        problems.push(unknown_rule(name));
        return None;
    };
    let domain = match entry.get("domain") {
        None => default_domain,
        Some(toml::Value::String(d)) => d.as_str(),
        Some(_) => {
            problems.push("`domain` must be a string".to_string());
            default_domain
        }
    };
    let branches = match entry.get("when") {
        None => Some(Vec::new()),
        Some(w) => super::when::build_branches(
            w,
            column,
            row,
            domain,
            unique_domains,
            dictionary,
            problems,
        ),
    };
    let mut params = toml::Table::new();
    for (k, v) in entry {
        if !RESERVED_KEYS.contains(&k.as_str()) {
            params.insert(k.clone(), v.clone());
        }
    }
    let spec = rule.spec();
    let before = problems.len();
    problems.extend(check_params(spec, &params));
    problems.extend(check_fit(spec, &params, column));
    if problems.len() > before {
        return None;
    }
    let main = match rule.build(&RuleArgs {
        params: &params,
        column,
        domain,
        row,
        unique_domains,
        dictionary,
    }) {
        Ok(s) => s,
        Err(e) => {
            problems.push(e);
            return None;
        }
    };
    match branches {
        Some(b) if b.is_empty() => Some(main),
        Some(b) => Some(Box::new(super::when::When::new(b, main))),
        None => None,
    }
}

pub fn unknown_rule(name: &str) -> String {
    let close = registry::all()
        .iter()
        .map(|r| r.spec().name)
        .find(|known| edit_distance(known, name) <= 2);
    match close {
        Some(known) => format!(
            "unknown rule {name:?} (did you mean {known:?}? `restage rules list` shows all)"
        ),
        None => format!("unknown rule {name:?} (`restage rules list` shows all)"),
    }
}

/// Unknown, missing and mistyped parameters.
pub fn check_params(spec: &RuleSpec, params: &toml::Table) -> Vec<String> {
    let mut problems = Vec::new();
    for (k, v) in params {
        match spec.params.iter().find(|p| p.name == k) {
            None => {
                let known: Vec<_> = spec.params.iter().map(|p| p.name).collect();
                problems.push(if known.is_empty() {
                    format!("rule {} takes no parameters, got `{k}`", spec.name)
                } else {
                    format!(
                        "rule {} has no parameter `{k}` (parameters: {})",
                        spec.name,
                        known.join(", ")
                    )
                });
            }
            Some(p) if !kind_matches(p.kind, v) => problems.push(format!(
                "parameter `{k}` of rule {} must be {}",
                spec.name,
                kind_name(p.kind)
            )),
            Some(_) => {}
        }
    }
    for p in spec.params.iter().filter(|p| p.required) {
        if !params.contains_key(p.name) {
            problems.push(format!(
                "rule {} needs parameter `{}` ({})",
                spec.name,
                p.name,
                kind_name(p.kind)
            ));
        }
    }
    problems
}

/// The rule's declaration against the column: type class, NOT NULL, UNIQUE, varchar(n).
pub fn check_fit(spec: &RuleSpec, params: &toml::Table, column: &ColumnInfo) -> Vec<String> {
    let mut problems = Vec::new();
    if !spec.accepts.contains(&column.class) {
        let accepts: Vec<_> = spec.accepts.iter().map(|c| c.to_string()).collect();
        problems.push(format!(
            "rule {} does not apply to type {} ({} class; it accepts {})",
            spec.name,
            column.type_name,
            column.class,
            accepts.join(", ")
        ));
    }
    if spec.may_produce_null && column.not_null {
        problems.push(format!(
            "rule {} may produce NULL but the column is NOT NULL",
            spec.name
        ));
    }
    if !spec.unique_preserving && column.unique {
        problems.push(format!(
            "rule {} does not preserve uniqueness but the column is part of a primary key or \
             unique index (use a unique-preserving rule such as hash, or keep)",
            spec.name
        ));
    }
    if let Some(limit) = column.max_chars {
        let produced = match spec.max_len {
            MaxLen::Unbounded => None,
            MaxLen::Chars(n) => Some(n),
            MaxLen::SameAsInput => Some(0),
            MaxLen::Param(p) => params
                .get(p)
                .and_then(toml::Value::as_integer)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        match (produced, spec.max_len) {
            (None, MaxLen::Param(p)) => problems.push(format!(
                "the column is {} but rule {} output has no bound: set `{p}` to at most {limit}",
                column.type_name, spec.name
            )),
            (None, _) => problems.push(format!(
                "the column is {} but rule {} output has no length bound",
                column.type_name, spec.name
            )),
            (Some(n), _) if n > limit => problems.push(format!(
                "rule {} may produce {n} characters but the column is {}",
                spec.name, column.type_name
            )),
            _ => {}
        }
    }
    problems
}

fn kind_matches(kind: ParamKind, v: &toml::Value) -> bool {
    use toml::Value as V;
    match kind {
        ParamKind::String => matches!(v, V::String(_)),
        ParamKind::Integer => matches!(v, V::Integer(_)),
        ParamKind::Float => matches!(v, V::Float(_) | V::Integer(_)),
        ParamKind::Bool => matches!(v, V::Boolean(_)),
        ParamKind::StringList => {
            matches!(v, V::Array(a) if a.iter().all(|x| matches!(x, V::String(_))))
        }
        ParamKind::FloatList => {
            matches!(v, V::Array(a) if a.iter().all(|x| matches!(x, V::Float(_) | V::Integer(_))))
        }
        ParamKind::Table => matches!(v, V::Table(_)),
    }
}

fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::String => "a string",
        ParamKind::Integer => "an integer",
        ParamKind::Float => "a number",
        ParamKind::Bool => "true or false",
        ParamKind::StringList => "a list of strings",
        ParamKind::FloatList => "a list of numbers",
        ParamKind::Table => "a table",
    }
}

/// Levenshtein distance, for "did you mean" hints on short names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::column;

    fn entry(src: &str) -> toml::Table {
        src.parse().expect("test entry parses")
    }

    #[test]
    fn unknown_rule_suggests_the_close_one() {
        let col = column(TypeClass::Text, oids::TEXT);
        let e = build_column(&entry(r#"rule = "kep""#), &col, &[], "d").err();
        let e = e.expect("refused");
        assert!(e[0].contains("did you mean \"keep\""), "{e:?}");
    }

    #[test]
    fn null_on_not_null_and_unknown_parameter_both_reported() {
        let mut col = column(TypeClass::Text, oids::TEXT);
        col.not_null = true;
        let e = build_column(&entry("rule = \"null\"\nsize = 3"), &col, &[], "d").err();
        let e = e.expect("refused");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e
            .iter()
            .any(|p| p.contains("takes no parameters, got `size`")));
        assert!(e.iter().any(|p| p.contains("NOT NULL")));
    }

    #[test]
    fn keep_fits_everything() {
        let mut col = column(TypeClass::Other, 600);
        col.unique = true;
        col.not_null = true;
        col.max_chars = Some(3);
        assert!(build_column(&entry(r#"rule = "keep""#), &col, &[], "d").is_ok());
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("keep", "kep"), 1);
        assert_eq!(edit_distance("email", "mail"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
