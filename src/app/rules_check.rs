//! `restage rules check`: the rules files against the live schema, without copying anything.
//! The same checks `clone` runs before any data moves, for CI.

use serde::Serialize;

use super::run::parse_conn;
use super::{pg_failure, Failure};
use crate::catalog::{self, select};
use crate::cli::RulesCheckArgs;
use crate::exit;
use crate::rules::{self, diagnostic, Diagnostic};

#[derive(Debug, Default, Serialize)]
struct CheckReport {
    ok: bool,
    tables: usize,
    columns: usize,
    sanitized: usize,
    kept: usize,
    problems: Vec<Diagnostic>,
    /// `table.column (type)`, with the place and reason of its `undecided` mark if any.
    undecided: Vec<String>,
}

pub fn run(args: &RulesCheckArgs) -> Result<(), Failure> {
    let mut report = CheckReport::default();
    let files = match rules::load(&args.rules) {
        Ok(f) => f,
        Err(problems) => {
            report.problems = problems;
            return finish(&report, args.json);
        }
    };
    let source = parse_conn("--source", &args.source)?;
    let rt = super::runtime()?;
    let (catalog, tables) = rt.block_on(async {
        let client = source
            .connect("restage rules check")
            .await
            .map_err(|e| Failure::new(exit::CONNECTION, format!("source: {e}")))?;
        client
            .batch_execute("SET default_transaction_read_only = on")
            .await
            .map_err(|e| pg_failure(exit::FAILURE, "source", &e))?;
        let catalog = catalog::load(&client)
            .await
            .map_err(|e| Failure::new(exit::FAILURE, format!("source: {e}")))?;
        let tables = select::select(
            &catalog.tables,
            &args.selection.tables,
            &args.selection.exclude_tables,
        )
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
        Ok::<_, Failure>((catalog, tables))
    })?;
    let (resolution, mut problems) = rules::resolve(&files, &catalog, &tables);
    if let Err(more) = rules::build(&resolution, &catalog, &tables) {
        problems.extend(more);
    }
    report.problems = problems;
    report.undecided = resolution.undecided_described();
    report.tables = resolution.tables.len();
    for t in &resolution.tables {
        report.columns += t.columns.len();
        for c in t.columns.iter().filter(|c| c.decided.is_some()) {
            if c.passes_through() {
                report.kept += 1;
            } else {
                report.sanitized += 1;
            }
        }
    }
    finish(&report, args.json)
}

fn finish(report: &CheckReport, json: bool) -> Result<(), Failure> {
    let ok = report.problems.is_empty() && report.undecided.is_empty();
    if json {
        let mut shown = serde_json::to_value(report)
            .map_err(|e| Failure::new(exit::FAILURE, format!("report: {e}")))?;
        shown["ok"] = serde_json::Value::Bool(ok);
        println!("{shown:#}");
    } else if ok {
        println!(
            "rules ok: {} tables, {} columns decided ({} sanitized, {} kept)",
            report.tables, report.columns, report.sanitized, report.kept
        );
    }
    if ok {
        return Ok(());
    }
    let mut message = String::new();
    if !report.problems.is_empty() {
        message.push_str(&diagnostic::render(&report.problems));
    }
    if !report.undecided.is_empty() {
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(&format!(
            "{} undecided column{} (decide each with a rule or \"keep\" in place of its \
             `undecided` mark, or, for unmarked ones, a [defaults.columns] pattern):\n  {}",
            report.undecided.len(),
            if report.undecided.len() == 1 { "" } else { "s" },
            report.undecided.join("\n  ")
        ));
    }
    Err(Failure::new(
        if report.problems.is_empty() {
            exit::REFUSED
        } else {
            exit::USAGE
        },
        message,
    ))
}
