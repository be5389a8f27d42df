//! Test harness: one real PostgreSQL cluster per test binary (initdb into a temp dir, loopback
//! port, torn down when the binary exits), a fresh database per test, and the real `restage`
//! binary driven as a subprocess. A missing server binary fails the tests with an install hint.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use restage::localpg::{Cluster, ClusterOptions};

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The binary's shared cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| start(ClusterOptions::new("test")))
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
    let out = Command::new(cluster.bindir().join("pg_dump"))
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
    let a = checksums(cluster, src);
    let b = checksums(cluster, dst);
    assert!(!a.trim().is_empty(), "no checksums for {src}");
    assert_eq!(
        a, b,
        "table contents or sequences differ between {src} and {dst}"
    );
    let sa = schema_dump(cluster, src);
    let sb = schema_dump(cluster, dst);
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
