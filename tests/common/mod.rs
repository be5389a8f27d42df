//! Test harness: one real PostgreSQL cluster per test binary (initdb into a temp dir, loopback
//! port, torn down when the binary exits), a fresh database per test, and the real `restage`
//! binary driven as a subprocess. A missing server binary fails the tests with an install hint.

#![allow(dead_code)]

pub mod kube;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

mod report;
#[allow(unused_imports)]
pub use report::*;

use restage::localpg::{Cluster, ClusterOptions};
use restage::pgbin;

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The binary's shared cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| start(ClusterOptions::new("test")))
}

/// A cluster of PostgreSQL `major`, started on first use: the system's own when it is that
/// major, otherwise one from restage's cache of majors (`scripts/pg-versions.sh`). A major that
/// is not installed fails the test with the command that installs it.
pub fn cluster_of(major: u32) -> &'static Cluster {
    static OTHERS: OnceLock<Mutex<HashMap<u32, &'static Cluster>>> = OnceLock::new();
    if cluster().version().major == major {
        return cluster();
    }
    let mut others = OTHERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = others.get(&major) {
        return c;
    }
    let bindir = installed_bindir(major);
    let started = start(ClusterOptions::new(&format!("pg{major}")).bindir(&bindir));
    assert_eq!(
        started.version().major,
        major,
        "{} is not PostgreSQL {major}",
        bindir.display()
    );
    // One cluster per major for the life of the test binary, like `cluster()`; its watchdog
    // stops it when the binary exits.
    let leaked: &'static Cluster = Box::leak(Box::new(started));
    others.insert(major, leaked);
    leaked
}

/// The bin directory of PostgreSQL `major` in restage's cache of majors, or a failed test with
/// the command that installs it.
pub fn installed_bindir(major: u32) -> PathBuf {
    pgbin::cached_bindir(major)
        .filter(|dir| dir.join("postgres").is_file())
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL {major} is not installed for the version tests: run \
                 `scripts/pg-versions.sh install {major}` (into {})",
                pgbin::cached_bindir(major).map_or_else(
                    || "RESTAGE_PG_CACHE".to_string(),
                    |d| d.display().to_string()
                )
            )
        })
}

/// A PostgreSQL client program at least as new as `server`, or a failed test saying what to
/// install.
pub fn client_tool(name: &str, server: pgbin::Version) -> PathBuf {
    match pgbin::find_for_server(name, server) {
        Ok(tool) => tool.path,
        Err(e) => {
            panic!("{e}\n(PostgreSQL 18's client tools: `scripts/pg-versions.sh install 18`)")
        }
    }
}

/// Starts a cluster or fails the test saying what to install.
pub fn start(options: ClusterOptions) -> Cluster {
    match Cluster::start(&options) {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot start a throwaway PostgreSQL for the tests: {e}\n\
             (install the server: `apt-get install -y postgresql`)"
        ),
    }
}

/// A new empty database with a name unique in this binary.
pub fn fresh_db(cluster: &Cluster, prefix: &str) -> String {
    let n = NEXT_DB.fetch_add(1, Ordering::SeqCst);
    let name = format!("{prefix}_{n}");
    cluster
        .create_database(&name)
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    name
}

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// A fresh database loaded from a fixture SQL file.
pub fn loaded_db(cluster: &Cluster, prefix: &str, sql: &str) -> String {
    let db = fresh_db(cluster, prefix);
    cluster
        .psql_file(&db, &fixture(sql))
        .unwrap_or_else(|e| panic!("loading {sql}: {e}"));
    db
}

pub fn sql(cluster: &Cluster, db: &str, query: &str) -> String {
    cluster
        .psql(db, query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// The `restage` binary with a clean environment (no inherited PG* variables).
pub fn restage() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_restage"));
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("PG") || k.starts_with("RESTAGE_") {
            cmd.env_remove(&key);
        }
    }
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "restage failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub fn run_cmd(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("running restage"))
}

/// `restage clone` from `src` to `dst` on `cluster`, with extra arguments.
pub fn clone(cluster: &Cluster, src: &str, dst: &str, extra: &[&str]) -> Run {
    run_cmd(
        restage()
            .arg("clone")
            .arg("--source")
            .arg(cluster.url(src))
            .arg("--target")
            .arg(cluster.url(dst))
            .args(["--quiet"])
            .args(rules_or_verbatim(extra))
            .args(extra),
    )
}

/// Extra arguments of `clone` runs without their own rules: copy verbatim.
fn rules_or_verbatim(extra: &[&str]) -> &'static [&'static str] {
    if extra.iter().any(|a| a.starts_with("--rules")) {
        &[]
    } else {
        &["--no-rules"]
    }
}

/// Per-relation fingerprint (rows' md5, counts, sequence positions) via fixtures/checksums.sql.
pub fn checksums(cluster: &Cluster, db: &str) -> String {
    cluster
        .psql_file(db, &fixture("checksums.sql"))
        .unwrap_or_else(|e| panic!("checksums of {db}: {e}"))
}

/// `pg_dump --schema-only` with the lines that legitimately differ between two databases
/// removed (psql's per-dump `\restrict` keys and comments).
pub fn schema_dump(cluster: &Cluster, db: &str) -> String {
    schema_dump_with(&client_tool("pg_dump", cluster.version()), cluster, db)
}

/// [`schema_dump`] with a given pg_dump, so that dumps of two servers compare.
pub fn schema_dump_with(pg_dump: &Path, cluster: &Cluster, db: &str) -> String {
    let out = Command::new(pg_dump)
        .args(["--schema-only", "--no-comments"])
        .arg("-h")
        .arg(cluster.socket_dir())
        .arg("-p")
        .arg(cluster.port().to_string())
        .args(["-U", "postgres", "-d", db])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "pg_dump {db}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that `dst` is a faithful copy of `src`: same rows in every table, same schema.
#[track_caller]
pub fn assert_same_database(cluster: &Cluster, src: &str, dst: &str) {
    assert_same_across(cluster, src, cluster, dst);
}

/// [`assert_same_database`] for databases on two clusters (possibly of different majors); both
/// schemas are dumped by the same pg_dump, new enough for either server.
#[track_caller]
pub fn assert_same_across(from: &Cluster, src: &str, to: &Cluster, dst: &str) {
    let a = checksums(from, src);
    let b = checksums(to, dst);
    assert!(!a.trim().is_empty(), "no checksums for {src}");
    assert_eq!(
        a, b,
        "table contents or sequences differ between {src} and {dst}"
    );
    let pg_dump = client_tool("pg_dump", from.version().max(to.version()));
    let sa = schema_dump_with(&pg_dump, from, src);
    let sb = schema_dump_with(&pg_dump, to, dst);
    if sa != sb {
        let diff: Vec<String> = sa
            .lines()
            .zip(sb.lines())
            .filter(|(x, y)| x != y)
            .take(10)
            .map(|(x, y)| format!("- {x}\n+ {y}"))
            .collect();
        panic!(
            "schemas differ between {src} and {dst}:\n{}",
            diff.join("\n")
        );
    }
}
