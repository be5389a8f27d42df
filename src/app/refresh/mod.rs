//! `restage refresh`: lock → roles → shadow → clone → verify → seed (SQL, then a seed plan) →
//! swap → retention, one JSON report. Nothing before the swap touches the live database; the swap is one
//! transaction; a failure before it drops the shadow (unless --keep-failed). `--rollback`:
//! lock → swap the newest previous database back → retention.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::run::SeedOptions;
use super::run::{provision_failure, spec_connection};
use super::sanitizing::Sanitizing;
use super::{pg_failure, runtime, Failure};
use crate::cli::{CloneOptions, OutputArgs, RefreshArgs, RulesArgs, TableSelection};
use crate::conn::{ConnSpec, Secret};
use crate::exit;
use crate::provision::postgres::{self as provision_pg, PgTask};
use crate::provision::spec::{self, LoadedSpec, RefreshSpec};
use crate::refresh::{completeness, ident, literal, lock, names, retention};
use crate::seed::SeedPlan;
use crate::sink::target;
use report::{emit, now_text, RefreshReport, StepRecord};

mod report;
mod swapping;

/// Test hook: `RESTAGE_TEST_PAUSE_AT=<step>` makes the run print `paused at <step>` on stderr
/// and wait (until killed) just before that step starts, or with `swap-commit` inside the swap
/// transaction before its COMMIT. The tests kill the process there.
const PAUSE_HOOK: &str = "RESTAGE_TEST_PAUSE_AT";

const DEFAULT_GRACE: Duration = Duration::from_secs(30);

pub fn run(args: &RefreshArgs) -> Result<(), Failure> {
    let loaded = spec::load(&args.env).map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
    let Some(refresh) = &loaded.spec.refresh else {
        return Err(Failure::new(
            exit::USAGE,
            format!("{} has no [refresh] section (rules = …)", loaded.path),
        ));
    };
    if loaded.spec.database.platform {
        // The swap renames databases: a platform's own database holds more than the
        // application's schemas and must never be replaced.
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "{}: [database] platform = true: refresh replaces whole databases; copy the application's schemas with `restage clone --schema` instead",
                loaded.path
            ),
        ));
    }
    let grace = match &refresh.grace {
        Some(text) => humantime::parse_duration(text.get_ref()).map_err(|e| {
            let (line, column) = spec_position(&loaded, text.span().start);
            Failure::new(
                exit::USAGE,
                format!("{}:{line}:{column}: [refresh] grace: {e}", loaded.path),
            )
        })?,
        None => DEFAULT_GRACE,
    };
    let admin = spec_connection(
        "[target] admin",
        loaded.spec.target.admin_url_env.as_ref(),
        loaded.spec.target.admin_url.as_ref(),
    )?;
    let live = loaded.spec.database.name.get_ref().clone();
    let mut report = RefreshReport {
        status: "failed".into(),
        action: if args.rollback { "rollback" } else { "refresh" }.into(),
        environment: loaded.spec.environment.get_ref().clone(),
        shadow: names::shadow(&live),
        live,
        started_at: now_text(),
        restage_version: env!("CARGO_PKG_VERSION").into(),
        steps: Vec::new(),
        failed_step: None,
        error: None,
        shadow_state: "none".into(),
        rules_digest: None,
        tables: 0,
        rows: 0,
        bytes: 0,
        verify: None,
        grace_seconds: grace.as_secs_f64(),
        swap: None,
        previous: None,
        dropped: Vec::new(),
        pending_detail: None,
    };
    let result = runtime().and_then(|rt| {
        let mut run = Run {
            args,
            loaded: &loaded,
            refresh,
            admin_spec: admin.with_default_application_name(&application_name(&loaded)),
            grace,
            rt: &rt,
            admin: None,
            report: &mut report,
            shadow_created: false,
        };
        let result = if args.rollback {
            run.rollback()
        } else {
            run.refresh()
        };
        if result.is_err() {
            run.cleanup();
        }
        result
    });
    match &result {
        Ok(()) => report.status = "ok".into(),
        Err(f) => report.error = Some(f.message.clone()),
    }
    emit(&report, &args.output)?;
    result
}

fn application_name(loaded: &LoadedSpec) -> String {
    format!("restage refresh {}", loaded.spec.environment.get_ref())
}

fn spec_position(loaded: &LoadedSpec, offset: usize) -> (usize, usize) {
    std::fs::read_to_string(&loaded.path)
        .map(|text| spec::line_col(&text, offset))
        .unwrap_or((1, 1))
}

struct Run<'a> {
    args: &'a RefreshArgs,
    loaded: &'a LoadedSpec,
    refresh: &'a RefreshSpec,
    admin_spec: ConnSpec,
    grace: Duration,
    rt: &'a tokio::runtime::Runtime,
    /// The session holding the environment's lock, for the whole run.
    admin: Option<Client>,
    report: &'a mut RefreshReport,
    shadow_created: bool,
}

impl Run<'_> {
    fn refresh(&mut self) -> Result<(), Failure> {
        let rules = self.rules_file()?;
        let sanitizing = Sanitizing::prepare_with_key_env(
            &RulesArgs {
                files: vec![rules.clone()],
                ..RulesArgs::default()
            },
            &self.refresh.key_env,
        )?;
        if sanitizing.key.is_none() {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "no sanitizing key: set {} (the [refresh] key_env of {}) to a secret of at \
                     least 16 characters",
                    self.refresh.key_env, self.loaded.path
                ),
            ));
        }
        self.report.rules_digest = Some(super::run_report::rules_digest(&sanitizing));
        // A bad plan is a usage error at file:line:column before anything is created.
        let seed_plan = match &self.refresh.seed_plan {
            Some(path) => {
                let path = self.loaded.resolve(path.get_ref());
                Some((super::run::load_plan(&path)?, path))
            }
            None => None,
        };
        let source = self.source()?;
        self.step("lock", |run| run.lock())?;
        self.step("roles", |run| run.roles())?;
        self.step("shadow", |run| run.create_shadow())?;
        self.step("clone", |run| run.clone_into_shadow(&source, &sanitizing))?;
        self.step("verify", |run| run.verify(&source, &sanitizing))?;
        let seed_sql = self
            .refresh
            .seed_sql
            .as_ref()
            .map(|path| self.loaded.resolve(path.get_ref()));
        if seed_sql.is_some() || seed_plan.is_some() {
            self.step("seed", |run| {
                run.seed(&source, seed_sql.as_deref(), seed_plan.as_ref())
            })?;
        }
        let shadow = self.report.shadow.clone();
        self.step("swap", |run| run.swap(&shadow))?;
        self.step("retention", |run| run.retention())
    }

    fn rollback(&mut self) -> Result<(), Failure> {
        self.step("lock", |run| run.lock())?;
        let newest = self.step("find", |run| {
            let live = run.report.live.clone();
            let found = run
                .rt
                .block_on(retention::previous(run.admin()?, &live))
                .map_err(|e| pg_failure(exit::FAILURE, "reading previous databases", &e))?;
            found.into_iter().next().ok_or_else(|| {
                Failure::new(
                    exit::REFUSED,
                    format!("no previous database of {live} to roll back to"),
                )
            })
        })?;
        self.step("swap", |run| run.swap(&newest))?;
        self.step("retention", |run| run.retention())
    }

    /// Runs one step, recording it in the report (and pausing there for the test hook).
    fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Self) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        pause_if_asked(name);
        // What an interruption (SIGINT, SIGTERM) leaves; clone refines it while it copies.
        let swapped = self.report.steps.iter().any(|s| s.name == "swap");
        let shadow_made = SHADOW_STEPS.contains(&name);
        crate::interrupt::set_state(Some(if swapped {
            format!("the swap is done: {} serves the new data", self.report.live)
        } else if shadow_made {
            format!(
                "the live database {} is untouched; dropping the shadow {}",
                self.report.live, self.report.shadow
            )
        } else {
            format!(
                "the live database {} is untouched (the shadow {}, if any, is dropped by the next \
                 refresh)",
                self.report.live, self.report.shadow
            )
        }));
        // Until the swap starts, an interrupted refresh drops the shadow it made: a CronJob's
        // pod stopped at its deadline leaves no half-copied database behind.
        crate::interrupt::set_cleanup(shadow_made.then(|| {
            let admin = self.admin_spec.clone();
            let shadow = self.report.shadow.clone();
            Box::new(move || drop_shadow_now(&admin, &shadow)) as crate::interrupt::Cleanup
        }));
        let started_at = now_text();
        let started = Instant::now();
        let result = f(self);
        let (outcome, detail) = match &result {
            Ok(_) => ("ok", self.report.steps_detail_take()),
            Err(e) => ("failed", e.message.clone()),
        };
        if result.is_err() {
            self.report.failed_step = Some(name.to_owned());
        }
        self.report.steps.push(StepRecord {
            name: name.to_owned(),
            started: started_at,
            ended: now_text(),
            seconds: started.elapsed().as_secs_f64(),
            outcome: outcome.into(),
            detail,
        });
        result
    }

    fn rules_file(&self) -> Result<PathBuf, Failure> {
        match &self.refresh.rules {
            Some(rules) => Ok(self.loaded.resolve(rules.get_ref())),
            None => Err(Failure::new(
                exit::USAGE,
                format!(
                    "{}: [refresh] has no rules file (rules = \"rules/app.toml\")",
                    self.loaded.path
                ),
            )),
        }
    }

    fn source(&self) -> Result<ConnSpec, Failure> {
        let Some(source) = &self.loaded.spec.source else {
            return Err(Failure::new(
                exit::USAGE,
                format!("{}: refresh needs a [source] (url_env)", self.loaded.path),
            ));
        };
        spec_connection("[source]", source.url_env.as_ref(), source.url.as_ref())
    }

    fn admin(&self) -> Result<&Client, Failure> {
        self.admin
            .as_ref()
            .ok_or_else(|| Failure::new(exit::FAILURE, "the admin session is gone"))
    }

    fn connect(&self, spec: &ConnSpec, what: &str) -> Result<Client, Failure> {
        let name = application_name(self.loaded);
        self.rt
            .block_on(spec.connect(&name))
            .map_err(|e| Failure::new(exit::CONNECTION, format!("{what}: {e}")))
    }

    fn lock(&mut self) -> Result<(), Failure> {
        let admin_db = self.admin_spec.dbname();
        if admin_db == self.report.live || admin_db == self.report.shadow {
            return Err(Failure::new(
                exit::USAGE,
                format!(
                    "the admin connection must not use the database {admin_db} itself (it is \
                     renamed); point [target] admin_url_env at another database, e.g. postgres"
                ),
            ));
        }
        let client = self.connect(&self.admin_spec, "target")?;
        let environment = self.report.environment.clone();
        let busy = self
            .rt
            .block_on(lock::acquire(&client, &environment, self.args.lock_wait))
            .map_err(|e| pg_failure(exit::FAILURE, "taking the refresh lock", &e))?;
        if let Some(holder) = busy {
            let who = holder.map_or_else(|| "another session".to_owned(), |h| h.to_string());
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "another refresh of environment {environment} is running: {who}; waited {}",
                    humantime::format_duration(self.args.lock_wait)
                ),
            ));
        }
        self.admin = Some(client);
        Ok(())
    }

    fn task(&self) -> PgTask<'_> {
        PgTask {
            admin_spec: &self.admin_spec,
            db: &self.loaded.spec.database,
            password: &NO_PASSWORD,
            shared_production_db: None,
            keep_connect: None,
            // Its role and grants carry over with the live database's; its password stays.
            migrations: None,
        }
    }

    fn roles(&mut self) -> Result<(), Failure> {
        self.check_admin_rights()?;
        let lines = self
            .rt
            .block_on(provision_pg::converge_roles(self.admin()?, &self.task()))
            .map_err(provision_failure)?;
        self.report.note(
            lines
                .iter()
                .map(|l| format!("{} {}", l.object, l.detail))
                .collect::<Vec<_>>()
                .join("; "),
        );
        Ok(())
    }

    /// What the admin role needs beyond `provision`'s rights, checked before anything is made:
    /// CREATEDB for the shadow, and ending the app's sessions at the swap (PostgreSQL lets only
    /// superusers and members of pg_signal_backend end another role's sessions).
    fn check_admin_rights(&self) -> Result<(), Failure> {
        let row = self
            .rt
            .block_on(self.admin()?.query_one(
                "SELECT current_user::text, rolsuper, rolcreatedb, \
                        pg_has_role(current_user, 'pg_signal_backend', 'USAGE') \
                 FROM pg_roles WHERE rolname = current_user",
                &[],
            ))
            .map_err(|e| pg_failure(exit::FAILURE, "reading the admin role", &e))?;
        let (name, superuser, createdb, signal): (String, bool, bool, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let mut lacks = Vec::new();
        if !superuser && !createdb {
            lacks.push("CREATEDB (to create the shadow database)");
        }
        if !superuser && !signal {
            lacks.push(
                "membership in pg_signal_backend (to end the application's sessions at the swap)",
            );
        }
        if lacks.is_empty() {
            return Ok(());
        }
        Err(Failure::new(
            exit::PRIVILEGES,
            format!(
                "the admin role {name} lacks {}; grant it, e.g. `ALTER ROLE {name} CREATEDB; \
                 GRANT pg_signal_backend TO {name}`",
                lacks.join(" and ")
            ),
        ))
    }

    fn create_shadow(&mut self) -> Result<(), Failure> {
        let shadow = self.report.shadow.clone();
        let live = self.report.live.clone();
        let admin = self.admin()?;
        let marks = [
            names::SHADOW_MARK,
            target::INCOMPLETE_MARK,
            target::COMPLETE_MARK,
        ];
        let failed = |e| pg_failure(exit::FAILURE, "target", &e);
        let mut note = String::new();
        match self
            .rt
            .block_on(retention::is_marked(admin, &shadow, &marks))
            .map_err(failed)?
        {
            Some(true) => {
                self.rt
                    .block_on(retention::drop_database(admin, &shadow))
                    .map_err(failed)?;
                note = format!("dropped the leftover {shadow}; ");
            }
            Some(false) => {
                return Err(Failure::new(
                    exit::REFUSED,
                    format!(
                        "the database {shadow} exists and restage did not make it (its comment \
                         has no restage mark); drop or rename it"
                    ),
                ))
            }
            None => {}
        }
        let owner = self.loaded.spec.database.owner.get_ref();
        let like = self
            .rt
            .block_on(admin.query_opt(
                "SELECT pg_encoding_to_char(encoding), datcollate::text, datctype::text \
                 FROM pg_database WHERE datname = $1",
                &[&live],
            ))
            .map_err(failed)?;
        let locale = like.map_or_else(String::new, |r| {
            format!(
                " ENCODING {} LC_COLLATE {} LC_CTYPE {}",
                literal(r.get(0)),
                literal(r.get(1)),
                literal(r.get(2))
            )
        });
        let sql = format!(
            "CREATE DATABASE {} OWNER {} TEMPLATE template0{locale}",
            ident(&shadow),
            ident(owner)
        );
        self.rt
            .block_on(admin.batch_execute(&sql))
            .map_err(|e| pg_failure(exit::FAILURE, "creating the shadow database", &e))?;
        self.shadow_created = true;
        let admin = self.admin()?;
        let comment = format!(
            "COMMENT ON DATABASE {} IS {}",
            ident(&shadow),
            literal(&format!(
                "{} {live} started {}",
                names::SHADOW_MARK,
                now_text()
            ))
        );
        self.rt
            .block_on(admin.batch_execute(&comment))
            .map_err(failed)?;
        self.report
            .note(format!("{note}created {shadow}, owner {owner}"));
        Ok(())
    }

    /// The shadow, reached as the admin acting as the owner role: everything the clone
    /// creates is the owner's, with no production role name needed.
    fn shadow_as_owner(&self) -> ConnSpec {
        let owner = self.loaded.spec.database.owner.get_ref();
        self.admin_spec
            .with_dbname(&self.report.shadow)
            .with_settings(&[&format!("role={owner}")])
    }

    /// The shadow's `--subset` roots: none (a refresh subsets only through its rules file's
    /// `where`/`percent`); the clone and its verification take the same.
    fn subset_roots(&self) -> crate::cli::SubsetArgs {
        crate::cli::SubsetArgs::default()
    }

    fn clone_into_shadow(
        &mut self,
        source: &ConnSpec,
        sanitizing: &Sanitizing,
    ) -> Result<(), Failure> {
        let options = CloneOptions {
            jobs: self.args.jobs,
            index_jobs: None,
            selection: TableSelection::default(),
            split_larger_than: 1 << 30,
            clean: false,
            no_owner: true,
            no_acl: true,
            keep_comments: false,
            lock_timeout: Duration::from_secs(60),
            schemas: Vec::new(),
            subset: self.subset_roots(),
        };
        let output = OutputArgs {
            json: false,
            report: None,
            quiet: true,
        };
        let cloned = super::run::clone(
            source,
            &self.shadow_as_owner(),
            &options,
            sanitizing,
            &output,
        )?;
        self.report.tables = cloned.totals.tables;
        self.report.rows = cloned.totals.rows;
        self.report.bytes = cloned.totals.bytes;
        let shadow = self.connect(&self.admin_spec.with_dbname(&self.report.shadow), "shadow")?;
        let lines = self
            .rt
            .block_on(provision_pg::converge_inside(
                self.admin()?,
                shadow,
                &self.task(),
            ))
            .map_err(provision_failure)?;
        self.report.note(format!(
            "{} tables, {} rows; {}",
            cloned.totals.tables,
            cloned.totals.rows,
            lines
                .iter()
                .map(|l| format!("{} {}", l.object, l.detail))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        Ok(())
    }

    fn verify(&mut self, source: &ConnSpec, sanitizing: &Sanitizing) -> Result<(), Failure> {
        let shadow_spec = self.shadow_as_owner();
        // The clone took its subset (if any) from the rules files alone; so does the scan, which
        // then compares each table with the rows that subset selects.
        let roots = self.subset_roots();
        let scanned = crate::app::run::scan(
            source,
            &shadow_spec,
            &sanitizing.files,
            &roots.roots,
            &[],
            &[],
        )?;
        self.report.verify = serde_json::to_value(&scanned).ok();
        crate::app::run::scan_outcome(&scanned)?;
        self.check_complete(source)?;
        self.report.note(format!(
            "no production values; row counts match on {} tables; every constraint and index present and valid",
            scanned.tables.len()
        ));
        Ok(())
    }

    /// Every source constraint and index present and valid on the shadow.
    fn check_complete(&self, source: &ConnSpec) -> Result<(), Failure> {
        let src = self.connect(source, "source")?;
        let shadow = self.connect(&self.shadow_as_owner(), "shadow")?;
        let missing = self
            .rt
            .block_on(completeness::missing(&src, &shadow))
            .map_err(|e| pg_failure(exit::FAILURE, "comparing constraints and indexes", &e))?;
        if missing.is_empty() {
            return Ok(());
        }
        Err(Failure::new(
            exit::VERIFY_FAILED,
            format!("the shadow database is incomplete: {}", missing.join("; ")),
        ))
    }

    /// The staging-only data, as the owner role: the SQL file, then the seed plan. The copy
    /// must stay complete after it.
    fn seed(
        &mut self,
        source: &ConnSpec,
        sql: Option<&Path>,
        plan: Option<&(SeedPlan, PathBuf)>,
    ) -> Result<(), Failure> {
        let mut notes = Vec::new();
        if let Some(path) = sql {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::new(exit::USAGE, format!("seed_sql {}: {e}", path.display()))
            })?;
            let shadow = self.connect(&self.shadow_as_owner(), "shadow")?;
            self.rt.block_on(shadow.batch_execute(&text)).map_err(|e| {
                pg_failure(exit::FAILURE, &format!("seed_sql {}", path.display()), &e)
            })?;
            notes.push(format!("ran {}", path.display()));
        }
        if let Some((plan, path)) = plan {
            let options = SeedOptions {
                seed: None,
                jobs: self.args.jobs,
            };
            let outcome = super::run::seed_database(&self.shadow_as_owner(), plan, &options)
                .map_err(|f| {
                    Failure::new(
                        f.code,
                        format!("seed_plan {}: {}", path.display(), f.message),
                    )
                })?;
            let tables: Vec<String> = outcome
                .tables
                .iter()
                .map(|(table, rows)| format!("{table} {rows} rows"))
                .collect();
            notes.push(format!("{}: {}", path.display(), tables.join(", ")));
        }
        self.check_complete(source)?;
        self.report.note(notes.join("; "));
        Ok(())
    }
}

/// The steps during which the shadow exists (or is being made) and the swap has not begun.
const SHADOW_STEPS: [&str; 4] = ["shadow", "clone", "verify", "seed"];

/// Drops the shadow from the signal thread (the run's own connections are busy): only a
/// database restage marked, so a name clash never costs someone else's database.
fn drop_shadow_now(admin: &ConnSpec, shadow: &str) {
    let marks = [
        names::SHADOW_MARK,
        target::INCOMPLETE_MARK,
        target::COMPLETE_MARK,
    ];
    let dropped = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let client = admin
                    .connect("restage-refresh-cleanup")
                    .await
                    .map_err(|e| e.to_string())?;
                match retention::is_marked(&client, shadow, &marks).await {
                    Ok(Some(true)) => retention::drop_database(&client, shadow)
                        .await
                        .map_err(|e| e.to_string()),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            })
        });
    match dropped {
        Ok(()) => eprintln!("restage: dropped the shadow {shadow}"),
        Err(e) => eprintln!(
            "restage: could not drop the shadow {shadow} ({e}); the next refresh drops it"
        ),
    }
}

/// Role steps and grants never read the app role's password (it belongs to `provision`).
static NO_PASSWORD: std::sync::LazyLock<Secret> = std::sync::LazyLock::new(|| Secret::new(""));

fn pause_if_asked(step: &str) {
    if std::env::var(PAUSE_HOOK).is_ok_and(|v| v == step) {
        eprintln!("paused at {step}");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
