//! Schema replay with PostgreSQL's own tools: `pg_dump --schema-only` into a custom-format
//! archive (taken inside the clone's snapshot), `pg_restore --section=pre-data` before the data,
//! and the post-data items after it. Never by executing plain SQL text ourselves: current
//! pg_dump releases put psql meta-commands into plain output.
//!
//! Post-data is split so index builds overlap the copy: a table's own indexes and
//! (non-foreign-key) constraints are restored as soon as its rows are in; foreign keys,
//! triggers and everything else follow once all data is loaded.

mod lockorder;
mod postdata;
mod toc;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::conn::ConnSpec;
use crate::interrupt::{ChildGuard, WorkDir};
use crate::pgbin::{self, Tool, Version};

pub use postdata::{plan as plan_post_data, ItemKind, PostAction, PostDataPlan, PostItem};
pub use toc::TocEntry;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Tool(#[from] pgbin::PgBinError),
    #[error("{step} failed: {detail}")]
    Failed { step: String, detail: String },
    #[error("I/O error during {step}: {source}")]
    Io {
        step: String,
        #[source]
        source: std::io::Error,
    },
}

/// How ownership and privileges are replayed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// Skip `ALTER … OWNER TO` (the target lacks production's roles).
    pub no_owner: bool,
    /// Skip GRANT/REVOKE.
    pub no_acl: bool,
}

/// A schema-only custom-format archive of the source, with its table of contents.
pub struct SchemaArchive {
    /// Private (0700) work directory: the dumped archive and restore lists hold production's
    /// schema.
    dir: WorkDir,
    path: PathBuf,
    pg_restore: Tool,
    pub pg_dump: Tool,
    toc: Vec<TocEntry>,
    toc_text: String,
}

impl SchemaArchive {
    /// Runs `pg_dump --schema-only -Fc` inside `snapshot` (exported by the clone's leader, which
    /// must keep its transaction open meanwhile). Without `comments`, `COMMENT ON` statements
    /// are left out of the archive: comments are free text nobody sanitizes.
    pub fn dump(
        source: &ConnSpec,
        snapshot: &str,
        server: Version,
        comments: bool,
    ) -> Result<SchemaArchive, SchemaError> {
        Self::dump_schemas(source, snapshot, server, comments, &[])
    }

    /// [`SchemaArchive::dump`] of these schemas only (none: all).
    pub fn dump_schemas(
        source: &ConnSpec,
        snapshot: &str,
        server: Version,
        comments: bool,
        schemas: &[String],
    ) -> Result<SchemaArchive, SchemaError> {
        let pg_dump = pgbin::find_for_server("pg_dump", server)?;
        // pg_restore must read what this pg_dump writes: take it from the same installation.
        let pg_restore_path = pg_dump.path.with_file_name("pg_restore");
        let pg_restore = Tool {
            version: pgbin::tool_version(&pg_restore_path)?,
            path: pg_restore_path,
        };
        let dir = work_dir()?;
        let path = dir.path().join("schema.dump");
        let mut cmd = libpq_command(&pg_dump.path, source);
        cmd.args(["--schema-only", "--format=custom", "--no-sync"])
            .arg(format!("--snapshot={snapshot}"))
            .arg(format!("--file={}", path.display()));
        if !comments {
            cmd.arg("--no-comments");
        }
        for schema in schemas {
            // A pattern to pg_dump: quoted, so that the name is taken literally.
            cmd.arg(format!("--schema=\"{}\"", schema.replace('"', "\"\"")));
        }
        // pg_dump sets lock_timeout to 0 in its session, overriding PGOPTIONS; its own flag
        // bounds the wait for its table locks instead.
        if let Some(limit) = source.setting("lock_timeout").filter(|v| *v != "0") {
            cmd.arg(format!("--lock-wait-timeout={limit}"));
        }
        cmd.arg(conninfo_dbname(source));
        run(cmd, "pg_dump --schema-only (source)")?;
        let mut list = Command::new(&pg_restore.path);
        list.arg("--list").arg(&path);
        let toc_text = run(list, "pg_restore --list")?;
        let toc = toc::parse(&toc_text);
        Ok(SchemaArchive {
            dir,
            path,
            pg_restore,
            pg_dump,
            toc,
            toc_text,
        })
    }

    /// Opens an archive written earlier by [`SchemaArchive::dump`] (kept in a snapshot), with a
    /// pg_restore at least as new as the pg_dump (`dumped_by`) that wrote it.
    pub fn open(path: &Path, dumped_by: Version) -> Result<SchemaArchive, SchemaError> {
        let pg_dump = pgbin::find_for_server("pg_dump", dumped_by)?;
        let pg_restore = pgbin::find_for_server("pg_restore", dumped_by)?;
        let dir = work_dir()?;
        let mut list = Command::new(&pg_restore.path);
        list.arg("--list").arg(path);
        let toc_text = run(list, "pg_restore --list")?;
        let toc = toc::parse(&toc_text);
        Ok(SchemaArchive {
            dir,
            path: path.to_path_buf(),
            pg_restore,
            pg_dump,
            toc,
            toc_text,
        })
    }

    /// The pg_restore that replays this archive.
    pub fn pg_restore(&self) -> &Tool {
        &self.pg_restore
    }

    /// The archive file (custom format).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The archive as SQL text without the lines that differ between two dumps of the same
    /// schema (psql's per-dump `\restrict` keys and comments, which carry the dump time): equal
    /// texts mean equal schemas.
    pub fn comparable_text(&self) -> Result<String, SchemaError> {
        let mut cmd = Command::new(&self.pg_restore.path);
        cmd.args(["--file=-"]).arg(&self.path);
        let text = run(cmd, "pg_restore (schema text)")?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .filter(|l| !l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    pub fn entries(&self) -> &[TocEntry] {
        &self.toc
    }

    /// Types, tables, functions, views…: everything the data needs, in one transaction.
    pub fn restore_pre_data(
        &self,
        target: &ConnSpec,
        opts: RestoreOptions,
    ) -> Result<(), SchemaError> {
        let mut cmd = self.restore_command(target, opts);
        cmd.args(["--section=pre-data", "--single-transaction"]);
        cmd.arg(&self.path);
        run(cmd, "pg_restore --section=pre-data (target)").map(|_| ())
    }

    /// The schemas this archive holds objects of.
    pub fn schemas(&self) -> std::collections::BTreeSet<String> {
        toc::schemas(&self.toc_text)
    }

    /// Pre-data without the `CREATE SCHEMA` entries: for a target whose schemas exist already
    /// (created by whoever provisioned it) and must stay as they are.
    pub fn restore_pre_data_into_existing_schemas(
        &self,
        target: &ConnSpec,
        opts: RestoreOptions,
    ) -> Result<(), SchemaError> {
        let schemas: HashSet<u32> = self
            .toc
            .iter()
            .filter(|e| e.desc == "SCHEMA")
            .map(|e| e.dump_id)
            .collect();
        let list = self.write_list(&schemas, false, "pre-data")?;
        let mut cmd = self.restore_command(target, opts);
        cmd.args(["--section=pre-data", "--single-transaction"])
            .arg(format!("--use-list={}", list.path().display()))
            .arg(&self.path);
        run(cmd, "pg_restore --section=pre-data (target)").map(|_| ())
    }

    /// Restores exactly these entries, in archive order (one table's indexes, say).
    pub fn restore_entries(
        &self,
        target: &ConnSpec,
        entries: &[TocEntry],
        opts: RestoreOptions,
        what: &str,
    ) -> Result<(), SchemaError> {
        let ids: HashSet<u32> = entries.iter().map(|e| e.dump_id).collect();
        let list = self.write_list(&ids, true, what)?;
        let mut cmd = self.restore_command(target, opts);
        cmd.arg(format!("--use-list={}", list.path().display()))
            .arg(&self.path);
        run(cmd, &format!("pg_restore of {what} (target)")).map(|_| ())
    }

    /// The rest of post-data (foreign keys, triggers, policies…) with `jobs` parallel workers,
    /// skipping entries already restored per table, with the foreign key settings in every
    /// session: in a schema-only archive's post-data, validating foreign keys is the only work
    /// the planner sees.
    pub fn restore_post_data_except(
        &self,
        target: &ConnSpec,
        done: &HashSet<u32>,
        jobs: usize,
        opts: RestoreOptions,
    ) -> Result<(), SchemaError> {
        let list = self.write_list(done, false, "post-data")?;
        // Parallel workers attaching partition indexes can deadlock with each other (one
        // attaches to a parent index another is reading): with partitioned indexes left to
        // attach, the rest of post-data runs in one session.
        let attaches = self
            .toc
            .iter()
            .any(|e| e.desc == "INDEX ATTACH" && !done.contains(&e.dump_id));
        let jobs = if attaches { 1 } else { jobs.max(1) };
        let target = target.with_settings(postdata::FOREIGN_KEY_SETTINGS);
        let mut cmd = self.restore_command(&target, opts);
        cmd.arg("--section=post-data")
            .arg(format!("--jobs={jobs}"))
            .arg(format!("--use-list={}", list.path().display()))
            .arg(&self.path);
        run(cmd, "pg_restore --section=post-data (target)").map(|_| ())
    }

    /// A `--use-list` file holding the TOC lines whose dump ID is (or, with `include` false, is
    /// not) in `ids`.
    fn write_list(
        &self,
        ids: &HashSet<u32>,
        include: bool,
        what: &str,
    ) -> Result<tempfile::NamedTempFile, SchemaError> {
        use std::io::Write;
        let io_err = |source| SchemaError::Io {
            step: format!("writing the restore list for {what}"),
            source,
        };
        let mut file = tempfile::NamedTempFile::new_in(self.dir.path()).map_err(io_err)?;
        for line in self.toc_text.lines() {
            let keep = match toc::dump_id(line) {
                Some(id) => ids.contains(&id) == include,
                None => false,
            };
            if keep {
                writeln!(file, "{line}").map_err(io_err)?;
            }
        }
        file.flush().map_err(io_err)?;
        Ok(file)
    }

    fn restore_command(&self, target: &ConnSpec, opts: RestoreOptions) -> Command {
        let mut cmd = libpq_command(&self.pg_restore.path, target);
        cmd.arg("--exit-on-error").arg(format!(
            "--dbname={}",
            conninfo_dbname(target).trim_start_matches("--dbname=")
        ));
        if opts.no_owner {
            cmd.arg("--no-owner");
        }
        if opts.no_acl {
            cmd.arg("--no-acl");
        }
        cmd
    }
}

fn work_dir() -> Result<WorkDir, SchemaError> {
    WorkDir::new("restage-schema-").map_err(|source| SchemaError::Io {
        step: "creating the schema work directory".into(),
        source,
    })
}

/// A PostgreSQL client program set up to reach `conn` through libpq environment variables,
/// so no password ever appears on a command line (where `ps` shows it).
fn libpq_command(program: &Path, conn: &ConnSpec) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    for (key, value) in conn.libpq_env() {
        cmd.env(key, value);
    }
    end_with_restage(&mut cmd);
    cmd
}

/// pg_dump and pg_restore must not outlive restage. On Linux the child gets SIGTERM when the
/// thread that started it ends, which is how restage's death (SIGKILL, SIGTERM, Ctrl-C alone in
/// a script) reaches it: both programs answer SIGTERM by cancelling their running statement on
/// the server, so an index build or foreign key check for a clone nobody waits for stops at
/// once instead of running to its end. Every caller waits for the child on the thread that
/// started it, so a normal run never triggers the signal. The child's umask keeps what it
/// writes (pg_dump's archive of production's schema) readable by its owner only.
fn end_with_restage(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe system calls (umask, prctl, getppid); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(0o077);
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // restage may have died between fork and prctl: then nobody would signal.
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// `--dbname=dbname='…'`: a conninfo fragment, so that database names containing `=` or spaces
/// are never misread.
fn conninfo_dbname(conn: &ConnSpec) -> String {
    let db = conn.dbname().replace('\\', "\\\\").replace('\'', "\\'");
    format!("--dbname=dbname='{db}'")
}

/// Runs a child to its end, registered so that an interrupted run stops it first.
fn run(mut cmd: Command, step: &str) -> Result<String, SchemaError> {
    let failed = |e: std::io::Error| SchemaError::Failed {
        step: step.to_string(),
        detail: e.to_string(),
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let registered = ChildGuard::new(child.id());
    let out = child.wait_with_output().map_err(failed)?;
    drop(registered);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(SchemaError::Failed {
            step: step.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
