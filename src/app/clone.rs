//! `restage clone`: guards → snapshot → schema (pre-data) → data with per-table index builds →
//! rest of post-data → sequences, materialized views → verification → report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio_postgres::Client;

use super::guards;
use super::run::{self, parse_conn, type_map, APPLICATION_NAME};
use super::run_report;
use super::sanitizing::{self, Sanitizing};
use super::subsetting;
use super::{pg_failure, runtime, Failure};
use crate::catalog::{self, select, SourceCatalog, Table};
use crate::cli::{CloneArgs, CloneOptions, OutputArgs};
use crate::conn::ConnSpec;
use crate::exit;
use crate::interrupt;
use crate::lockwatch::{self, LockWatch};
use crate::pgerr;
use crate::pipeline::{
    self, Database, Ends, Input, Output, PostJob, PostRun, TablePlan, TableStats,
};
use crate::report::{self, Progress, RunReport, VerifyRecord};
use crate::schema::{self, ItemKind, PostAction, PostDataPlan, RestoreOptions, SchemaArchive};
use crate::sink::target;
use crate::source::Leader;

pub fn run(args: &CloneArgs) -> Result<(), Failure> {
    let source = parse_conn("--source", &args.source)?;
    let target = parse_conn("--target", &args.target)?;
    let sanitizing = Sanitizing::prepare(&args.rules)?;
    let Some(owner) = &args.owner else {
        clone(&source, &target, &args.options, &sanitizing, &args.output)?;
        return Ok(());
    };
    let rt = runtime()?;
    let grants = super::owner::Grants::read(&rt, &target, owner)?;
    let target = super::owner::acting_as(&target, owner);
    let options = CloneOptions {
        no_owner: true,
        no_acl: true,
        ..args.options.clone()
    };
    clone(&source, &target, &options, &sanitizing, &args.output)?;
    grants.apply(&rt, &target)
}

/// Runs a clone and emits its report (summary, JSON) as `output` asks. Shared with `demo`.
pub(super) fn clone(
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
        let limit = self.options.lock_timeout;
        if !limit.is_zero() {
            let side = |name, conn: &ConnSpec| lockwatch::Side {
                name,
                conn: conn.clone(),
            };
            let sides = vec![side("source", self.source), side("target", self.target)];
            self.watch = Some(LockWatch::start(sides, limit));
        }

        let leader = self
            .rt
            .block_on(Leader::begin(source_client))
            .map_err(|e| pg_failure(exit::FAILURE, "source: cannot export a snapshot", &e))?;
        let (mut catalog, server) = super::load_source_catalog(self.rt, &leader.client)?;
        super::only_schemas::check_in_source(self.rt, &leader.client, &self.options.schemas)?;
        super::only_schemas::limit_catalog(&mut catalog, &self.options.schemas);
        let mut tables = select::select(
            &catalog.tables,
            &self.options.selection.tables,
            &self.options.selection.exclude_tables,
        )
        .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
        guards::check_source_access(self.rt, &leader.client, &tables, catalog.server_version_num)?;
        super::settle_values(self.rt, &leader.client, &catalog, &mut tables)?;
        // Every column decided (or the clone refused) before the target is touched.
        let mut rules = self.sanitizing.plan(&catalog, &tables)?;
        super::run_values::attach(
            self.rt,
            &leader.client,
            &catalog,
            &tables,
            self.sanitizing,
            &mut rules,
        )?;
        if !rules.let_through.is_empty() {
            self.report.warnings.push(format!(
                "--allow-undecided: {} column{} copied unchanged without a rule: {}",
                rules.let_through.len(),
                if rules.let_through.len() == 1 {
                    ""
                } else {
                    "s"
                },
                rules.let_through.join(", ")
            ));
        }
        self.report.sanitized = run_report::sanitized_columns(&rules);
        self.report.privacy = run_report::privacy(self.sanitizing, &rules, &tables);
        self.report.versions.source_server = Some(server.to_string());
        self.collect_warnings(&catalog, &tables);
        let comments = self.options.keep_comments || self.sanitizing.verbatim;
        super::schema_text::guard(
            self.rt,
            &leader.client,
            self.sanitizing,
            &rules,
            &tables,
            comments,
        )?;
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
        .map_err(|e| run::schema_failure("source", e))?;
        super::versions::check_restore_tool(self.rt, archive.pg_restore(), &target_client)?;
        self.report.versions.pg_dump = Some(archive.pg_dump.version.to_string());
        let restore = RestoreOptions {
            no_owner: self.options.no_owner,
            no_acl: self.options.no_acl,
        };

        // From here on the target changes: mark it incomplete first, so a failure at any later
        // point leaves it visibly unusable.
        interrupt::target::incomplete(false);
        if self.options.clean {
            let version = self
                .rt
                .block_on(catalog::target_state(&target_client))
                .map(|s| s.server_version_num)
                .unwrap_or(0);
            self.rt
                .block_on(target::clean(&target_client, version))
                .map_err(|e| pg_failure(exit::FAILURE, "target: --clean failed", &e))?;
        }
        let mark = format!(
            "{} from {} started {}; do not use",
            target::INCOMPLETE_MARK,
            self.source.masked(),
            self.report.started_at
        );
        match self.rt.block_on(target::mark(&target_client, &mark)) {
            Ok(()) => interrupt::target::incomplete(true),
            Err(e) => self.report.warnings.push(format!(
                "cannot mark the target database as incomplete while copying: {}",
                pgerr::describe(&e)
            )),
        }
        self.report.target_state = "incomplete".into();
        super::only_schemas::restore_pre_data(
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
        super::preflight::check(self.rt, &leader.client, &target_client, &plans, &rules)?;
        let outcome = self.copy_data(&leader.snapshot, &plans, &archive, &post_plan, restore)?;
        let stats = outcome.tables;
        self.report.end_as(outcome.copy_seconds);

        let step_overlap = step.elapsed().as_secs_f64() - outcome.copy_seconds;
        self.report.begin("post-data");
        let step = Instant::now();
        archive
            .restore_post_data_except(self.target, &post_plan.handled, self.jobs(), restore)
            .map_err(|e| Failure::new(exit::COPY_FAILED, format!("target: {e}")))?;
        self.rt
            .block_on(target::set_sequences(&target_client, &catalog.sequences))
            .map_err(|e| pg_failure(exit::COPY_FAILED, "target: setting sequences", &e))?;
        self.rt
            .block_on(target::refresh_matviews(&target_client, &catalog.matviews))
            .map_err(|e| {
                Failure::new(
                    exit::COPY_FAILED,
                    format!("target: refreshing materialized views: {e}"),
                )
            })?;
        for view in catalog.matviews.iter().filter(|v| v.populated) {
            let _ = self
                .rt
                .block_on(target::analyze(&target_client, &view.qualified()));
        }
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
        let mark = format!(
            "{} from {} at {}",
            target::COMPLETE_MARK,
            self.source.masked(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        let _ = self.rt.block_on(target::mark(&target_client, &mark));
        interrupt::target::complete();
        self.report.target_state = "complete".into();
        let _ = self.rt.block_on(leader.finish());
        Ok(())
    }

    fn jobs(&self) -> usize {
        run::jobs(self.options.jobs)
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

    fn guard_target(&mut self, source: &Client, target_client: &Client) -> Result<(), Failure> {
        let same = self
            .rt
            .block_on(target::is_same_database(source, target_client))
            .map_err(|e| pg_failure(exit::FAILURE, "checking source and target", &e))?;
        if same {
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "the target {} is the source database itself; refusing to overwrite production",
                    self.target.masked()
                ),
            ));
        }
        super::versions::check_pair(self.rt, source, target_client)?;
        let state = self
            .rt
            .block_on(catalog::target_state_in(
                target_client,
                &self.options.schemas,
            ))
            .map_err(|e| Failure::new(exit::FAILURE, format!("target: {e}")))?;
        self.report.versions.target_server =
            Some(crate::pgbin::Version::from_version_num(state.server_version_num).to_string());
        if state.object_count > 0 && !self.options.clean {
            let note = match &state.comment {
                Some(c) if c.starts_with(target::INCOMPLETE_MARK) => {
                    " (it holds an incomplete earlier clone)"
                }
                _ => "",
            };
            return Err(run::refuse_non_empty(&state, note));
        }
        let extensions =
            guards::check_target_extensions(self.rt, source, target_client, self.options.clean)?;
        self.report.kept = extensions.kept;
        self.report.warnings.extend(extensions.warnings);
        Ok(())
    }

    fn collect_warnings(&mut self, catalog: &SourceCatalog, tables: &[Table]) {
        if catalog.large_object_count > 0 {
            let oids = catalog
                .large_objects
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            self.report.warnings.push(format!(
                "{} large objects are not copied (pg_largeobject; OIDs {oids}{}); columns \
                 referring to them will dangle on the target",
                catalog.large_object_count,
                if catalog.large_object_count > 20 {
                    ", …"
                } else {
                    ""
                }
            ));
        }
        if !catalog.foreign_tables.is_empty() {
            self.report.warnings.push(format!(
                "foreign tables are created but their remote data is not copied: {}",
                catalog.foreign_tables.join(", ")
            ));
        }
        let unlogged: Vec<String> = tables
            .iter()
            .filter(|t| t.unlogged)
            .map(Table::display_name)
            .collect();
        if !unlogged.is_empty() {
            self.report.warnings.push(format!(
                "unlogged tables were copied and stay unlogged on the target (emptied if the \
                 staging server crashes): {}",
                unlogged.join(", ")
            ));
        }
        for w in &self.report.warnings {
            tracing::warn!("{w}");
        }
    }

    /// Tables with their parts and the OID rewrites their binary values need.
    fn plan_tables(
        &self,
        target_client: &Client,
        catalog: &SourceCatalog,
        tables: Vec<Table>,
        rules: &sanitizing::Plan,
    ) -> Result<Vec<TablePlan>, Failure> {
        let needs_map = tables
            .iter()
            .any(|t| t.columns.iter().any(|c| c.embeds_user_oids));
        let map = if needs_map {
            let target_types = self
                .rt
                .block_on(target::user_types(target_client))
                .map_err(|e| pg_failure(exit::COPY_FAILED, "target: reading types", &e))?;
            Some(Arc::new(type_map(&catalog.types, &target_types)))
        } else {
            None
        };
        Ok(run::plan::from_catalog(
            catalog,
            tables,
            (rules, self.sanitizing),
            self.options.split_larger_than,
            map.as_ref(),
        ))
    }

    fn copy_data(
        &self,
        snapshot: &str,
        plans: &[TablePlan],
        archive: &SchemaArchive,
        post_plan: &PostDataPlan,
        restore: RestoreOptions,
    ) -> Result<pipeline::Outcome, Failure> {
        let jobs = self.jobs();
        let config = pipeline::Config {
            lanes: jobs,
            // `--index-jobs 0`: nothing runs beside the copy; post-data follows it with --jobs.
            post_table_workers: match self.options.index_jobs {
                Some(0) => jobs,
                other => other.unwrap_or(jobs),
            },
            post_data_during_copy: self.options.index_jobs != Some(0),
            batch_bytes: 2 << 20,
            channel_capacity: 2,
        };
        let ends = Ends {
            input: Input::Database {
                db: Database {
                    conn: self.source,
                    application_name: APPLICATION_NAME,
                },
                snapshot,
            },
            output: Output::Database(Database {
                conn: self.target,
                application_name: APPLICATION_NAME,
            }),
        };
        let total_bytes = plans.iter().map(|p| p.table.bytes).sum();
        let progress = Progress::new(
            report::progress_wanted(self.output.quiet, self.output.json),
            total_bytes,
        );
        let post_jobs = post_jobs(self.target, plans, archive, post_plan, restore);
        let result = pipeline::run(&config, plans, &post_jobs, &progress, ends);
        progress.finish();
        result.map_err(|e| {
            run::copy_failure(
                e,
                "the target is incomplete and marked so (see `restage clone --help`)",
            )
        })
    }

    fn verify_sequences(
        &self,
        target_client: &Client,
        catalog: &SourceCatalog,
    ) -> Result<(), Failure> {
        for seq in &catalog.sequences {
            let got = self
                .rt
                .block_on(target::sequence_position(target_client, seq))
                .map_err(|e| pg_failure(exit::VERIFY_FAILED, "target: reading sequences", &e))?;
            if got != (seq.last_value, seq.is_called) {
                return Err(Failure::new(
                    exit::VERIFY_FAILED,
                    format!(
                        "sequence {}.{} is at {:?} on the target but {:?} on the source",
                        seq.schema,
                        seq.name,
                        got,
                        (seq.last_value, seq.is_called)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The post-data jobs: the plan's index/constraint/foreign-key items, then per table ANALYZE
/// and the row count check once its indexes exist.
fn post_jobs<'a>(
    target: &'a ConnSpec,
    plans: &[TablePlan],
    archive: &'a SchemaArchive,
    post_plan: &'a PostDataPlan,
    restore: RestoreOptions,
) -> Vec<PostJob<'a>> {
    let index_of: HashMap<u32, usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.table.oid, i))
        .collect();
    let tables_of = |oids: &[u32]| -> Vec<usize> {
        oids.iter()
            .filter_map(|o| index_of.get(o).copied())
            .collect()
    };
    let mut jobs: Vec<PostJob<'a>> = post_plan
        .items
        .iter()
        .map(|item| {
            let conn = target.with_settings(item.settings);
            let run: PostRun<'a> = match &item.action {
                PostAction::Restore(entries) => {
                    let label = item.label.clone();
                    Box::new(move |_: &TableStats| {
                        archive
                            .restore_entries(&conn, entries, restore, &label)
                            .map_err(|e| e.to_string())
                    })
                }
                PostAction::Sql(sql) => Box::new(move |_: &TableStats| run_target_sql(&conn, sql)),
            };
            PostJob {
                label: item.label.clone(),
                table: index_of.get(&item.table).copied(),
                after_tables: tables_of(&item.after_tables),
                after_jobs: item.after_items.clone(),
                run,
            }
        })
        .collect();
    // Per table: ANALYZE after its indexes exist (expression indexes get statistics) and before
    // any foreign key touching it (the two lock the table against each other).
    let mut analyzes: HashMap<u32, usize> = HashMap::new();
    for (i, plan) in plans.iter().enumerate() {
        let table = plan.table.clone();
        analyzes.insert(plan.table.oid, jobs.len());
        jobs.push(PostJob {
            label: format!("{} ANALYZE", plan.table.display_name()),
            table: Some(i),
            after_tables: vec![i],
            after_jobs: post_plan.items_of(plan.table.oid, None),
            run: Box::new(move |_: &TableStats| analyze(target, &table)),
        });
    }
    for (n, item) in post_plan.items.iter().enumerate() {
        if item.kind == ItemKind::ForeignKey {
            let checks = item.after_tables.iter().filter_map(|t| analyzes.get(t));
            jobs[n].after_jobs.extend(checks);
        }
    }
    jobs
}

/// One statement on a fresh target connection (post-data workers run on their own threads).
fn run_target_sql(target: &ConnSpec, sql: &str) -> Result<(), String> {
    with_target(target, |client| async move {
        client
            .batch_execute(sql)
            .await
            .map_err(|e| format!("{}: {sql}", pgerr::describe(&e)))
    })
}

/// ANALYZE the table on the target. Row counts are already verified: every part's COPY FROM
/// must be acknowledged by the target with exactly the number of rows read in the snapshot.
fn analyze(target: &ConnSpec, table: &Table) -> Result<(), String> {
    with_target(target, |client| async move {
        target::analyze(&client, &table.qualified())
            .await
            .map_err(|e| format!("ANALYZE: {}", pgerr::describe(&e)))
    })
}

fn with_target<F, Fut>(target: &ConnSpec, f: F) -> Result<(), String>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = target::connect(target, APPLICATION_NAME)
            .await
            .map_err(|e| format!("target: {e}"))?;
        f(client).await
    })
}
