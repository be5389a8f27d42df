//! `restage restore DIR`: digests → schema (pre-data) → tables straight from their files into
//! COPY FROM → post-data → sequences, materialized views, ANALYZE → row counts → complete mark.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tokio_postgres::Client;

use super::databases;
use super::run::{self, fixture_failure, parse_conn, type_kind, type_map, APPLICATION_NAME};
use super::run_report;
use super::{lockwait, pg_failure, runtime, Failure};
use crate::catalog::{self, quote_ident, MatView, Sequence, TypeCatalog};
use crate::cli::RestoreArgs;
use crate::conn::ConnSpec;
use crate::exit;
use crate::fixture::{self, DataFiles, Manifest};
use crate::interrupt;
use crate::lockwatch;
use crate::pgbin::Version;
use crate::pgerr;
use crate::pipeline::{self, ColumnTransform, Database, Ends, Input, OidRemap, Output, TablePlan};
use crate::report::{self, format_bytes, PartBars, Privacy, Progress, RunReport, VerifyRecord};
use crate::schema::{RestoreOptions, SchemaArchive};
use crate::sink::target;
use crate::source::Part;

/// Objects belong to whoever restores: production's roles rarely exist where fixtures go.
const RESTORE_OPTIONS: RestoreOptions = RestoreOptions {
    no_owner: true,
    no_acl: true,
};

pub fn run(args: &RestoreArgs) -> Result<(), Failure> {
    let server = parse_conn("--target", &args.target)?;
    let mut report = RunReport::new("restore", args.dir.display().to_string(), server.masked());
    let result = restore(args, &server, &mut report);
    report.finish(result.as_ref().err().map(|f| f.message.as_str()));
    report.verify = report.verify.take().map(|mut v| {
        if result
            .as_ref()
            .is_err_and(|f| f.code == exit::VERIFY_FAILED)
        {
            v.outcome = "failed".into();
        }
        v
    });
    let headline = match &result {
        Ok(files_bytes) => format!(
            "restored {} into {}: {} tables, {} rows ({} of files) in {:.1} s{}",
            args.dir.display(),
            report.target,
            report.totals.tables,
            report.totals.rows,
            format_bytes(*files_bytes),
            report.totals.seconds,
            args.as_template
                .as_ref()
                .map(|n| format!("; template {n} ready for `restage reset`"))
                .unwrap_or_default()
        ),
        Err(_) => String::new(),
    };
    run_report::emit(&report, &args.output, &headline)?;
    result.map(|_| ())
}

/// Checks the snapshot, loads it; returns the size of its files.
fn restore(args: &RestoreArgs, server: &ConnSpec, report: &mut RunReport) -> Result<u64, Failure> {
    report.begin("schema");
    let manifest = fixture::read_manifest(&args.dir).map_err(fixture_failure)?;
    report.privacy = Privacy {
        mode: "snapshot".into(),
        rules_files: manifest.rules_files.clone(),
        rules_digest: Some(manifest.rules_digest.clone()),
        key_fingerprint: None,
        columns: Vec::new(),
    };
    report.versions.source_server = Some(manifest.source.server_version.clone());
    report.versions.pg_dump = Some(manifest.source.pg_dump_version.clone());
    report.detail("snapshot_created_at", manifest.created_at.clone());
    report.detail("template", args.as_template.clone());
    // Every byte checked before anything on the target changes.
    fixture::verify(&args.dir, &manifest).map_err(|e| {
        let f = fixture_failure(e);
        Failure::new(f.code, format!("{}; nothing was loaded", f.message))
    })?;
    let dumped_by = Version::parse_from_text(&manifest.source.pg_dump_version)
        .unwrap_or_else(|| Version::from_version_num(manifest.source.server_version_num));
    let schema_path = fixture::file_path(&args.dir, &manifest.schema).map_err(fixture_failure)?;
    let archive = SchemaArchive::open(&schema_path, dumped_by)
        .map_err(|e| run::schema_failure("snapshot schema", e))?;
    super::only_schemas::check_snapshot_holds_only(&manifest, &archive, &args.schemas)?;
    let rt = runtime()?;
    let jobs = run::jobs(args.jobs);
    let target = match &args.as_template {
        Some(name) => create_template_db(&rt, server, name, args.clean, (&manifest, &archive))?,
        None => server.clone(),
    };
    if let (Some(owner), Some(name)) = (&args.owner, &args.as_template) {
        let admin = super::databases::admin_conn(server, name);
        super::owner::give_database(&rt, &admin, name, owner)?;
    }
    let grants = match &args.owner {
        // From the database --target names: a new template has no default privileges yet,
        // and gets those of the database its copies are meant to replace.
        Some(owner) => Some(super::owner::Grants::read(&rt, server, owner)?),
        None => None,
    };
    let target = match &args.owner {
        Some(owner) => super::owner::acting_as(&target, owner),
        None => target,
    };
    report.target = target.masked();
    let target = lockwatch::bounded(&target, APPLICATION_NAME, args.lock_timeout);
    let run = Restore {
        dir: &args.dir,
        manifest: &manifest,
        archive: &archive,
        target: &target,
        rt: &rt,
        jobs,
        lock_timeout: args.lock_timeout,
        schemas: &args.schemas,
    };
    run.execute(
        args.clean && args.as_template.is_none(),
        report::progress_wanted(args.output.quiet, args.output.json),
        report,
    )?;
    if let Some(grants) = &grants {
        grants.apply(&rt, &target)?;
    }
    if let Some(name) = &args.as_template {
        report.begin("template");
        seal_template(&rt, server, name)?;
    }
    Ok(fixture::files_of(&manifest).iter().map(|f| f.size).sum())
}

struct Restore<'a> {
    dir: &'a Path,
    manifest: &'a Manifest,
    archive: &'a SchemaArchive,
    target: &'a ConnSpec,
    rt: &'a tokio::runtime::Runtime,
    jobs: usize,
    /// Longest lock wait on the target, in --clean, the schema and the data.
    lock_timeout: std::time::Duration,
    /// `--schema`: the only schemas loaded and checked for emptiness (none: all).
    schemas: &'a [String],
}

impl Restore<'_> {
    fn execute(&self, clean: bool, progress: bool, report: &mut RunReport) -> Result<(), Failure> {
        interrupt::target::untouched();
        let client = self.connect()?;
        let watch = lockwait::watch("target", self.target, self.lock_timeout);
        lockwait::explain(watch, self.load(client, clean, progress, report))
    }

    /// [`Self::execute`] once the target is reachable.
    fn load(
        &self,
        client: Client,
        clean: bool,
        progress: bool,
        report: &mut RunReport,
    ) -> Result<(), Failure> {
        let state = self
            .rt
            .block_on(catalog::target_state_in(&client, self.schemas))
            .map_err(|e| Failure::new(exit::FAILURE, format!("target: {e}")))?;
        let server = Version::from_version_num(state.server_version_num);
        report.versions.target_server = Some(server.to_string());
        check_versions(self.manifest, self.archive, server)?;
        if state.object_count > 0 {
            if !clean {
                return Err(run::refuse_non_empty(&state, ""));
            }
            interrupt::target::incomplete(false);
            report.target_state = "incomplete".into();
            self.rt
                .block_on(target::clean(&client, state.server_version_num))
                .map_err(|e| pg_failure(exit::FAILURE, "target: --clean failed", &e))?;
        }
        // From here on the target changes: marked incomplete until everything checked out.
        let mark = format!(
            "{} from snapshot {} ({}) started {}; do not use",
            target::INCOMPLETE_MARK,
            self.dir.display(),
            self.manifest.created_at,
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        run::mark_incomplete(self.rt, &client, &mark, report);
        let left = run::left_behind(report);
        let failed = |step: &str, e: String| {
            Failure::new(exit::COPY_FAILED, format!("target: {step}: {e}; {left}"))
        };
        super::only_schemas::restore_pre_data(
            self.rt,
            &client,
            self.archive,
            self.target,
            RESTORE_OPTIONS,
            self.schemas,
        )
        .map_err(|f| failed("schema", f.message))?;

        report.begin("data");
        let (plans, files) = self.plan(&client)?;
        let config = pipeline::Config {
            lanes: self.jobs,
            post_table_workers: 1,
            post_data_during_copy: true,
            batch_bytes: 2 << 20,
            channel_capacity: 2,
        };
        let ends = Ends {
            input: Input::Files(&files),
            output: Output::Database(Database {
                conn: self.target,
                application_name: APPLICATION_NAME,
            }),
        };
        let bars = PartBars(Progress::new(
            progress,
            plans.iter().map(|p| p.table.bytes).sum(),
        ));
        let result = pipeline::run(&config, &plans, &[], &bars, ends);
        bars.0.finish();
        let outcome = result.map_err(|e| run::copy_failure(e, left))?;
        let mut rows = run_report::table_rows(&plans, &outcome.tables, &Default::default());

        report.begin("post-data");

        self.archive
            .restore_post_data_except(self.target, &Default::default(), self.jobs, RESTORE_OPTIONS)
            .map_err(|e| failed("post-data", e.to_string()))?;
        let sequences: Vec<Sequence> = self
            .manifest
            .sequences
            .iter()
            .map(|s| Sequence {
                schema: s.schema.clone(),
                name: s.name.clone(),
                last_value: s.last_value,
                is_called: s.is_called,
            })
            .collect();
        self.rt
            .block_on(target::set_sequences(&client, &sequences))
            .map_err(|e| failed("setting sequences", pgerr::describe(&e)))?;
        let views: Vec<MatView> = self
            .manifest
            .matviews
            .iter()
            .map(|v| MatView {
                schema: v.schema.clone(),
                name: v.name.clone(),
                populated: v.populated,
            })
            .collect();
        self.rt
            .block_on(target::refresh_matviews(&client, &views))
            .map_err(|e| failed("refreshing materialized views", e))?;
        self.rt
            .block_on(client.batch_execute("ANALYZE"))
            .map_err(|e| failed("ANALYZE", pgerr::describe(&e)))?;

        report.begin("verify");
        report.verify = Some(VerifyRecord {
            checks: vec!["row counts".into()],
            outcome: "ok".into(),
        });
        // Plans are in the manifest's order.
        for ((plan, row), entry) in plans.iter().zip(rows.iter_mut()).zip(&self.manifest.tables) {
            let expected = entry.rows;
            row.source_rows = expected;
            let got = self
                .rt
                .block_on(target::count_rows(&client, &plan.table))
                .map_err(|e| pg_failure(exit::VERIFY_FAILED, "target: counting rows", &e))?;
            row.target_rows = got;
            if got != expected {
                return Err(Failure::new(
                    exit::VERIFY_FAILED,
                    format!(
                        "{} has {got} rows on the target but {expected} in the snapshot; {}",
                        plan.table.display_name(),
                        run::left_behind(report)
                    ),
                ));
            }
        }
        let mark = format!(
            "{} from snapshot {} ({}) at {}",
            target::complete_mark(self.manifest.subset),
            self.dir.display(),
            self.manifest.created_at,
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        run::mark_complete(self.rt, &client, &mark, report)?;
        report.set_tables(rows);
        Ok(())
    }

    fn connect(&self) -> Result<Client, Failure> {
        self.rt
            .block_on(target::connect(self.target, APPLICATION_NAME))
            .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))
    }

    /// One plan per manifest table, in the manifest's order, with OID rewrites for columns
    /// whose binary values embed user type OIDs.
    fn plan(&self, client: &Client) -> Result<(Vec<TablePlan>, DataFiles), Failure> {
        let needs_map = self
            .manifest
            .tables
            .iter()
            .any(|t| t.columns.iter().any(|c| c.embeds_user_oids));
        let types = if needs_map {
            let mut types = TypeCatalog::default();
            for t in &self.manifest.types {
                types.insert(t.oid, t.info());
            }
            let target_types = self
                .rt
                .block_on(target::user_types(client))
                .map_err(|e| pg_failure(exit::COPY_FAILED, "target: reading types", &e))?;
            let map = Arc::new(type_map(&types, &target_types));
            Some((types, map))
        } else {
            None
        };
        let mut paths = HashMap::new();
        let mut plans = Vec::with_capacity(self.manifest.tables.len());
        for t in &self.manifest.tables {
            let table = t.table();
            let mut transforms: Vec<Arc<dyn ColumnTransform>> = Vec::new();
            if let Some((types, map)) = &types {
                for (n, c) in t.columns.iter().enumerate() {
                    if c.embeds_user_oids {
                        transforms.push(Arc::new(OidRemap {
                            column: n,
                            column_name: c.name.clone(),
                            kind: type_kind(types, c.type_oid),
                            map: map.clone(),
                        }));
                    }
                }
            }
            let count = t.parts.len();
            let mut parts = Vec::with_capacity(count);
            for p in &t.parts {
                let path = fixture::file_path(self.dir, &p.file).map_err(fixture_failure)?;
                paths.insert((t.qualified(), p.index), (path, p.rows));
                parts.push(Part {
                    index: p.index,
                    count,
                    first_block: None,
                    end_block: None,
                    rows: None,
                });
            }
            plans.push(TablePlan {
                table,
                parts,
                transforms,
            });
        }
        Ok((plans, DataFiles::new(paths)))
    }
}

/// Creates database `name` on the server for `restore --as-template` (dropping an earlier one
/// with `clean`); returns the connection to it.
/// Refuses a target server this snapshot cannot be restored into: older than its source, or
/// too old for the pg_restore at hand.
fn check_versions(
    manifest: &Manifest,
    archive: &SchemaArchive,
    target: Version,
) -> Result<(), Failure> {
    super::versions::refuse_pair(
        Version::from_version_num(manifest.source.server_version_num),
        target,
    )?;
    match super::versions::restore_tool_problem(archive.pg_restore(), target) {
        Some(problem) => Err(Failure::new(exit::REFUSED, problem)),
        None => Ok(()),
    }
}

fn create_template_db(
    rt: &tokio::runtime::Runtime,
    server: &ConnSpec,
    name: &str,
    clean: bool,
    (manifest, archive): (&Manifest, &SchemaArchive),
) -> Result<ConnSpec, Failure> {
    let admin = databases::admin_conn(server, name);
    let client = rt
        .block_on(admin.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?;
    // Before the template database is created or an old one dropped.
    check_versions(
        manifest,
        archive,
        super::versions::server_version(rt, &client, "target")?,
    )?;
    let exists = rt
        .block_on(databases::database_exists(&client, name))
        .map_err(|e| pg_failure(exit::FAILURE, "target", &e))?;
    if exists {
        if !clean {
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "database {name} already exists; use --clean to drop it and restore the \
                     template again"
                ),
            ));
        }
        // --clean replaces an earlier template of restage's, not someone else's database.
        let info = super::owned::database_info(rt, &client, name)?;
        if let Some(why) = info
            .as_ref()
            .and_then(|info| super::owned::not_ours(rt, server, name, info))
        {
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "refusing to drop database {name}: {why}; drop it yourself if it should be \
                     replaced"
                ),
            ));
        }
        rt.block_on(client.batch_execute(&format!(
            "ALTER DATABASE {} WITH IS_TEMPLATE false",
            quote_ident(name)
        )))
        .map_err(|e| pg_failure(exit::FAILURE, "target: unmarking the old template", &e))?;
        databases::drop_database(rt, &client, name)?;
    }
    rt.block_on(client.batch_execute(&format!("CREATE DATABASE {}", quote_ident(name))))
        .map_err(|e| pg_failure(exit::FAILURE, "target: creating the template database", &e))?;
    Ok(server.with_dbname(name))
}

/// Makes the restored database a template nobody connects to (CREATE DATABASE … TEMPLATE needs
/// it idle).
fn seal_template(
    rt: &tokio::runtime::Runtime,
    server: &ConnSpec,
    name: &str,
) -> Result<(), Failure> {
    let admin = databases::admin_conn(server, name);
    let client = rt
        .block_on(admin.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?;
    rt.block_on(client.batch_execute(&format!(
        "ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
        quote_ident(name)
    )))
    .map_err(|e| pg_failure(exit::FAILURE, "target: marking the template", &e))
}
