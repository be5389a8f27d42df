//! Filling and emitting the run report shared by every data command: the privacy record from
//! the rules and key, the per-table lines from the pipeline's statistics, and the output
//! (`--json` on stdout, `--report FILE`, or the human summary).

use std::collections::HashMap;

use super::sanitizing::{self, Sanitizing};
use super::Failure;
use crate::cli::OutputArgs;
use crate::exit;
use crate::pipeline::{TablePlan, TableStats};
use crate::report::{ColumnRecord, Privacy, RunReport, TableRow};
use crate::rules::Origin;

/// Writes the report as `output` asks: to `--report FILE`, as JSON on stdout with `--json`, or
/// as the human summary unless `--quiet`; `headline` is a last line for people.
pub(super) fn emit(report: &RunReport, output: &OutputArgs, headline: &str) -> Result<(), Failure> {
    if let Some(path) = &output.report {
        std::fs::write(path, report.to_json()).map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot write the report to {}: {e}", path.display()),
            )
        })?;
    }
    if output.json {
        println!("{}", report.to_json());
    } else if !output.quiet && !report.steps.is_empty() {
        print!("{}", report.render());
        if !headline.is_empty() {
            println!("{headline}");
        }
    }
    Ok(())
}

/// blake3 over the rules files' bytes as they were read, in order (each prefixed by its length
/// as 8 little-endian bytes), or `none` with `--no-rules`.
pub(super) fn rules_digest(sanitizing: &Sanitizing) -> String {
    if sanitizing.verbatim {
        return "none".into();
    }
    let mut hasher = blake3::Hasher::new();
    for file in &sanitizing.files {
        let bytes = file.text.as_bytes();
        hasher.update(&u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
        hasher.update(bytes);
    }
    hasher.finalize().to_hex().to_string()
}

/// The privacy record of a run reading production values: rules files, their digest, the key's
/// fingerprint and every copied column's decision.
pub(super) fn privacy(
    sanitizing: &Sanitizing,
    plan: &sanitizing::Plan,
    tables: &[crate::catalog::Table],
) -> Privacy {
    Privacy {
        mode: if sanitizing.verbatim { "none" } else { "rules" }.into(),
        rules_files: sanitizing
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect(),
        rules_digest: Some(rules_digest(sanitizing)),
        key_fingerprint: sanitizing.key.as_ref().map(|k| k.fingerprint()),
        columns: column_records(plan, tables),
    }
}

/// One record per column of every copied table, in table and column order.
fn column_records(plan: &sanitizing::Plan, tables: &[crate::catalog::Table]) -> Vec<ColumnRecord> {
    let mut out = Vec::new();
    for table in tables {
        let decisions = plan.resolution.table(table.oid);
        for column in &table.columns {
            let decided = decisions
                .and_then(|d| d.columns.iter().find(|c| c.column == column.name))
                .and_then(|c| c.decided.as_ref());
            let record = match decided {
                Some(d) => ColumnRecord {
                    table: table.display_name(),
                    column: column.name.clone(),
                    type_name: column.type_name.clone(),
                    decision: if d.entry.is_plain_keep() {
                        "keep"
                    } else {
                        "rule"
                    }
                    .into(),
                    rule: Some(d.entry.rule().to_string()),
                    domain: (!d.entry.is_plain_keep()).then(|| d.domain.clone()),
                    origin: Some(origin(&d.origin)),
                },
                // Without rules (--no-rules) or let through by --allow-undecided.
                None => ColumnRecord {
                    table: table.display_name(),
                    column: column.name.clone(),
                    type_name: column.type_name.clone(),
                    decision: if decisions.is_some() {
                        "undecided-allowed"
                    } else {
                        "keep"
                    }
                    .into(),
                    rule: None,
                    domain: None,
                    origin: decisions.is_none().then(|| "--no-rules".to_string()),
                },
            };
            out.push(record);
        }
    }
    out
}

fn origin(origin: &Origin) -> String {
    match origin {
        Origin::Explicit => "explicit".into(),
        Origin::Pattern { glob } => format!("pattern {glob:?}"),
        Origin::ForeignKey { references } => format!("references {references}"),
    }
}

/// `schema.table.column: rule` for the summary, with the reason when it is not the column's own
/// entry.
pub(super) fn sanitized_columns(plan: &sanitizing::Plan) -> Vec<String> {
    let mut out = Vec::new();
    for table in &plan.resolution.tables {
        for c in table.columns.iter().filter(|c| !c.passes_through()) {
            let Some(d) = &c.decided else { continue };
            let why = match &d.origin {
                Origin::Explicit => String::new(),
                Origin::Pattern { glob } => format!(" (default {glob:?})"),
                Origin::ForeignKey { references } => format!(" (references {references})"),
            };
            out.push(format!(
                "{}.{}: {}{why}",
                table.name,
                c.column,
                d.entry.rule()
            ));
        }
    }
    out
}

/// The per-table lines of a copy from the pipeline's statistics, in plan order.
/// `source_rows`: a table's rows in the source when fewer were copied (a row subset); the
/// other tables' source rows are the rows read.
pub(super) fn table_rows(
    plans: &[TablePlan],
    stats: &[TableStats],
    source_rows: &HashMap<u32, u64>,
) -> Vec<TableRow> {
    plans
        .iter()
        .zip(stats)
        .map(|(p, s)| TableRow {
            table: p.table.display_name(),
            rows: s.rows,
            bytes: s.bytes,
            seconds: s.copy_seconds,
            rows_per_second: if s.copy_seconds > 0.0 {
                s.rows as f64 / s.copy_seconds
            } else {
                0.0
            },
            parts: s.parts,
            post_seconds: s.post_seconds,
            source_rows: source_rows.get(&p.table.oid).copied().unwrap_or(s.rows),
            target_rows: s.written_rows,
            checksum: s.checksum(),
        })
        .collect()
}
