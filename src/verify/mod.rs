//! `restage verify`: a leak scan of a sanitized target against its source. For every column
//! whose rule changes values, no source value may appear in the target: row by row through a
//! kept primary key when there is one, else anywhere in the column. Plus row counts per table.

pub mod scan;

use serde::Serialize;
use tokio_postgres::Client;

use crate::catalog::{quote_ident, Table};
use crate::rules::{Origin, Resolution};
pub use scan::Mode;

/// Rules whose output shares the original's range by design (a shifted date may equal another
/// row's date; a choice from a list may pick the original): value equality says nothing about
/// a leak there, so they are listed but not scanned.
const RANGE_PRESERVING: &[&str] = &["choice", "constant", "int_range", "number_noise"];

/// Rules drawing from small sets of realistic values (first names, cities): another row's real
/// value turns up by chance, so without a kept primary key to compare row by row they are
/// not scanned either.
const SMALL_OUTPUT_DOMAIN: &[&str] = &[
    "first_name",
    "last_name",
    "city",
    "country",
    "postcode",
    "date_shift",
];

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
    pub source_rows: i64,
    pub target_rows: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub columns: Vec<ColumnCheck>,
    pub tables: Vec<TableCount>,
    /// Columns no rule decides (listed, not scanned).
    pub undecided: Vec<String>,
}

impl VerifyReport {
    pub fn leaks(&self) -> u64 {
        self.columns.iter().map(|c| c.leaks).sum()
    }

    pub fn count_mismatches(&self) -> usize {
        self.tables
            .iter()
            .filter(|t| t.source_rows != t.target_rows)
            .count()
    }

    /// Leaks fail; count differences are reported only (production keeps changing after the
    /// clone's snapshot).
    pub fn passed(&self) -> bool {
        self.leaks() == 0
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
        for t in self
            .tables
            .iter()
            .filter(|t| t.source_rows != t.target_rows)
        {
            out.push_str(&format!(
                "row counts differ: {} has {} rows in the source now, {} in the target (the \
                 source may have changed since the clone)\n",
                t.table, t.source_rows, t.target_rows
            ));
        }
        for u in &self.undecided {
            out.push_str(&format!("undecided, not scanned: {u}\n"));
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
        out
    }
}

/// Sessions render values identically on both sides whatever the servers' defaults.
pub const SESSION_SETTINGS: &str =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'";

/// Scans every sanitized column of `tables` and counts their rows on both sides.
pub async fn run(
    source: &Client,
    target: &Client,
    tables: &[Table],
    resolution: &Resolution,
) -> Result<VerifyReport, tokio_postgres::Error> {
    source.batch_execute(SESSION_SETTINGS).await?;
    target.batch_execute(SESSION_SETTINGS).await?;
    let mut report = VerifyReport {
        undecided: resolution
            .undecided()
            .into_iter()
            .map(|(t, c, ty)| format!("{t}.{c} ({ty})"))
            .collect(),
        ..VerifyReport::default()
    };
    for table in tables {
        let qualified = table.qualified();
        let count = format!("SELECT count(*) FROM ONLY {qualified}");
        report.tables.push(TableCount {
            table: table.display_name(),
            source_rows: source.query_one(&count, &[]).await?.get(0),
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
            report.columns.push(check);
        }
    }
    Ok(report)
}
