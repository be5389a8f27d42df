//! The clone run: guards → snapshot → schema (pre-data) → data with per-table index builds →
//! rest of post-data → sequences, materialized views → verification → report. `clone`, `demo`
//! and `refresh` all copy a source into a target through [`clone`].
//!
//! The run is one [`CloneRun`]; its parts live beside this file by responsibility: the target's
//! guards (`target_guard`), the warnings for what cannot be copied as asked (`warnings`), the
//! table plans (`table_plans`), the data step (`copy`), the post-data job graph
//! (`post_data_graph`), what is read from the source before the target changes (`source_read`),
//! the post-data and verify steps (`post_data`), and `--clean` with the
//! database comment marking the target incomplete or complete (`target_state`).

mod copy;
mod post_data;
mod post_data_graph;
mod source_read;
mod table_plans;
mod target_guard;
mod target_state;
mod warnings;

use std::time::Instant;

use tokio_postgres::Client;

use source_read::SourceRead;

use super::{schema_failure, APPLICATION_NAME};
use crate::app::sanitizing::Sanitizing;
use crate::app::{pg_failure, run_report, runtime, subsetting, Failure};
use crate::cli::{CloneOptions, OutputArgs};
use crate::conn::ConnSpec;
use crate::exit;
use crate::interrupt;
use crate::lockwatch::{self, LockWatch};
use crate::report::{RunReport, VerifyRecord};
use crate::schema::{self, RestoreOptions, SchemaArchive};
use crate::sink::target;
use crate::source::Leader;

/// Runs a clone and emits its report (summary, JSON) as `output` asks; returns the report.
pub(crate) fn clone(
    source: &ConnSpec,
    target: &ConnSpec,
    options: &CloneOptions,
    sanitizing: &Sanitizing,
    output: &OutputArgs,
) -> Result<RunReport, Failure> {
    let mut report = RunReport::new("clone", source.masked(), target.masked());
    let source = &lockwatch::bounded(source, APPLICATION_NAME, options.lock_timeout);
    let target = &lockwatch::bounded(target, APPLICATION_NAME, options.lock_timeout);
    let result = runtime().and_then(|rt| {
        let mut run = CloneRun {
            source,
            target,
            options,
            sanitizing,
            output,
            report: &mut report,
            rt: &rt,
            watch: None,
        };
        run.execute()
    });
    report.finish(result.as_ref().err().map(|f| f.message.as_str()));
    // Row counts are checked as each part is acknowledged, sequences after post-data.
    let verified = match &result {
        Ok(()) => Some("ok"),
        Err(f) if f.code == exit::VERIFY_FAILED => Some("failed"),
        Err(_) => None,
    };
    report.verify = verified.map(|outcome| VerifyRecord {
        checks: vec!["row counts".into(), "sequences".into()],
        outcome: outcome.into(),
    });
    run_report::emit(&report, output, "")?;
    result.map(|()| report)
}

struct CloneRun<'a> {
    source: &'a ConnSpec,
    target: &'a ConnSpec,
    options: &'a CloneOptions,
    sanitizing: &'a Sanitizing,
    output: &'a OutputArgs,
    report: &'a mut RunReport,
    rt: &'a tokio::runtime::Runtime,
    /// Ends lock waits longer than --lock-timeout, once both sides are reachable.
    watch: Option<LockWatch>,
}

impl CloneRun<'_> {
    /// The run, with every lock wait on either side bounded: a wait the watch ended fails the
    /// run naming the table and the sessions in the way.
    fn execute(&mut self) -> Result<(), Failure> {
        let result = self.steps();
        let tripped = self.watch.as_ref().and_then(LockWatch::tripped);
        // Stops the watch before the report.
        self.watch = None;
        result.map_err(|f| match tripped {
            Some(wait) => Failure::new(
                f.code,
                format!("{wait}; its statement was cancelled: {}", f.message),
            ),
            None => f,
        })
    }

    fn steps(&mut self) -> Result<(), Failure> {
        self.report.begin("schema");
        interrupt::target::untouched();
        let subset_spec = subsetting::spec(&self.options.subset.roots, &self.sanitizing.files)?;
        let source_client = self.connect("source", self.source)?;
        let target_client = self.connect_target()?;
        self.guard_target(&source_client, &target_client)?;
        self.watch_locks();

        let leader = self
            .rt
            .block_on(Leader::begin(source_client))
            .map_err(|e| pg_failure(exit::FAILURE, "source: cannot export a snapshot", &e))?;
        let SourceRead {
            catalog,
            server,
            tables,
            rules,
        } = self.read_source(&leader.client)?;
        let comments = self.comments_kept();
        // The closure is computed (and bad roots or filters refused) before the target changes.
        let mut subset = match &subset_spec {
            Some(spec) => {
                let closure = Instant::now();
                let subset = subsetting::compute(
                    self.rt,
                    &leader.client,
                    spec,
                    &tables,
                    catalog.server_version_num,
                )?;
                self.report
                    .step("subset", closure, closure.elapsed().as_secs_f64());
                Some(subset)
            }
            None => None,
        };

        let counting = subsetting::count_source_rows(
            self.rt,
            &leader.client,
            (self.source, &leader.snapshot),
            &tables,
            subset.as_mut(),
        )?;
        let archive = SchemaArchive::dump_schemas(
            self.source,
            &leader.snapshot,
            server,
            comments,
            &self.options.schemas,
        )
        .map_err(|e| schema_failure("source", e))?;
        crate::app::versions::check_restore_tool(self.rt, archive.pg_restore(), &target_client)?;
        self.report.versions.pg_dump = Some(archive.pg_dump.version.to_string());
        let restore = RestoreOptions {
            no_owner: self.options.no_owner,
            no_acl: self.options.no_acl,
        };

        // From here on the target changes: mark it incomplete first, so a failure at any later
        // point leaves it visibly unusable.
        interrupt::target::incomplete(false);
        self.clean_target(&target_client)?;
        self.mark_incomplete(&target_client);
        crate::app::only_schemas::restore_pre_data(
            self.rt,
            &target_client,
            &archive,
            self.target,
            restore,
            &self.options.schemas,
        )?;
        self.report.begin("data");
        let step = Instant::now();
        let post_plan = schema::plan_post_data(archive.entries(), &catalog, &tables);
        let mut plans = self.plan_tables(&target_client, &catalog, tables, &rules)?;
        if let Some(subset) = &subset {
            subsetting::restrict(&mut plans, subset);
        }
        crate::app::preflight::check(self.rt, &leader.client, &target_client, &plans, &rules)?;
        let outcome = self.copy_data(&leader.snapshot, &plans, &archive, &post_plan, restore)?;
        let stats = outcome.tables;
        self.report.end_as(outcome.copy_seconds);

        let step_overlap = step.elapsed().as_secs_f64() - outcome.copy_seconds;
        self.report.begin("post-data");
        let step = Instant::now();
        self.finish_post_data(&target_client, &catalog, &archive, &post_plan, restore)?;
        // Post-data that overlapped the copy but outlasted it counts as post-data too.
        self.report
            .end_as(step_overlap + step.elapsed().as_secs_f64());

        self.report.begin("verify");
        self.verify_sequences(&target_client, &catalog)?;
        self.report.end();

        if let (Some(counting), Some(subset)) = (counting, subset.as_mut()) {
            counting.finish(subset)?;
        }
        let source_rows = subset
            .as_ref()
            .map(subsetting::source_rows)
            .unwrap_or_default();
        self.report
            .set_tables(run_report::table_rows(&plans, &stats, &source_rows));
        self.mark_complete(&target_client, subset.is_some())?;
        let _ = self.rt.block_on(leader.finish());
        Ok(())
    }

    /// Bounds every lock wait on either side by --lock-timeout (0: no bound).
    fn watch_locks(&mut self) {
        let limit = self.options.lock_timeout;
        if limit.is_zero() {
            return;
        }
        let side = |name, conn: &ConnSpec| lockwatch::Side {
            name,
            conn: conn.clone(),
        };
        let sides = vec![side("source", self.source), side("target", self.target)];
        self.watch = Some(LockWatch::start(sides, limit));
    }

    fn jobs(&self) -> usize {
        super::jobs(self.options.jobs)
    }

    fn connect(&self, side: &str, conn: &ConnSpec) -> Result<Client, Failure> {
        self.rt
            .block_on(conn.connect(APPLICATION_NAME))
            .map_err(|e| Failure::new(exit::CONNECTION, format!("{side}: {e}")))
    }

    fn connect_target(&self) -> Result<Client, Failure> {
        self.rt
            .block_on(target::connect(self.target, APPLICATION_NAME))
            .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))
    }
}
