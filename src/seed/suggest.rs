//! The generator a column gets when the plan does not name one, and why: from its type,
//! constraints and name. `seed` uses it for unmentioned columns and `seed init` writes it.

use super::target::ColumnFacts;
use crate::sanitize::spec::{oids, ColumnInfo, TypeClass};

/// What happens to a column the plan does not mention.
#[derive(Debug, Clone, PartialEq)]
pub enum Suggestion {
    /// This generator entry (`rule` and its parameters).
    Generate(toml::Table, String),
    /// Left out of the rows: the database fills it (default, identity, generated).
    Database(String),
    /// Nothing restage can produce satisfies it (the reason says why).
    Impossible(String),
}

fn entry(rule: &str, params: &[(&str, toml::Value)]) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("rule".into(), rule.into());
    for (k, v) in params {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// Rule names for text columns, by what the column name says.
const TEXT_BY_NAME: &[(&str, &str)] = &[
    ("email", "email"),
    ("phone", "phone"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("username", "username"),
    ("company", "company"),
    ("city", "city"),
    ("country", "country"),
    ("street", "street"),
    ("address", "address"),
    ("postcode", "postcode"),
    ("zip", "postcode"),
    ("url", "url"),
    ("iban", "iban"),
    ("name", "person_name"),
];

/// The suggestion for `col`; `referenced` names the table a foreign key on it points to.
pub fn suggest(col: &ColumnInfo, facts: &ColumnFacts, referenced: Option<&str>) -> Suggestion {
    if let Some(parent) = referenced {
        return Suggestion::Generate(
            entry("reference", &[("table", parent.into())]),
            format!("foreign key to {parent}"),
        );
    }
    if facts.sequence.is_some() {
        return Suggestion::Generate(
            entry("sequence", &[]),
            "identity/serial: a block of the target's sequence".into(),
        );
    }
    if facts.defaulted {
        return Suggestion::Database("has a default: left to the database".into());
    }
    let checks = facts.checks.join(" AND ");
    if let Some(values) = in_list(&checks) {
        let values: Vec<toml::Value> = values.into_iter().map(Into::into).collect();
        if matches!(col.class, TypeClass::Text | TypeClass::Enum) && !col.array {
            return Suggestion::Generate(
                entry("choice", &[("values", toml::Value::Array(values))]),
                "CHECK … IN (…)".into(),
            );
        }
    }
    if col.array {
        return nullable_or(col, "array columns have no generator");
    }
    let (lo, hi) = bounds(&checks, &col.name);
    match col.class {
        TypeClass::Integer if col.unique => Suggestion::Generate(
            entry("sequence", &[]),
            "unique integer: after the largest value".into(),
        ),
        TypeClass::Integer => {
            let (tlo, thi) = crate::sanitize::value::int_bounds(col.scalar_oid);
            let min = lo.map_or(0, |v| v.ceil() as i64).max(tlo);
            let max = hi.map_or(min.max(0) + 1000, |v| v.floor() as i64).min(thi);
            Suggestion::Generate(
                entry("int_range", &[("min", min.into()), ("max", max.into())]),
                "integer (CHECK bounds when there are)".into(),
            )
        }
        TypeClass::Numeric => {
            let min = lo.unwrap_or(0.0);
            let max = hi.unwrap_or(min + 1000.0);
            Suggestion::Generate(
                entry(
                    "decimal_range",
                    &[
                        ("min", min.into()),
                        ("max", max.into()),
                        ("scale", 2.into()),
                    ],
                ),
                "number (CHECK bounds when there are)".into(),
            )
        }
        TypeClass::Date => Suggestion::Generate(
            entry(
                "date_range",
                &[("min", "2024-01-01".into()), ("max", "2025-12-31".into())],
            ),
            "date".into(),
        ),
        TypeClass::Timestamp => Suggestion::Generate(
            entry(
                "timestamp_range",
                &[
                    ("min", "2024-01-01 00:00:00".into()),
                    ("max", "2025-12-31 23:59:59".into()),
                ],
            ),
            "timestamp".into(),
        ),
        TypeClass::Uuid => Suggestion::Generate(entry("uuid", &[]), "uuid".into()),
        TypeClass::Enum if !facts.labels.is_empty() => {
            let values: Vec<toml::Value> = facts.labels.iter().map(|l| l.as_str().into()).collect();
            Suggestion::Generate(
                entry("choice", &[("values", toml::Value::Array(values))]),
                "enum labels".into(),
            )
        }
        TypeClass::Json => Suggestion::Generate(
            entry("constant", &[("value", "{}".into())]),
            "json: an empty object".into(),
        ),
        TypeClass::Text if !checks.contains('~') => {
            let lower = col.name.to_lowercase();
            let unique_ok = |rule: &str| {
                !col.unique
                    || crate::sanitize::registry::lookup(rule)
                        .is_some_and(|r| r.spec().unique_preserving)
            };
            let (rule, why) = TEXT_BY_NAME
                .iter()
                .find(|(part, rule)| lower.contains(part) && unique_ok(rule))
                .map(|(_, rule)| (*rule, "text, by its name"))
                .unwrap_or(if col.unique {
                    ("hash", "unique text")
                } else {
                    ("lorem", "text")
                });
            Suggestion::Generate(entry(rule, &[]), why.into())
        }
        TypeClass::Text if pattern(&checks).is_some_and(|p| accepts_hex(&p)) => {
            Suggestion::Generate(
                entry("hash", &[("output", "hex".into())]),
                "CHECK pattern: hex digits match it".into(),
            )
        }
        TypeClass::Text => nullable_or(col, "a CHECK with a pattern: give a generator"),
        _ if col.scalar_oid == oids::BOOL => nullable_or(col, "boolean: give a generator"),
        _ => nullable_or(
            col,
            &format!("no generator for type {}: give one", col.type_name),
        ),
    }
}

fn nullable_or(col: &ColumnInfo, why: &str) -> Suggestion {
    if col.not_null {
        Suggestion::Impossible(format!("{why} (the column is NOT NULL)"))
    } else {
        let mut t = toml::Table::new();
        t.insert("rule".into(), "null".into());
        Suggestion::Generate(t, format!("{why}; NULL for now"))
    }
}

/// The quoted strings of `col = ANY (ARRAY['a'::text, …])` in a CHECK definition.
pub fn in_list(check: &str) -> Option<Vec<String>> {
    let start = check.find("ANY (ARRAY[")? + "ANY (ARRAY[".len();
    let body = &check[start..];
    let end = body.find(']')?;
    let mut values = Vec::new();
    let mut rest = &body[..end];
    while let Some(open) = rest.find('\'') {
        let after = &rest[open + 1..];
        let mut value = String::new();
        let mut chars = after.char_indices().peekable();
        let mut close = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    value.push('\'');
                    chars.next();
                    continue;
                }
                close = Some(i);
                break;
            }
            value.push(c);
        }
        let close = close?;
        values.push(value);
        rest = &after[close + 1..];
    }
    (!values.is_empty()).then_some(values)
}

/// The pattern of `col ~ '…'` in a CHECK definition.
pub fn pattern(check: &str) -> Option<String> {
    let start = check.find(" ~ '")? + " ~ '".len();
    let body = &check[start..];
    let end = body.find("'::")?;
    Some(body[..end].replace("''", "'"))
}

/// Whether the hex text the `hash` rule writes matches `pattern` (a slug pattern does).
fn accepts_hex(pattern: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|re| {
        [
            "0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210",
        ]
        .iter()
        .all(|s| re.is_match(s))
    })
}

/// Lower and upper bounds `col >= n`, `col > n`, `col <= n`, `col < n` in a CHECK definition.
pub fn bounds(check: &str, column: &str) -> (Option<f64>, Option<f64>) {
    let (mut lo, mut hi) = (None, None);
    for op in [">=", "<=", ">", "<"] {
        let needle = format!("{column} {op} ");
        let mut from = 0;
        while let Some(at) = check[from..].find(&needle) {
            let after = &check[from + at + needle.len()..];
            from += at + needle.len();
            let number: String = after
                .trim_start_matches('(')
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            let Ok(v) = number.parse::<f64>() else {
                continue;
            };
            match op {
                ">=" => lo = Some(v),
                ">" => lo = Some(v + 1.0),
                "<=" => hi = Some(v),
                _ => hi = Some(v - 1.0),
            }
        }
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_lists_and_bounds_of_check_definitions() {
        let check = "CHECK ((plan = ANY (ARRAY['free'::text, 'team''s'::text])))";
        assert_eq!(
            in_list(check),
            Some(vec!["free".to_string(), "team's".to_string()])
        );
        assert_eq!(in_list("CHECK ((qty > 0))"), None);
        let (lo, hi) = bounds("CHECK (((qty > 0) AND (qty <= 100)))", "qty");
        assert_eq!((lo, hi), (Some(1.0), Some(100.0)));
        let (lo, _) = bounds("CHECK ((price >= (0)::numeric))", "price");
        assert_eq!(lo, Some(0.0));
        let slug = "CHECK ((slug ~ '^[a-z0-9-]+$'::text))";
        assert_eq!(pattern(slug).as_deref(), Some("^[a-z0-9-]+$"));
        assert!(accepts_hex("^[a-z0-9-]+$"));
        assert!(!accepts_hex("^[A-Z]{3}$"));
    }
}
