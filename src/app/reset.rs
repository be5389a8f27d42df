//! `restage reset NAME --target-db DB`: DROP DATABASE DB, CREATE DATABASE DB TEMPLATE NAME,
//! after terminating the sessions that would block either. Only restage's databases (or empty
//! ones) are dropped, and only restage's templates copied, unless `--force` says otherwise.

use tokio_postgres::Client;

use super::databases::{admin_conn, drop_database, terminate};
use super::run::{parse_conn, APPLICATION_NAME};
use super::run_report;
use super::{owned, pg_failure, runtime, Failure};
use crate::catalog::quote_ident;
use crate::cli::ResetArgs;
use crate::conn::ConnSpec;
use crate::exit;
use crate::report::RunReport;
use crate::sink::target;

pub fn run(args: &ResetArgs) -> Result<(), Failure> {
    let server = parse_conn("--target", &args.target)?;
    if args.template == args.target_db {
        return Err(Failure::new(
            exit::USAGE,
            "--target-db must differ from the template database",
        ));
    }
    let mut report = RunReport::new(
        "reset",
        format!("template {}", args.template),
        server.with_dbname(&args.target_db).masked(),
    );
    report.privacy.mode = "snapshot".into();
    let result = reset(args, &server, &mut report);
    report.finish(result.as_ref().err().map(|f| f.message.as_str()));
    if result.is_ok() {
        eprintln!(
            "reset {} from template {} in {:.2} s",
            args.target_db, args.template, report.totals.seconds
        );
    }
    run_report::emit(&report, &args.output, "")?;
    result
}

/// Drops DB and creates it again from the template.
fn reset(args: &ResetArgs, server: &ConnSpec, report: &mut RunReport) -> Result<(), Failure> {
    report.begin("guards");
    let server = server.clone();
    let admin = admin_conn(&server, &args.target_db);
    let rt = runtime()?;
    let client = rt
        .block_on(admin.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?;
    check_template(&rt, &client, &server, args)?;
    check_target(&rt, &client, &server, args)?;
    report.versions.target_server =
        Some(super::versions::server_version(&rt, &client, "target")?.to_string());
    terminate(&rt, &client, &args.template)?;
    report.begin("drop");
    report.target_state = "incomplete".into();
    crate::interrupt::set_state(Some(format!(
        "database {} may be missing or empty: run the reset again",
        args.target_db
    )));
    drop_database(&rt, &client, &args.target_db)?;
    // PostgreSQL 15 copies a template block by block through the WAL by default; copying its
    // files after one checkpoint is several times faster for a database of any real size.
    let version: i32 = rt
        .block_on(client.query_one("SELECT current_setting('server_version_num')::int", &[]))
        .map_err(|e| pg_failure(exit::FAILURE, "target", &e))?
        .get(0);
    let strategy = if version >= 150000 {
        " STRATEGY = FILE_COPY"
    } else {
        ""
    };
    report.begin("create");
    let sql = format!(
        "CREATE DATABASE {} TEMPLATE {}{strategy}",
        quote_ident(&args.target_db),
        quote_ident(&args.template)
    );
    if let Err(e) = rt.block_on(client.batch_execute(&sql)) {
        // Someone connected to the template in between: end their sessions and try once more.
        terminate(&rt, &client, &args.template)?;
        rt.block_on(client.batch_execute(&sql)).map_err(|_| {
            pg_failure(
                exit::FAILURE,
                &format!(
                    "target: CREATE DATABASE {} TEMPLATE {}",
                    args.target_db, args.template
                ),
                &e,
            )
        })?;
    }
    // CREATE DATABASE does not copy the template's comment: mark the copy as restage's, so the
    // next reset may replace it.
    let mark = format!(
        "{} from template {} at {}",
        target::COMPLETE_MARK,
        args.template,
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    );
    rt.block_on(target::mark_database(&client, &args.target_db, &mark))
        .map_err(|e| pg_failure(exit::FAILURE, "target: marking the new database", &e))?;
    crate::interrupt::set_state(None);
    report.target_state = "complete".into();
    Ok(())
}

/// The template must exist, be a template, and (unless forced) be one restage restored.
fn check_template(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    server: &ConnSpec,
    args: &ResetArgs,
) -> Result<(), Failure> {
    let refuse = |why: String| Failure::new(exit::REFUSED, why);
    let Some(info) = owned::database_info(rt, client, &args.template)? else {
        return Err(refuse(format!(
            "there is no database {} on {}; create the template with `restage restore DIR \
             --as-template {}`",
            args.template,
            server.masked(),
            args.template
        )));
    };
    if !info.is_template {
        return Err(refuse(format!(
            "database {} is not a template (restore it with --as-template); refusing to copy a \
             live database",
            args.template
        )));
    }
    if !info.complete_restage_template() && !args.force {
        return Err(refuse(format!(
            "database {} is a template restage did not make (made by `restage restore DIR \
             --as-template NAME`, it carries restage's mark in its comment); use --force to \
             copy it anyway",
            args.template
        )));
    }
    Ok(())
}

/// The database to replace must be absent, restage's, or empty, unless forced; never a template.
fn check_target(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    server: &ConnSpec,
    args: &ResetArgs,
) -> Result<(), Failure> {
    let Some(info) = owned::database_info(rt, client, &args.target_db)? else {
        return Ok(());
    };
    if info.is_template {
        return Err(Failure::new(
            exit::REFUSED,
            format!(
                "database {} is a template; refusing to replace it",
                args.target_db
            ),
        ));
    }
    if args.force {
        return Ok(());
    }
    match owned::not_ours(rt, server, &args.target_db, &info) {
        None => Ok(()),
        Some(why) => Err(Failure::new(
            exit::REFUSED,
            format!(
                "refusing to drop database {}: {why}; use --force to replace it anyway",
                args.target_db
            ),
        )),
    }
}
