//! One file per command; the only place that wires the layers together. Errors get their
//! context and exit code here.

mod clone;
mod databases;
mod demo;
mod guards;
mod lockwait;
mod only_schemas;
mod owned;
mod owner;
mod preflight;
mod preview;
mod provision;
mod refresh;
mod reset;
mod restore;
mod rules_check;
mod rules_init;
mod rules_init_constraints;
mod rules_list;
mod run;
mod run_report;
mod run_values;
mod sanitizing;
mod schema_text;
pub mod seed;
mod seed_init;
mod snapshot;
mod subsetting;
mod verify;
mod versions;

use clap::Parser;

use crate::cli::{Cli, Command, RulesCommand, RulesCommandArgs};
use crate::exit;
use crate::pgerr;

/// A failed command: what to print and which documented exit code to return.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// Parses arguments, runs the command, returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    crate::interrupt::install();
    init_logging(&cli.log);
    let result = match &cli.command {
        Command::Clone(args) => clone::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Provision(args) => provision::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Preview(args) => preview::run(args),
        Command::Rules(args) => rules(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Restore(args) => restore::run(args),
        Command::Reset(args) => reset::run(args),
        Command::Seed(args) => seed::run(args),
        Command::Refresh(args) => refresh::run(args),
    };
    match result {
        Ok(()) => exit::OK,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            failure.code
        }
    }
}

fn rules(args: &RulesCommandArgs) -> Result<(), Failure> {
    match &args.command {
        RulesCommand::Init(a) => rules_init::run(a),
        RulesCommand::List(a) => rules_list::list(a),
        RulesCommand::Explain(a) => rules_list::explain(a),
        RulesCommand::Check(a) => rules_check::run(a),
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Refuses to replace an existing output file unless `--force` says so.
pub(crate) fn refuse_overwrite(out: Option<&std::path::Path>, force: bool) -> Result<(), Failure> {
    match out {
        Some(path) if path.exists() && !force => Err(Failure::new(
            exit::REFUSED,
            format!(
                "{} exists; refusing to overwrite it (use --force to replace it)",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// A single-threaded runtime for a command's database conversations.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start a runtime: {e}")))
}

/// The source's catalog, read in the leader's snapshot, and its server version; servers older
/// than 12 are refused.
pub(crate) fn load_source_catalog(
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
) -> Result<(crate::catalog::SourceCatalog, crate::pgbin::Version), Failure> {
    let catalog = rt
        .block_on(crate::catalog::load(client))
        .map_err(|e| Failure::new(exit::FAILURE, format!("source: {e}")))?;
    let server = crate::pgbin::Version::from_version_num(catalog.server_version_num);
    if catalog.server_version_num < 120000 {
        return Err(Failure::new(
            exit::REFUSED,
            format!("source: PostgreSQL {server} is not supported (12 or newer is)"),
        ));
    }
    Ok((catalog, server))
}

/// Looks at the values of the tables to copy, in the source's snapshot and before anything is
/// written: refuses columns holding values that no database accepts back (`pg_node_tree`,
/// `pg_ndistinct`…; the copy could only fail midway), and moves tables holding an empty
/// tsquery to the text form.
pub(crate) fn settle_values(
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
    catalog: &crate::catalog::SourceCatalog,
    tables: &mut [crate::catalog::Table],
) -> Result<(), Failure> {
    let failed = |e: tokio_postgres::Error| pg_failure(exit::FAILURE, "source: reading values", &e);
    let found = rt
        .block_on(crate::catalog::unloadable_values(
            client,
            tables,
            &catalog.fidelity,
        ))
        .map_err(failed)?;
    if !found.is_empty() {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "these columns hold values that no PostgreSQL database accepts as input (only \
                 the server itself produces them), so they cannot be copied: {}; leave the \
                 tables out with --exclude-table, or set the columns to NULL on the source",
                found.join(", ")
            ),
        ));
    }
    rt.block_on(crate::catalog::settle_copy_formats(
        client,
        tables,
        &catalog.fidelity,
    ))
    .map_err(failed)
}

/// A PostgreSQL error with what was being done, keeping its SQLSTATE.
pub(crate) fn pg_failure(code: i32, what: &str, e: &tokio_postgres::Error) -> Failure {
    Failure::new(code, format!("{what}: {}", pgerr::describe(e)))
}
