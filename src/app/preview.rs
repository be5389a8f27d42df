//! `restage preview`: a sample of one table, original and sanitized values side by side.
//! Reads only; values are rendered by the source server's own output functions.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use serde::Serialize;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::run::parse_conn;
use super::run_report;
use super::sanitizing::{Plan, Sanitizing};
use super::{pg_failure, Failure};
use crate::catalog::{self, CopyFormat, Table};
use crate::cli::{OutputArgs, PreviewArgs};
use crate::codec::decode::RowBatch;
use crate::conn::ConnSpec;
use crate::exit;
use crate::pgbin::Version;
use crate::pipeline::{ColumnTransform, RowRules, Sanitize};
use crate::report::{RunReport, TableRow};
use crate::rules::{self, diagnostic, Resolution, Sanitizers};

#[derive(Debug, Serialize)]
struct PreviewColumn {
    column: String,
    rule: String,
    /// (original, sanitized), NULL as None.
    values: Vec<(Option<String>, Option<String>)>,
}

pub fn run(args: &PreviewArgs) -> Result<(), Failure> {
    let source = parse_conn("--source", &args.source)?;
    let sanitizing = Sanitizing::prepare(&args.rules)?;
    // Nothing is written anywhere but stdout: the report's target says so.
    let mut report = RunReport::new("preview", source.masked(), "none".into());
    let result = sample_table(&source, &sanitizing, args, &mut report);
    report.finish(result.as_ref().err().map(|f| f.message.as_str()));
    if args.report.is_some() {
        let output = OutputArgs {
            json: false,
            report: args.report.clone(),
            quiet: true,
        };
        run_report::emit(&report, &output, "")?;
    }
    let (table, columns) = result?;
    if table.copy_format() == CopyFormat::Text {
        if !args.json {
            println!("{}", text_form_note(&table));
            return Ok(());
        }
        // An empty list on stdout, as for a table without rules; the reason on stderr.
        tracing::warn!("{}", text_form_note(&table));
    }
    if args.json {
        let json = serde_json::to_string_pretty(&columns)
            .map_err(|e| Failure::new(exit::FAILURE, format!("json: {e}")))?;
        println!("{json}");
        return Ok(());
    }
    let rows = columns.first().map_or(0, |c| c.values.len());
    println!(
        "{}: {rows} row{} sampled, {} of {} columns sanitized",
        table.display_name(),
        if rows == 1 { "" } else { "s" },
        columns.len(),
        table.columns.len()
    );
    for c in &columns {
        println!("\n{} ({})", c.column, c.rule);
        let width = c
            .values
            .iter()
            .map(|(o, _)| shown(o).chars().count())
            .max()
            .unwrap_or(0)
            .min(48);
        for (o, s) in &c.values {
            println!("  {:<width$}  →  {}", shown(o), shown(s));
        }
    }
    Ok(())
}

/// Reads the table's catalog and rules (step `schema`), then samples it and sanitizes the
/// sample (step `sample`), recording the decisions and the sampled rows in `report`.
fn sample_table(
    source: &ConnSpec,
    sanitizing: &Sanitizing,
    args: &PreviewArgs,
    report: &mut RunReport,
) -> Result<(Table, Vec<PreviewColumn>), Failure> {
    report.begin("schema");
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = source
            .connect("restage preview")
            .await
            .map_err(|e| Failure::new(exit::CONNECTION, format!("source: {e}")))?;
        // Qualified type names (for rendering) and no writes.
        client
            .batch_execute(
                "SET search_path = ''; SET default_transaction_read_only = on; \
                 SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'",
            )
            .await
            .map_err(|e| pg_failure(exit::FAILURE, "source", &e))?;
        let catalog = catalog::load(&client)
            .await
            .map_err(|e| Failure::new(exit::FAILURE, format!("source: {e}")))?;
        report.versions.source_server =
            Some(Version::from_version_num(catalog.server_version_num).to_string());
        let wanted = if args.table.contains('.') {
            args.table.clone()
        } else {
            format!("public.{}", args.table)
        };
        let mut table = catalog
            .tables
            .iter()
            .find(|t| t.display_name() == wanted)
            .cloned()
            .ok_or_else(|| {
                Failure::new(
                    exit::USAGE,
                    format!("--table {wanted}: no such table with rows in the source"),
                )
            })?;
        // As the clone decides: a table whose values travel as text cannot be sampled in
        // binary form (aclitem has none) and takes no rule.
        catalog::settle_copy_formats(&client, std::slice::from_mut(&mut table), &catalog.fidelity)
            .await
            .map_err(|e| pg_failure(exit::FAILURE, "source: reading values", &e))?;
        let tables = std::slice::from_ref(&table);
        let (resolution, mut problems) = rules::resolve(&sanitizing.files, &catalog, tables);
        // As the clone does: scrub rules that look for production values get the dictionary
        // of every sanitized column a clone of the whole database would read.
        let dictionary = if !sanitizing.verbatim && rules::run_values::wanted(&resolution) {
            let (everything, _) = rules::resolve(&sanitizing.files, &catalog, &catalog.tables);
            Some(
                super::run_values::load(
                    &client,
                    &catalog,
                    &catalog.tables,
                    &everything,
                    sanitizing,
                )
                .await?,
            )
        } else {
            None
        };
        let sanitizers = match rules::build_with(&resolution, &catalog, tables, dictionary.as_ref())
        {
            Ok(s) if problems.is_empty() => s,
            Ok(_) => return Err(Failure::new(exit::USAGE, diagnostic::render(&problems))),
            Err(more) => {
                problems.extend(more);
                return Err(Failure::new(exit::USAGE, diagnostic::render(&problems)));
            }
        };
        record_decisions(report, sanitizing, &resolution, &table);
        if table.copy_format() == CopyFormat::Text {
            super::sanitizing::refuse_rules_on_text_tables(tables, &sanitizers)?;
            return Ok::<_, Failure>((table, Vec::new()));
        }
        let slots = sanitizers.get(&table.oid).cloned().unwrap_or_default();
        if slots.iter().any(Option::is_some) && sanitizing.key.is_none() {
            return Err(Failure::new(
                exit::USAGE,
                "no sanitizing key: set RESTAGE_KEY, or pass --key-file FILE or --ephemeral-key",
            ));
        }
        report.begin("sample");
        let started = Instant::now();
        let batch = sample(&client, &table, args.rows).await?;
        report.set_tables(vec![sampled_rows(&table, &batch, started)]);
        let row = Arc::new(RowRules::new(&table, |i| slots.get(i).cloned().flatten()));
        let decisions = resolution.table(table.oid);
        let mut out = Vec::new();
        for (i, col) in table.columns.iter().enumerate() {
            let decision = decisions.and_then(|d| d.columns.get(i));
            let rule = match decision.and_then(|d| d.decided.as_ref()) {
                Some(d) => d.entry.rule().to_string(),
                None => "(undecided)".to_string(),
            };
            let Some(sanitizer) = slots.get(i).cloned().flatten() else {
                continue;
            };
            let transform = Sanitize {
                column: i,
                column_name: col.name.clone(),
                sanitizer,
                key: sanitizing.key_or_unused(),
                row: row.clone(),
                remap: None,
            };
            let replaced = transform.apply(&batch, 0..batch.rows).map_err(|e| {
                Failure::new(exit::FAILURE, format!("{}: {e}", table.display_name()))
            })?;
            let render = client
                .prepare(&format!("SELECT ($1::{})::text", col.type_name))
                .await
                .map_err(|e| pg_failure(exit::FAILURE, "source", &e))?;
            let mut values = Vec::new();
            for r in 0..batch.rows {
                let original = text_of(&client, &render, batch.field(r, i)).await?;
                let sanitized = text_of(&client, &render, replaced.value(r)).await?;
                values.push((original, sanitized));
            }
            out.push(PreviewColumn {
                column: col.name.clone(),
                rule,
                values,
            });
        }
        Ok::<_, Failure>((table, out))
    })
}

/// The privacy record of the sampled table: every column's decision as a clone would make it
/// (undecided columns are shown, not refused).
fn record_decisions(
    report: &mut RunReport,
    sanitizing: &Sanitizing,
    resolution: &Resolution,
    table: &Table,
) {
    let plan = Plan {
        resolution: if sanitizing.verbatim {
            Resolution::default()
        } else {
            resolution.clone()
        },
        sanitizers: Sanitizers::new(),
        let_through: Vec::new(),
    };
    report.sanitized = run_report::sanitized_columns(&plan);
    report.privacy = run_report::privacy(sanitizing, &plan, std::slice::from_ref(table));
}

/// The table's line: the rows sampled from the source, none written anywhere.
fn sampled_rows(table: &Table, batch: &RowBatch, started: Instant) -> TableRow {
    let seconds = started.elapsed().as_secs_f64();
    let rows = u64::try_from(batch.rows).unwrap_or(u64::MAX);
    TableRow {
        table: table.display_name(),
        rows,
        bytes: u64::try_from(batch.byte_len()).unwrap_or(u64::MAX),
        seconds,
        rows_per_second: if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        },
        parts: 1,
        post_seconds: 0.0,
        source_rows: rows,
        target_rows: 0,
        checksum: None,
    }
}

/// Why a table has nothing to preview: its values travel unchanged, as text.
fn text_form_note(table: &Table) -> String {
    let why = super::sanitizing::text_form_columns(table);
    format!(
        "{} is copied in text form because the binary form of {} does not survive a copy; no          rule applies to it, every value is copied unchanged",
        table.display_name(),
        why.join(", ")
    )
}

fn shown(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "NULL".to_string())
}

/// The first `rows` rows of the table, decoded as the clone decodes them.
async fn sample(client: &Client, table: &Table, rows: u32) -> Result<RowBatch, Failure> {
    crate::source::sample(client, table, rows)
        .await
        .map_err(|e| Failure::new(exit::FAILURE, format!("source: sampling: {e}")))?
        .ok_or_else(|| Failure::new(exit::USAGE, format!("{} has no rows", table.display_name())))
}

/// A binary value as the server's text output.
async fn text_of(
    client: &Client,
    render: &tokio_postgres::Statement,
    value: Option<&[u8]>,
) -> Result<Option<String>, Failure> {
    let row = client
        .query_one(render, &[&Raw(value)])
        .await
        .map_err(|e| pg_failure(exit::FAILURE, "source: rendering a value", &e))?;
    Ok(row.get(0))
}

/// A value already in the type's binary format, passed through as is.
#[derive(Debug)]
struct Raw<'a>(Option<&'a [u8]>);

impl ToSql for Raw<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Some(v) => {
                out.extend_from_slice(v);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}
