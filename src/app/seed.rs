//! `restage seed`: synthetic rows from a seed plan into a database, empty (its schema from
//! `--schema-from`) or already holding rows (a new tenant beside the cloned ones). The plan is
//! parsed first (problems at file:line:column, before any connection); the seeding itself is
//! the run core's (`run::seed_database`).

use super::run::{load_plan, parse_conn, seed_database, SeedOptions};
use super::{run_report, Failure};
use crate::cli::{SeedArgs, SeedCommand};
use crate::conn::ConnSpec;
use crate::exit;
use crate::report::{RunReport, TableRow};
use crate::schema::{RestoreOptions, SchemaArchive};
use crate::seed::SeedPlan;

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
    let mut report = RunReport::new("seed", format!("plan {}", path.display()), target.masked());
    report.privacy.mode = "synthetic".into();
    let result = seed(args, &target, &plan, &mut report);
    report.finish(result.as_ref().err().map(|f| f.message.as_str()));
    let headline = format!(
        "seeded {} rows in {:.2} s ({:.0} rows/s)",
        report.totals.rows,
        report.totals.seconds,
        report.totals.rows as f64 / report.totals.seconds.max(1e-9)
    );
    run_report::emit(&report, &args.output, &headline)?;
    result
}

/// The schema first with `--schema-from`, then the plan's rows; the report records both.
fn seed(
    args: &SeedArgs,
    target: &ConnSpec,
    plan: &SeedPlan,
    report: &mut RunReport,
) -> Result<(), Failure> {
    if let Some(source) = &args.schema_from {
        let source = parse_conn("--schema-from", source)?;
        report.begin("schema");
        report.target_state = "unmarked".into();
        copy_schema(&source, target)?;
    }
    report.begin("rows");
    report.target_state = "unmarked".into();
    let options = SeedOptions {
        seed: args.seed,
        jobs: args.jobs,
    };
    let outcome = seed_database(target, plan, &options)?;
    report.end();
    report.set_tables(
        outcome
            .tables
            .iter()
            .map(|(table, rows)| TableRow {
                table: table.clone(),
                rows: *rows,
                source_rows: *rows,
                target_rows: *rows,
                ..TableRow::default()
            })
            .collect(),
    );
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
