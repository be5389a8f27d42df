//! `restage seed`: synthetic rows from a seed plan into a database, empty (its schema from
//! `--schema-from`) or already holding rows (a new tenant beside the cloned ones). The plan is
//! parsed first (problems at file:line:column, before any connection); the seeding itself is
//! the run core's (`run::seed_database`).

use super::run::{load_plan, parse_conn, seed_database, SeedOptions};
use super::Failure;
use crate::cli::{SeedArgs, SeedCommand};
use crate::conn::ConnSpec;
use crate::exit;
use crate::schema::{RestoreOptions, SchemaArchive};

const APPLICATION_NAME: &str = "restage seed";

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
