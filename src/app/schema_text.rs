//! The schema-text guard of commands that copy production's schema (clone, snapshot): before
//! anything is written, the texts `pg_dump` would copy verbatim are scanned for personal tokens
//! and for production values of sanitized columns. A hit stops the run naming the object,
//! unless a rules file acknowledges it (`[schema] acknowledge`).

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::sanitizing::{Plan, Sanitizing};
use super::Failure;
use crate::catalog::{quote_ident, schema_text, Table};
use crate::exit;
use crate::rules::schema_text::{candidates, detect};

/// Refuses the run when schema text holds personal data nobody acknowledged.
pub(super) fn guard(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    sanitizing: &Sanitizing,
    plan: &Plan,
    tables: &[Table],
    keep_comments: bool,
) -> Result<(), Failure> {
    if sanitizing.verbatim {
        // --no-rules: the user said the source holds nothing personal.
        return Ok(());
    }
    let acknowledged: BTreeSet<&str> = sanitizing
        .files
        .iter()
        .flat_map(|f| f.acknowledged.iter().map(String::as_str))
        .collect();
    let texts = rt
        .block_on(schema_text::load(client, keep_comments))
        .map_err(|e| Failure::new(exit::FAILURE, format!("source: reading the schema: {e}")))?;
    // object → what was found in it (kinds only, never values)
    let mut findings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut looked_up: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for text in texts
        .iter()
        .filter(|t| !acknowledged.contains(t.object.as_str()))
    {
        for kind in detect(text) {
            findings
                .entry(text.object.clone())
                .or_default()
                .insert(kind.what().to_string());
        }
        for candidate in candidates(text) {
            looked_up
                .entry(candidate)
                .or_default()
                .insert(text.object.clone());
        }
    }
    if !looked_up.is_empty() {
        let list: Vec<String> = looked_up.keys().cloned().collect();
        for decisions in &plan.resolution.tables {
            let changed: Vec<&str> = decisions
                .columns
                .iter()
                .filter(|c| !c.passes_through())
                .map(|c| c.column.as_str())
                .collect();
            let Some(table) = tables.iter().find(|t| t.oid == decisions.oid) else {
                continue;
            };
            if changed.is_empty() {
                continue;
            }
            let exprs: Vec<String> = changed.iter().map(|c| quote_ident(c)).collect();
            let hits = rt
                .block_on(schema_text::values_present(
                    client,
                    &table.qualified(),
                    &exprs,
                    &list,
                ))
                .map_err(|e| {
                    Failure::new(
                        exit::FAILURE,
                        format!(
                            "source: looking up schema literals in {}: {e}",
                            table.display_name()
                        ),
                    )
                })?;
            for (column, value) in hits {
                let Some(objects) = looked_up.get(&value) else {
                    continue;
                };
                let what = format!(
                    "a production value of {}.{}",
                    decisions.name,
                    changed.get(column).copied().unwrap_or("?")
                );
                for object in objects {
                    findings
                        .entry(object.clone())
                        .or_default()
                        .insert(what.clone());
                }
            }
        }
    }
    if findings.is_empty() {
        return Ok(());
    }
    let listing: Vec<String> = findings
        .iter()
        .map(|(object, what)| {
            format!(
                "{object}: {}",
                what.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    Err(Failure::new(
        exit::REFUSED,
        format!(
            "the schema would copy personal data to the target verbatim ({} object{}):\n  {}\n\
             Change these objects on production, or, if their text is not personal, list them in \
             a rules file: [schema] acknowledge = [\"{}\"]",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            listing.join("\n  "),
            findings.keys().next().map_or("", String::as_str)
        ),
    ))
}
