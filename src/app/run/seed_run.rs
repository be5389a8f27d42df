//! Seeding a database a command has prepared (`seed`'s target, a refresh's shadow, the demo's
//! clone) from a parsed seed plan: resolved against the target (unknown tables and columns,
//! generators that do not fit, columns nothing can fill, empty parents: all before any row is
//! written), a sample of every table written in one transaction that is rolled back (the
//! target's own constraints judge the generated rows), then the rows streamed through the
//! pipeline, parents before children. Foreign keys that close a cycle are written NULL and set
//! in a second pass once every table's rows are in (`close_cycles`).

use std::path::Path;
use std::time::Instant;

use tokio_postgres::Client;

use crate::app::{pg_failure, runtime, Failure};
use crate::catalog;
use crate::codec::encode;
use crate::conn::ConnSpec;
use crate::exit;
use crate::pgerr;
use crate::pipeline::{self, Database, Ends, Input, Output, TablePlan};
use crate::seed::columns::Gen;
use crate::seed::{self, plan, ResolveError, SeedPlan, Seeder};
use crate::sink::TableSink;

const APPLICATION_NAME: &str = "restage seed";

/// Rows per table the preflight writes (and rolls back).
const PREFLIGHT_ROWS: u64 = 200;

/// How a plan runs.
#[derive(Debug, Clone, Default)]
pub struct SeedOptions {
    /// Overrides the plan's `seed` (0 when neither gives one).
    pub seed: Option<u64>,
    /// Parallel lanes (default: one per core).
    pub jobs: Option<usize>,
}

/// What a run wrote.
#[derive(Debug, Clone, Default)]
pub struct SeedOutcome {
    /// `schema.table` and rows written, in the order they were written.
    pub tables: Vec<(String, u64)>,
    pub seconds: f64,
}

/// Parses a plan file; its problems are a usage error listing each at file:line:column.
pub fn load_plan(path: &Path) -> Result<SeedPlan, Failure> {
    plan::load(path).map_err(|problems| Failure::new(exit::USAGE, plan::render(&problems)))
}

/// Runs `plan` against `target`: resolve, preflight, rows. The entry point for any command
/// that seeds a database it has prepared (a refresh's shadow database, the demo).
pub fn seed_database(
    target: &ConnSpec,
    plan: &SeedPlan,
    options: &SeedOptions,
) -> Result<SeedOutcome, Failure> {
    let started = Instant::now();
    let rt = runtime()?;
    let client = rt
        .block_on(target.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?;
    let catalog = rt
        .block_on(catalog::load(&client))
        .map_err(|e| Failure::new(exit::FAILURE, format!("target: {e}")))?;
    let facts = rt
        .block_on(seed::target::column_facts(&client))
        .map_err(|e| pg_failure(exit::FAILURE, "target: reading columns", &e))?;
    let seed = options.seed.or(plan.seed).unwrap_or(0);
    let mut seeder = rt
        .block_on(seed::resolve(plan, &catalog, &facts, &client, seed))
        .map_err(|e| match e {
            ResolveError::Plan(problems) => Failure::new(exit::USAGE, plan::render(&problems)),
            ResolveError::Database(m) => Failure::new(exit::FAILURE, format!("target: {m}")),
        })?;
    rt.block_on(preflight(&client, &mut seeder))?;
    drop(client);

    let jobs = super::jobs(options.jobs);
    let config = pipeline::Config {
        lanes: jobs,
        post_table_workers: 1,
        post_data_during_copy: true,
        batch_bytes: 2 << 20,
        channel_capacity: 2,
    };
    let ends = Ends {
        input: Input::Generated(&seeder),
        output: Output::Database(Database {
            conn: target,
            application_name: APPLICATION_NAME,
        }),
    };
    let mut outcome = SeedOutcome::default();
    // Parents are committed before their children start: one pipeline run per level.
    for level in levels(&seeder) {
        let plans: Vec<TablePlan> = level
            .iter()
            .map(|&t| TablePlan {
                table: seeder.tables[t].table.clone(),
                parts: seeder.parts(t),
                transforms: Vec::new(),
            })
            .collect();
        let done = pipeline::run(&config, &plans, &[], &Silent, ends).map_err(|e| {
            Failure::new(
                exit::COPY_FAILED,
                format!("{e}; tables seeded before this one keep their rows"),
            )
        })?;
        for (plan, stats) in plans.iter().zip(done.tables) {
            outcome.tables.push((plan.table.display_name(), stats.rows));
        }
    }
    if seeder.tables.iter().any(|t| !t.closing.is_empty()) {
        let client = rt
            .block_on(target.connect(APPLICATION_NAME))
            .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?;
        rt.block_on(second_pass(&client, &seeder)).map_err(|e| {
            Failure::new(
                exit::COPY_FAILED,
                format!(
                    "closing foreign-key cycles: {e}; the rows are written, with those keys NULL"
                ),
            )
        })?;
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// The second pass in one transaction: every key closing a cycle set, or none.
async fn second_pass(client: &Client, seeder: &Seeder) -> Result<(), String> {
    let pg = |e: tokio_postgres::Error| pgerr::describe(&e);
    client.batch_execute("BEGIN").await.map_err(pg)?;
    let result = close_cycles(client, seeder, None).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = client.batch_execute(end).await.map_err(pg);
    result.and(ended)
}

/// Rows per batch of the second pass.
const CLOSING_BATCH_ROWS: u64 = 10_000;

/// Sets the foreign keys written NULL to close a cycle, for every row of every table (the
/// first `sample` rows during the preflight), inside the caller's transaction: per table and
/// key, one binary COPY of (primary key, key values) into a temporary table and one UPDATE
/// joining it on the primary key.
async fn close_cycles(client: &Client, seeder: &Seeder, sample: Option<u64>) -> Result<(), String> {
    const TEMP: &str = "restage_seed_closing";
    for (i, t) in seeder.tables.iter().enumerate() {
        let rows = sample.map_or(t.rows, |s| seeder.sample_rows(i, s));
        if rows == 0 {
            continue;
        }
        let name = t.table.display_name();
        for (c, closing) in t.closing.iter().enumerate() {
            let pg = |e: tokio_postgres::Error| format!("{name}: {}", pgerr::describe(&e));
            let column = |at: &usize| t.table.columns[*at].clone();
            let keys: Vec<_> = closing.key.iter().map(column).collect();
            let sets: Vec<_> = closing.columns.iter().map(column).collect();
            let quoted = |cols: &[catalog::Column]| -> Vec<String> {
                cols.iter().map(|c| catalog::quote_ident(&c.name)).collect()
            };
            let (key_names, set_names) = (quoted(&keys), quoted(&sets));
            client
                .batch_execute(&format!(
                    "CREATE TEMPORARY TABLE {TEMP} AS SELECT {}, {} FROM {} WITH NO DATA",
                    key_names.join(", "),
                    set_names.join(", "),
                    t.table.qualified()
                ))
                .await
                .map_err(pg)?;
            let mut temp = t.table.clone();
            temp.schema = "pg_temp".into();
            temp.name = TEMP.into();
            temp.columns = keys.iter().chain(&sets).cloned().collect();
            let mut sink = TableSink::begin(client, &temp, false).await.map_err(pg)?;
            let mut header = bytes::BytesMut::new();
            encode::write_header(&mut header);
            sink.send(header.freeze()).await.map_err(pg)?;
            let mut at = 0;
            while at < rows {
                let end = (at + CLOSING_BATCH_ROWS).min(rows);
                let batch = seeder
                    .closing_batch(i, c, at..end)
                    .map_err(|e| format!("{name}: {e}"))?;
                sink.send(batch.data).await.map_err(pg)?;
                at = end;
            }
            let mut trailer = bytes::BytesMut::new();
            encode::write_trailer(&mut trailer);
            sink.send(trailer.freeze()).await.map_err(pg)?;
            sink.finish().await.map_err(pg)?;
            let set = set_names
                .iter()
                .map(|c| format!("{c} = s.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let on = key_names
                .iter()
                .map(|c| format!("t.{c} = s.{c}"))
                .collect::<Vec<_>>()
                .join(" AND ");
            let updated = client
                .execute(
                    &format!(
                        "UPDATE {} t SET {set} FROM pg_temp.{TEMP} s WHERE {on}",
                        t.table.qualified()
                    ),
                    &[],
                )
                .await
                .map_err(pg)?;
            client
                .batch_execute(&format!("DROP TABLE pg_temp.{TEMP}"))
                .await
                .map_err(pg)?;
            if updated != rows {
                return Err(format!(
                    "{name}: {updated} of the {rows} generated rows found by their primary key"
                ));
            }
        }
    }
    Ok(())
}

/// Seeding reports per table at the end; nothing per batch.
struct Silent;
impl pipeline::Observer for Silent {}

/// Tables grouped so that every table's generated parents are in an earlier group.
fn levels(seeder: &Seeder) -> Vec<Vec<usize>> {
    let mut level = vec![0usize; seeder.tables.len()];
    for (i, t) in seeder.tables.iter().enumerate() {
        for g in &t.gens {
            if let Gen::Generated { table, .. } | Gen::Parent { table, .. } = g {
                if *table < i {
                    level[i] = level[i].max(level[*table] + 1);
                }
            }
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, l) in level.into_iter().enumerate() {
        if seeder.tables[i].rows == 0 {
            continue;
        }
        if out.len() <= l {
            out.resize(l + 1, Vec::new());
        }
        out[l].push(i);
    }
    out.retain(|l| !l.is_empty());
    out
}

/// Writes the first rows of every table in one transaction and rolls it back: NOT NULL,
/// CHECK, UNIQUE and foreign keys of the target judge the generated rows before any is kept.
async fn preflight(client: &Client, seeder: &mut Seeder) -> Result<(), Failure> {
    seeder.sample = Some(PREFLIGHT_ROWS);
    let result = preflight_rows(client, seeder).await;
    let _ = client.batch_execute("ROLLBACK").await;
    seeder.sample = None;
    result
}

async fn preflight_rows(client: &Client, seeder: &Seeder) -> Result<(), Failure> {
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| pg_failure(exit::FAILURE, "target", &e))?;
    for (i, t) in seeder.tables.iter().enumerate() {
        let rows = seeder.sample_rows(i, PREFLIGHT_ROWS);
        if rows == 0 {
            continue;
        }
        let name = t.table.display_name();
        let refused = |message: String| {
            Failure::new(
                exit::REFUSED,
                format!(
                    "{name}: generated rows break the target's constraints (checked on a \
                     sample, nothing was written): {message}"
                ),
            )
        };
        let batch = seeder.batch(i, 0..rows).map_err(refused)?;
        let mut data = bytes::BytesMut::new();
        encode::write_header(&mut data);
        data.extend_from_slice(&batch.data);
        encode::write_trailer(&mut data);
        let pg = |e: tokio_postgres::Error| refused(pgerr::describe(&e));
        let mut sink = TableSink::begin(client, &t.table, false)
            .await
            .map_err(pg)?;
        sink.send(data.freeze()).await.map_err(pg)?;
        sink.finish().await.map_err(pg)?;
    }
    // The second pass on the sample: the keys it sets are judged too.
    close_cycles(client, seeder, Some(PREFLIGHT_ROWS))
        .await
        .map_err(|message| {
            Failure::new(
                exit::REFUSED,
                format!(
                    "closing foreign-key cycles breaks the target's constraints (checked on a \
                     sample, nothing was written): {message}"
                ),
            )
        })?;
    Ok(())
}
