//! `restage verify`: a leak scan of a sanitized target against its source.
//!
//! - For every column whose rule changes values, no source value may remain: row by row
//!   through a kept primary key when there is one, else anywhere in the column.
//! - Every column of every table and materialized view of the target is swept for the
//!   production values of the sanitized columns (whole, or as tokens inside json, xml,
//!   composite, array and bytea text), and kept columns for personal data by shape.
//! - Row counts per table, and the target's own record of the clone (its database comment).
//!   After a subset clone, each table's count is compared with the rows the same subset
//!   selects on the source (given as `expected`), not with the whole table.
//!
//! The target passes only when nothing is found and it is a complete clone.

mod roles;
pub mod scan;
pub mod sweep;
pub mod tokens;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tokio_postgres::Client;

use crate::catalog::{quote_ident, SourceCatalog, Table};
use crate::rules::{Origin, Resolution};
use crate::sink::target::{marks_subset, COMPLETE_MARK, INCOMPLETE_MARK};
use roles::{class_of, look, mail_domains, needle_sources, permutes};
use roles::{RANGE_PRESERVING, SMALL_OUTPUT_DOMAIN};
pub use scan::Mode;
use sweep::Look;

#[derive(Debug, Clone, Serialize)]
pub struct ColumnCheck {
    pub table: String,
    pub column: String,
    pub rule: String,
    /// How the rule came to the column (its own entry, a default, a foreign key).
    pub origin: Origin,
    pub mode: Option<Mode>,
    /// Why the column was not scanned.
    pub skipped: Option<String>,
    pub compared: u64,
    pub leaks: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableCount {
    pub table: String,
    /// Rows of the table in the source, or with a subset the rows the subset selects there.
    pub source_rows: i64,
    pub target_rows: i64,
}

/// One thing that fails verification, named without the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub table: String,
    /// None for a table-wide finding (`row_count`).
    pub column: Option<String>,
    /// `unchanged_value` (a sanitized column still holding production values),
    /// `production_value` (a sanitized column's production value found in this column),
    /// `email`, `phone`, `card_number`, `iban` (personal data by shape in a kept column),
    /// `row_count` (source and target differ by `count` rows).
    pub kind: &'static str,
    /// Values (rows) concerned.
    pub count: u64,
}

/// What the target's database comment says about the clone that made it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    Complete,
    Incomplete,
    /// No restage clone record: not known to be complete.
    #[default]
    Unmarked,
}

impl TargetState {
    pub fn from_comment(comment: Option<&str>) -> TargetState {
        match comment {
            Some(c) if c.starts_with(COMPLETE_MARK) => TargetState::Complete,
            Some(c) if c.starts_with(INCOMPLETE_MARK) => TargetState::Incomplete,
            _ => TargetState::Unmarked,
        }
    }
}

/// Size of the whole-target sweep.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepSummary {
    pub relations: usize,
    pub columns: usize,
    /// Distinct production values of sanitized columns looked for.
    pub production_values: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub target_state: TargetState,
    /// Everything that fails verification; empty on a clean, complete target.
    pub findings: Vec<Finding>,
    pub columns: Vec<ColumnCheck>,
    pub tables: Vec<TableCount>,
    pub sweep: SweepSummary,
    /// Columns no rule decides (listed, swept like kept columns).
    pub undecided: Vec<String>,
    /// Row counts were compared with the rows a subset selects on the source.
    pub subset: bool,
    /// The target's database comment says it holds a row subset.
    pub target_subset: bool,
}

impl VerifyReport {
    pub fn leaks(&self) -> u64 {
        self.columns.iter().map(|c| c.leaks).sum()
    }

    /// Values found by the sweep (production values elsewhere, personal data by shape).
    pub fn swept_values(&self) -> u64 {
        self.findings
            .iter()
            .filter(|f| f.column.is_some() && f.kind != "unchanged_value")
            .map(|f| f.count)
            .sum()
    }

    /// A subset clone verified without its subset: its counts say nothing.
    pub fn subset_not_given(&self) -> bool {
        self.target_subset && !self.subset
    }

    /// Tables whose counts differ (none when the counts cannot be compared).
    fn mismatched(&self) -> impl Iterator<Item = &TableCount> {
        let comparable = !self.subset_not_given();
        self.tables
            .iter()
            .filter(move |t| comparable && t.source_rows != t.target_rows)
    }

    pub fn count_mismatches(&self) -> usize {
        self.mismatched().count()
    }

    /// Nothing found, and the target is a complete clone with the source's row counts (or,
    /// for a subset, the counts of the rows the subset selects).
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
            && self.target_state == TargetState::Complete
            && !self.subset_not_given()
    }

    /// The findings list from the column checks, the row counts and the sweep's hits.
    fn collect_findings(&mut self, swept: Vec<Finding>) {
        let mut findings: Vec<Finding> = self
            .columns
            .iter()
            .filter(|c| c.leaks > 0)
            .map(|c| Finding {
                table: c.table.clone(),
                column: Some(c.column.clone()),
                kind: "unchanged_value",
                count: c.leaks,
            })
            .collect();
        findings.extend(self.mismatched().map(|t| Finding {
            table: t.table.clone(),
            column: None,
            kind: "row_count",
            count: t.source_rows.abs_diff(t.target_rows),
        }));
        findings.extend(swept);
        self.findings = findings;
    }

    pub fn render(&self) -> String {
        let width = self
            .columns
            .iter()
            .map(|c| c.table.len() + c.column.len() + 1)
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = format!(
            "{:<width$}  {:<14}  {:<5}  {:>10}  {:>6}\n",
            "column", "rule", "mode", "values", "leaks"
        );
        for c in &self.columns {
            let mode = match c.mode {
                Some(Mode::Row) => "row",
                Some(Mode::Set) => "set",
                None => "-",
            };
            out.push_str(&format!(
                "{:<width$}  {:<14}  {:<5}  {:>10}  {:>6}{}\n",
                format!("{}.{}", c.table, c.column),
                c.rule,
                mode,
                c.compared,
                c.leaks,
                c.skipped
                    .as_ref()
                    .map(|s| format!("  (not scanned: {s})"))
                    .unwrap_or_default()
            ));
        }
        let selected = if self.subset {
            " selected by the subset"
        } else {
            ""
        };
        for t in self.mismatched() {
            out.push_str(&format!(
                "row counts differ: {} has {} rows{selected} in the source now, {} in the target \
                 (the source may have changed since the clone)\n",
                t.table, t.source_rows, t.target_rows
            ));
        }
        if self.subset_not_given() {
            out.push_str(SUBSET_NOT_GIVEN);
            out.push('\n');
        }
        for u in &self.undecided {
            out.push_str(&format!("undecided, swept as kept: {u}\n"));
        }
        let swept: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.column.is_some() && f.kind != "unchanged_value")
            .collect();
        if !swept.is_empty() {
            out.push_str("found in the target (values counted, never shown):\n");
            let width = swept
                .iter()
                .map(|f| f.table.len() + f.column.as_ref().map_or(0, String::len) + 1)
                .max()
                .unwrap_or(0);
            for f in swept {
                let column = format!("{}.{}", f.table, f.column.as_deref().unwrap_or(""));
                out.push_str(&format!(
                    "  {column:<width$}  {:<16}  {:>8} value{}\n",
                    f.kind,
                    f.count,
                    if f.count == 1 { "" } else { "s" }
                ));
            }
        }
        let scanned = self.columns.iter().filter(|c| c.mode.is_some()).count();
        out.push_str(&format!(
            "{} leak{} in {scanned} scanned column{}; {} table{} counted, {} mismatch{}\n",
            self.leaks(),
            if self.leaks() == 1 { "" } else { "s" },
            if scanned == 1 { "" } else { "s" },
            self.tables.len(),
            if self.tables.len() == 1 { "" } else { "s" },
            self.count_mismatches(),
            if self.count_mismatches() == 1 {
                ""
            } else {
                "es"
            },
        ));
        let found = self.swept_values();
        out.push_str(&format!(
            "{} finding{} in {} columns of {} tables and materialized views swept for {} \
             production values and personal data\n",
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            self.sweep.columns,
            self.sweep.relations,
            self.sweep.production_values,
        ));
        if found > 0 {
            out.push_str(&format!(
                "{found} value{} in the target hold production or personal data\n",
                if found == 1 { "" } else { "s" }
            ));
        }
        out.push_str(match self.target_state {
            TargetState::Complete => "target marked complete\n",
            TargetState::Incomplete => "target marked INCOMPLETE: the clone did not finish\n",
            TargetState::Unmarked => "target not marked as a complete restage clone\n",
        });
        out
    }
}

/// Why the counts of a subset clone verified without its subset are not compared.
pub const SUBSET_NOT_GIVEN: &str =
    "row counts not compared: the target holds a row subset of the source (its database \
     comment says so); run verify with the clone's --subset arguments and rules files";

/// Sessions render values identically on both sides whatever the servers' defaults.
pub const SESSION_SETTINGS: &str =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'";

/// A second connection to each side: the sweep (source needles, then the whole target) runs
/// on it while the column scans and counts run on the first pair.
pub struct SweepSides<'a> {
    pub source: &'a Client,
    pub target: &'a Client,
}

/// Scans every sanitized column of `tables`, counts their rows on both sides and sweeps the
/// whole target. The target's state comes from its database comment (read by the caller).
/// `expected`: with a subset, the rows it selects per table oid (the source's counts then).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    source: &Client,
    target: &Client,
    sweep_sides: SweepSides<'_>,
    catalog: &SourceCatalog,
    tables: &[Table],
    resolution: &Resolution,
    target_comment: Option<&str>,
    expected: Option<&HashMap<u32, u64>>,
) -> Result<VerifyReport, tokio_postgres::Error> {
    for client in [source, target, sweep_sides.source, sweep_sides.target] {
        client.batch_execute(SESSION_SETTINGS).await?;
    }
    let mut report = VerifyReport {
        target_state: TargetState::from_comment(target_comment),
        subset: expected.is_some(),
        target_subset: target_comment.is_some_and(marks_subset),
        undecided: resolution
            .undecided()
            .into_iter()
            .map(|(t, c, ty)| format!("{t}.{c} ({ty})"))
            .collect(),
        ..VerifyReport::default()
    };
    let mut summary = SweepSummary::default();
    let (scanned, swept) = tokio::join!(
        scan_columns(source, target, catalog, tables, resolution, expected),
        sweep_target(
            sweep_sides.source,
            sweep_sides.target,
            catalog,
            tables,
            resolution,
            &mut summary,
        )
    );
    (report.tables, report.columns) = scanned?;
    report.sweep = summary;
    report.collect_findings(swept?);
    Ok(report)
}

/// Row counts of `tables` on both sides, and the scan of every sanitized column.
async fn scan_columns(
    source: &Client,
    target: &Client,
    catalog: &SourceCatalog,
    tables: &[Table],
    resolution: &Resolution,
    expected: Option<&HashMap<u32, u64>>,
) -> Result<(Vec<TableCount>, Vec<ColumnCheck>), tokio_postgres::Error> {
    let (mut counts, mut columns) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    for table in tables {
        let qualified = table.qualified();
        let count = format!("SELECT count(*) FROM ONLY {qualified}");
        let source_rows = match expected {
            Some(selected) => selected.get(&table.oid).map_or(0, |&n| n as i64),
            None => source.query_one(&count, &[]).await?.get(0),
        };
        counts.push(TableCount {
            table: table.display_name(),
            source_rows,
            target_rows: target.query_one(&count, &[]).await?.get(0),
        });
        let Some(decisions) = resolution.table(table.oid) else {
            continue;
        };
        // Row mode needs a primary key that travelled unchanged.
        let key_kept = !table.primary_key.is_empty()
            && table.primary_key.iter().all(|k| {
                decisions
                    .columns
                    .iter()
                    .any(|c| &c.column == k && c.passes_through())
            });
        let key = key_kept.then(|| {
            let cols: Vec<String> = table.primary_key.iter().map(|k| quote_ident(k)).collect();
            format!("ROW({})", cols.join(", "))
        });
        for decision in decisions.columns.iter().filter(|c| !c.passes_through()) {
            let Some(decided) = &decision.decided else {
                continue;
            };
            let rule = decided.entry.rule().to_string();
            let mut check = ColumnCheck {
                table: table.display_name(),
                column: decision.column.clone(),
                rule: rule.clone(),
                origin: decided.origin.clone(),
                mode: None,
                skipped: None,
                compared: 0,
                leaks: 0,
            };
            if RANGE_PRESERVING.contains(&rule.as_str()) {
                check.skipped = Some(format!("{rule} keeps values in the original's range"));
            } else if key.is_none() && SMALL_OUTPUT_DOMAIN.contains(&rule.as_str()) {
                check.skipped = Some(format!(
                    "{rule} draws from a small set of real-looking values; without a kept \
                     primary key only a row-by-row comparison would mean anything"
                ));
            } else if key.is_none() && permutes(&rule, class_of(catalog, table, decision)) {
                check.skipped = Some(format!(
                    "{rule} is a keyed permutation of the column's range, so the target holds \
                     the same set of values; without a kept primary key there is no row to \
                     compare with"
                ));
            } else {
                let mode = if key.is_some() { Mode::Row } else { Mode::Set };
                let sql = scan::query(&qualified, &quote_ident(&decision.column), key.as_deref());
                let counted = scan::compare(source, target, &sql, mode).await?;
                check.mode = Some(mode);
                check.compared = counted.compared;
                check.leaks = counted.leaks;
                if decided.entry.spec.contains_key("when") && counted.leaks > 0 {
                    check.skipped =
                        Some("leaks include values a `when` branch keeps on purpose".to_string());
                }
            }
            columns.push(check);
        }
    }
    tracing::debug!(
        "verify: counts and column scans took {:.2?}",
        started.elapsed()
    );
    Ok((counts, columns))
}

/// Sweeps every table and materialized view of the target; returns what it found.
async fn sweep_target(
    source: &Client,
    target: &Client,
    catalog: &SourceCatalog,
    tables: &[Table],
    resolution: &Resolution,
    summary: &mut SweepSummary,
) -> Result<Vec<Finding>, tokio_postgres::Error> {
    let sweep_started = std::time::Instant::now();
    let started = std::time::Instant::now();
    let needles =
        Arc::new(sweep::needles(source, &needle_sources(catalog, tables, resolution)).await?);
    tracing::debug!(
        "verify: {} needles read in {:.2?}",
        needles.len(),
        started.elapsed()
    );
    summary.production_values = needles.len();
    let generated = Arc::new(tokens::Generated::new(mail_domains(resolution)));
    let selected: HashSet<String> = tables.iter().map(Table::display_name).collect();
    let known: HashSet<String> = catalog.tables.iter().map(Table::display_name).collect();
    let mut found = Vec::new();
    for relation in sweep::relations(target).await? {
        let name = relation.display_name();
        // A source table left out by --table/--exclude-table is not the run's business.
        if !relation.matview && known.contains(&name) && !selected.contains(&name) {
            continue;
        }
        let decisions = resolution.tables.iter().find(|t| t.name == name);
        let looks: Vec<Look> = relation
            .columns
            .iter()
            .map(|c| {
                let decision =
                    decisions.and_then(|d| d.columns.iter().find(|x| x.column == c.name));
                look(decision, c, relation.matview)
            })
            .collect();
        summary.relations += 1;
        summary.columns += looks.iter().filter(|l| l.needles || l.shapes).count();
        let started = std::time::Instant::now();
        let hits = sweep::sweep(target, &relation, &looks, &needles, &generated).await?;
        tracing::debug!("verify: swept {name} in {:.2?}", started.elapsed());
        for (column, hit) in relation.columns.iter().zip(hits) {
            let finding = |kind: &'static str, count: u64| Finding {
                table: name.clone(),
                column: Some(column.name.clone()),
                kind,
                count,
            };
            if hit.production_values > 0 {
                found.push(finding("production_value", hit.production_values));
            }
            for (shape, count) in hit.shapes {
                found.push(finding(shape.name(), count));
            }
        }
    }
    tracing::debug!("verify: sweep took {:.2?}", sweep_started.elapsed());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_comment_says_whether_the_clone_is_complete() {
        let state = |c: Option<&str>| TargetState::from_comment(c);
        assert_eq!(
            state(Some("restage: complete clone from x at y")),
            TargetState::Complete
        );
        assert_eq!(
            state(Some(
                "restage: INCOMPLETE clone from x started y; do not use"
            )),
            TargetState::Incomplete
        );
        assert_eq!(state(Some("staging")), TargetState::Unmarked);
        assert_eq!(state(None), TargetState::Unmarked);
    }
}
