//! The skeleton checked the way `rules check` will check it: parsed, resolved against the
//! schema and built. An entry the check would reject becomes undecided with the check's own
//! message as its reason, so `rules init` followed by `rules check` never disagree.

use std::collections::HashMap;
use std::path::Path;

use super::follow::{follow_keys, KeyLink};
use super::{Entry, TableSection, UNDECIDED_COMMENT};
use crate::catalog::{SourceCatalog, Table};
use crate::rules::{self, file, Diagnostic};

/// Rounds of "check, mark what it rejects undecided": each round only adds marks, and a
/// marked column cannot be rejected again, so a few rounds settle any file.
const ROUNDS: usize = 8;

/// Renders `sections` with `render` until `rules check` would accept every entry; returns the
/// final text, or the problems it could not pin on a column (none expected).
pub fn settle(
    sections: &mut [TableSection],
    links: &[KeyLink],
    catalog: &SourceCatalog,
    tables: &[Table],
    render: impl Fn(&[TableSection]) -> String,
) -> Result<String, Vec<Diagnostic>> {
    // Diagnostics name partitions; the file has their partitioned table's section.
    let section_of: HashMap<String, String> = tables
        .iter()
        .map(|t| {
            let name = t.display_name();
            (name.clone(), t.partition_root.clone().unwrap_or(name))
        })
        .collect();
    let mut problems = Vec::new();
    for _ in 0..ROUNDS {
        follow_keys(sections, links);
        let text = render(sections);
        problems = check(&text, catalog, tables);
        if problems.is_empty() {
            return Ok(text);
        }
        let mut marked = false;
        for d in &problems {
            let (Some(table), Some(column)) = (&d.table, &d.column_name) else {
                continue;
            };
            let section = section_of.get(table).unwrap_or(table);
            let Some((_, s)) = sections
                .iter_mut()
                .find(|t| &t.name == section)
                .and_then(|t| t.columns.iter_mut().find(|(c, _)| c == column))
            else {
                continue;
            };
            if matches!(s.entry, Entry::Undecided(_)) {
                continue;
            }
            s.entry = Entry::Undecided(format!(
                "the suggested entry does not pass `rules check`: {}",
                d.message
            ));
            s.reason = UNDECIDED_COMMENT.to_string();
            marked = true;
        }
        if !marked {
            break;
        }
    }
    Err(problems)
}

/// What `rules check` reports about `text`, except undecided columns.
fn check(text: &str, catalog: &SourceCatalog, tables: &[Table]) -> Vec<Diagnostic> {
    let (parsed, mut problems) = file::parse(Path::new("rules init"), text.to_string());
    let Some(parsed) = parsed else {
        return problems;
    };
    let files = [parsed];
    let (resolution, more) = rules::resolve(&files, catalog, tables);
    problems.extend(more);
    if let Err(more) = rules::build(&resolution, catalog, tables) {
        problems.extend(more);
    }
    problems
}
