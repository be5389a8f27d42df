//! The constraint preflight of a sanitizing clone: before any row moves, a sample of each
//! sanitized table goes through its rules and into the target's table inside a transaction that
//! is rolled back, so CHECK constraints, domain constraints, NOT NULL and length limits judge
//! the rules' real outputs on the real server. Unique columns are checked on the sample too
//! (their indexes come with post-data). A violation stops the run naming table.column, the
//! rule, the constraint and a sanitized example, instead of failing mid-copy.

use std::collections::HashSet;

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio_postgres::Client;

use super::sanitizing::Plan;
use super::Failure;
use crate::codec::decode::RowBatch;
use crate::codec::encode::{self, ReplacedColumn};
use crate::exit;
use crate::pipeline::TablePlan;
use crate::source;

/// Rows sampled per table: enough to meet a rule's usual outputs, cheap on any table.
const SAMPLE_ROWS: u32 = 200;
/// Longest sanitized example shown.
const EXAMPLE_CHARS: usize = 60;

/// Runs the preflight over every table whose rules change values; all violations at once.
pub(super) fn check(
    rt: &tokio::runtime::Runtime,
    source_client: &Client,
    target_client: &Client,
    plans: &[TablePlan],
    rules: &Plan,
) -> Result<(), Failure> {
    let mut problems = Vec::new();
    for plan in plans {
        let Some(decisions) = rules.resolution.table(plan.table.oid) else {
            continue;
        };
        let changed: Vec<usize> = decisions
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.passes_through())
            .map(|(i, _)| i)
            .collect();
        if changed.is_empty() || plan.transforms.is_empty() {
            continue;
        }
        let rule_of = |i: usize| {
            decisions
                .columns
                .get(i)
                .and_then(|c| c.decided.as_ref())
                .map_or("?", |d| d.entry.rule())
                .to_string()
        };
        let name = plan.table.display_name();
        let batch = rt
            .block_on(source::sample(source_client, &plan.table, SAMPLE_ROWS))
            .map_err(|e| Failure::new(exit::FAILURE, format!("source: sampling {name}: {e}")))?;
        let Some(batch) = batch else { continue };
        let mut replaced = Vec::new();
        let mut failed = false;
        for t in &plan.transforms {
            match t.apply(&batch, 0..batch.rows) {
                Ok(r) => replaced.push(r),
                Err(e) => {
                    problems.push(format!("{name}: {e}"));
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            continue;
        }
        for &i in &changed {
            let column = &plan.table.columns[i];
            if !column.unique {
                continue;
            }
            if let Some(r) = replaced.iter().find(|r| r.col == i) {
                let mut seen = HashSet::new();
                let duplicate = (0..batch.rows)
                    .filter_map(|row| r.value(row))
                    .find(|v| !seen.insert(v.to_vec()));
                if let Some(v) = duplicate {
                    problems.push(format!(
                        "{name}.{} (rule {}): the column is unique but the rule gave two sampled \
                         rows the same value{}",
                        column.name,
                        rule_of(i),
                        example(v)
                    ));
                }
            }
        }
        let Err(joint) = rt.block_on(load_rolled_back(target_client, plan, &batch, &replaced))
        else {
            continue;
        };
        // COPY stops at the first error: load each sanitized column on its own (the others
        // as production has them, which the constraints accept) to name every one that fails.
        let mut found = false;
        for (n, r) in replaced.iter().enumerate() {
            if !changed.contains(&r.col) {
                continue;
            }
            let alone: Vec<ReplacedColumn> = replaced
                .iter()
                .enumerate()
                .filter(|(m, x)| *m == n || !changed.contains(&x.col))
                .map(|(_, x)| x.clone())
                .collect();
            if let Err(e) = rt.block_on(load_rolled_back(target_client, plan, &batch, &alone)) {
                problems.push(describe(
                    rt,
                    target_client,
                    plan,
                    &[r.col],
                    &rule_of,
                    &alone,
                    &e,
                ));
                found = true;
            }
        }
        if !found {
            problems.push(describe(
                rt,
                target_client,
                plan,
                &changed,
                &rule_of,
                &replaced,
                &joint,
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        exit::REFUSED,
        format!(
            "sanitized values would break the target's constraints (checked on up to \
             {SAMPLE_ROWS} rows per table before copying; no rows were copied):\n  {}\n\
             Pick a rule whose output fits the constraint (`restage rules explain NAME`), or \
             keep the column if it holds nothing personal.",
            problems.join("\n  ")
        ),
    ))
}

/// COPYs the sanitized sample into the target table and rolls it back.
async fn load_rolled_back(
    client: &Client,
    plan: &TablePlan,
    batch: &RowBatch,
    replaced: &[ReplacedColumn],
) -> Result<(), tokio_postgres::Error> {
    let mut data = BytesMut::new();
    encode::write_header(&mut data);
    encode::write_batch(batch, replaced, &mut data);
    encode::write_trailer(&mut data);
    client.batch_execute("BEGIN").await?;
    let sql = format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary)",
        plan.table.qualified(),
        plan.table.column_list()
    );
    let result = async {
        let sink = client.copy_in(sql.as_str()).await?;
        futures_util::pin_mut!(sink);
        sink.send(data.freeze()).await?;
        sink.finish().await.map(|_| ())
    }
    .await;
    client.batch_execute("ROLLBACK").await?;
    result
}

/// Names the column, rule, constraint and a sanitized example of a failed sample load.
fn describe(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    plan: &TablePlan,
    changed: &[usize],
    rule_of: &dyn Fn(usize) -> String,
    replaced: &[ReplacedColumn],
    error: &tokio_postgres::Error,
) -> String {
    let name = plan.table.display_name();
    let Some(db) = error.as_db_error() else {
        return format!("{name}: {error}");
    };
    // COPY's context: "COPY t, line 3, column c: …" (binary COPY counts tuples from 1).
    let context = db.where_().unwrap_or_default();
    let row = context
        .split("line ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| n.checked_sub(1));
    let mut columns: Vec<String> = db.column().map(str::to_string).into_iter().collect();
    if let Some(c) = context.split(", column ").nth(1) {
        columns.push(c.split(':').next().unwrap_or(c).trim().to_string());
    }
    if let Some(constraint) = db.constraint() {
        let query = "SELECT a.attname::text FROM pg_catalog.pg_constraint c \
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid \
                     AND a.attnum = ANY (c.conkey) \
                     WHERE c.conrelid = $1::text::pg_catalog.regclass AND c.conname = $2";
        if let Ok(rows) = rt.block_on(client.query(query, &[&plan.table.qualified(), &constraint]))
        {
            columns.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        }
    }
    // The sanitized columns the error is about (all of them when it does not say).
    let mut about: Vec<usize> = changed
        .iter()
        .copied()
        .filter(|&i| columns.contains(&plan.table.columns[i].name))
        .collect();
    if about.is_empty() {
        about = changed.to_vec();
    }
    let what = match db.constraint() {
        Some(c) if !db.message().contains(c) => format!("{} ({c})", db.message()),
        _ => db.message().to_string(),
    };
    about
        .iter()
        .map(|&i| {
            let value = row.and_then(|r| {
                replaced
                    .iter()
                    .find(|x| x.col == i)
                    .and_then(|x| x.value(r))
                    .map(example)
            });
            format!(
                "{name}.{} (rule {}): {what} [SQLSTATE {}]{}",
                plan.table.columns[i].name,
                rule_of(i),
                db.code().code(),
                value.unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// `; sanitized example "…"` for values that read as text; binary values are not shown.
fn example(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(s) if !s.chars().any(char::is_control) => {
            let shown: String = s.chars().take(EXAMPLE_CHARS).collect();
            let more = if s.chars().count() > EXAMPLE_CHARS {
                "…"
            } else {
                ""
            };
            format!("; sanitized example {shown:?}{more}")
        }
        _ => String::new(),
    }
}
