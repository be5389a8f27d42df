//! `restage seed`: synthetic rows from a seed plan into a database, empty (its schema from
//! `--schema-from`) or already holding rows (a new tenant beside the cloned ones).
//!
//! Order of work: the plan is parsed (problems at file:line:column, before any connection),
//! resolved against the target (unknown tables and columns, generators that do not fit,
//! columns nothing can fill, empty parents: all before any row is written), a sample of every
//! table is written in one transaction that is rolled back (the target's own constraints judge
//! the generated rows), then the rows stream through the pipeline, parents before children.

use std::path::Path;
use std::time::Instant;

use tokio_postgres::Client;

use super::run::parse_conn;
use super::Failure;
use crate::catalog;
use crate::cli::{SeedArgs, SeedCommand};
use crate::codec::encode;
use crate::conn::ConnSpec;
use crate::exit;
use crate::pgerr;
use crate::pipeline::{self, Database, Ends, Input, Output, TablePlan};
use crate::schema::{RestoreOptions, SchemaArchive};
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

pub fn run(args: &SeedArgs) -> Result<(), Failure> {
    if let Some(SeedCommand::Init(init)) = &args.command {
        return super::seed_init::run(init);
    }
    let usage = |flag: &str| Failure::new(exit::USAGE, format!("seed: {flag} is required"));
    let target = parse_conn(
        "--target",
        args.target.as_deref().ok_or_else(|| usage("--target"))?,
    )?;
    let path = args.plan.as_deref().ok_or_else(|| usage("--plan"))?;
    let plan = load_plan(path)?;
    if let Some(source) = &args.schema_from {
        let source = parse_conn("--schema-from", source)?;
        copy_schema(&source, &target)?;
    }
    let options = SeedOptions {
        seed: args.seed,
        jobs: args.jobs,
    };
    let outcome = seed_database(&target, &plan, &options)?;
    if !args.quiet {
        for (table, rows) in &outcome.tables {
            println!("{table:<40} {rows:>12} rows");
        }
        let total: u64 = outcome.tables.iter().map(|(_, r)| r).sum();
        println!(
            "seeded {total} rows in {:.2} s ({:.0} rows/s)",
            outcome.seconds,
            total as f64 / outcome.seconds.max(1e-9)
        );
    }
    Ok(())
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
    let rt = super::runtime()?;
    let client = rt
        .block_on(target.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?;
    let catalog = rt
        .block_on(catalog::load(&client))
        .map_err(|e| Failure::new(exit::FAILURE, format!("target: {e}")))?;
    let facts = rt
        .block_on(seed::target::column_facts(&client))
        .map_err(|e| super::pg_failure(exit::FAILURE, "target: reading columns", &e))?;
    let seed = options.seed.or(plan.seed).unwrap_or(0);
    let mut seeder = rt
        .block_on(seed::resolve(plan, &catalog, &facts, &client, seed))
        .map_err(|e| match e {
            ResolveError::Plan(problems) => Failure::new(exit::USAGE, plan::render(&problems)),
            ResolveError::Database(m) => Failure::new(exit::FAILURE, format!("target: {m}")),
        })?;
    rt.block_on(preflight(&client, &mut seeder))?;
    drop(client);

    let jobs = super::run::jobs(options.jobs);
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
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
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
        .map_err(|e| super::pg_failure(exit::FAILURE, "target", &e))?;
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
    Ok(())
}

/// `--schema-from`: the schema of `source` (no rows) into `target`, as clone replays it.
fn copy_schema(source: &ConnSpec, target: &ConnSpec) -> Result<(), Failure> {
    let rt = super::runtime()?;
    let client = rt
        .block_on(source.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("--schema-from: {e}")))?;
    let leader = rt
        .block_on(crate::source::Leader::begin(client))
        .map_err(|e| super::pg_failure(exit::FAILURE, "--schema-from", &e))?;
    let (_, server) = super::load_source_catalog(&rt, &leader.client)?;
    let failed =
        |e: crate::schema::SchemaError| Failure::new(exit::FAILURE, format!("schema: {e}"));
    let archive = SchemaArchive::dump(source, &leader.snapshot, server, false).map_err(failed)?;
    let options = RestoreOptions {
        no_owner: true,
        no_acl: true,
    };
    archive.restore_pre_data(target, options).map_err(failed)?;
    archive
        .restore_post_data_except(target, &Default::default(), 1, options)
        .map_err(failed)?;
    let _ = rt.block_on(leader.finish());
    Ok(())
}
