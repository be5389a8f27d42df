//! Which production values the run's `scrub` rules look for inside free text: the distinct
//! values of every text column whose rule maps values by the keyed hash or masks them (names,
//! emails, streets…), each with the mapping of its column (rule, domain, parameters), so a
//! value found in a note is replaced exactly as its column is. Pure: the values themselves are
//! read by `source::dictionary`.

use crate::catalog::{quote_ident, SourceCatalog, Table};
use crate::sanitize::compose::RESERVED_KEYS;
use crate::sanitize::dictionary::{ignores_case, DomainMapping};
use crate::sanitize::{registry, OutputSource, TypeClass};

use super::Resolution;

/// One column whose distinct values feed the run's dictionary.
#[derive(Debug, Clone)]
pub struct ValueSource {
    /// `schema.table`, quoted.
    pub table: String,
    /// The column's name, quoted.
    pub column: String,
    pub mapping: DomainMapping,
}

/// Whether some rule of the run (at any depth: a `json` path, a `when` branch) is a `scrub`
/// that looks for production values.
pub fn wanted(resolution: &Resolution) -> bool {
    resolution
        .tables
        .iter()
        .flat_map(|t| &t.columns)
        .filter_map(|c| c.decided.as_ref())
        .any(|d| scrubs_values(&toml::Value::Table(d.entry.spec.clone())))
}

fn scrubs_values(value: &toml::Value) -> bool {
    match value {
        toml::Value::Table(t) => {
            let scrub = t.get("rule").and_then(toml::Value::as_str) == Some("scrub")
                && t.get("production_values").and_then(toml::Value::as_bool) != Some(false);
            scrub || t.values().any(scrubs_values)
        }
        toml::Value::Array(items) => items.iter().any(scrubs_values),
        _ => false,
    }
}

/// The columns to read, in table order.
pub fn sources(
    resolution: &Resolution,
    catalog: &SourceCatalog,
    tables: &[Table],
) -> Vec<ValueSource> {
    let mut out = Vec::new();
    for table in tables {
        let Some(decisions) = resolution.table(table.oid) else {
            continue;
        };
        for (column, decision) in table.columns.iter().zip(&decisions.columns) {
            let Some(decided) = decision
                .decided
                .as_ref()
                .filter(|_| !decision.passes_through())
            else {
                continue;
            };
            let info = super::column_info(table, column, &catalog.types);
            if info.class != TypeClass::Text || info.array {
                continue;
            }
            let rule = decided.entry.rule();
            let maps_values = registry::lookup(rule).is_some_and(|r| {
                matches!(
                    r.output_source(),
                    OutputSource::KeyedHash | OutputSource::Masked
                )
            });
            if !maps_values {
                continue;
            }
            let params = decided
                .entry
                .spec
                .iter()
                .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.push(ValueSource {
                table: table.qualified(),
                column: quote_ident(&column.name),
                mapping: DomainMapping {
                    rule: rule.to_string(),
                    domain: decided.domain.clone(),
                    params,
                    case_insensitive: ignores_case(rule),
                },
            });
        }
    }
    out
}
