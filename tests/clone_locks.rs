//! A table another session keeps locked must not make a clone wait forever: after
//! `--lock-timeout` the clone fails, naming the table and the session in the way, and leaves
//! no target that looks complete.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const EXIT_FAILURE: i32 = 1;
const EXIT_COPY_FAILED: i32 = 5;

/// A psql session that holds a transaction open (and with it its locks) until dropped.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    _stdout: BufReader<ChildStdout>,
    pid: String,
}

impl Holder {
    /// Runs `statements` inside an open transaction as application `app`.
    fn hold(pg: &restage::localpg::Cluster, db: &str, app: &str, statements: &str) -> Holder {
        let mut child = Command::new(pg.bindir().join("psql"))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(pg.socket_dir())
            .arg("-p")
            .arg(pg.port().to_string())
            .args(["-U", "postgres", "-d", db])
            .env("PGAPPNAME", app)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn psql");
        let mut stdin = child.stdin.take().expect("psql stdin");
        writeln!(
            stdin,
            "BEGIN; {statements}; SELECT 'pid ' || pg_backend_pid();"
        )
        .expect("write to psql");
        stdin.flush().expect("flush psql");
        // Kept open: psql writing to a closed pipe would die and end the transaction.
        let mut stdout = BufReader::new(child.stdout.take().expect("psql stdout"));
        let mut line = String::new();
        while !line.starts_with("pid ") {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read from psql");
            assert!(n > 0, "the lock holder ended before taking its locks");
        }
        let pid = line.trim().trim_start_matches("pid ").to_string();
        Holder {
            child,
            stdin: Some(stdin),
            _stdout: stdout,
            pid,
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // End of input: psql ends its session, which ends the transaction.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `restage clone`, killed if it is still running after a minute (a clone waiting on a lock
/// forever must fail the test, not hang it).
fn clone_bounded(pg: &restage::localpg::Cluster, src: &str, dst: &str, extra: &[&str]) -> Run {
    let child = restage()
        .arg("clone")
        .arg("--source")
        .arg(pg.url(src))
        .arg("--target")
        .arg(pg.url(dst))
        .args(["--quiet", "--no-rules"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn restage");
    wait_bounded(child)
}

/// Waits for restage, killing it if it is still running after a minute.
fn wait_bounded(mut child: Child) -> Run {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait for restage");
            panic!(
                "restage was still waiting after 60 s; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::from(child.wait_with_output().expect("wait for restage"))
}

#[track_caller]
fn assert_names_blocker(stderr: &str, table: &str, holder: &Holder, app: &str) {
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"));
    for needle in [
        table,
        &format!("pid {}", holder.pid),
        &format!("application_name \"{app}\""),
        "--lock-timeout 2s",
        "in a transaction open for",
    ] {
        assert!(error.contains(needle), "{needle:?} missing in:\n{stderr}");
    }
}

#[test]
fn a_table_locked_on_the_source_fails_the_clone_naming_the_blocker() {
    let pg = cluster();
    let src = loaded_db(pg, "locked_src", "northwind/northwind.sql");
    let dst = fresh_db(pg, "locked_dst");
    let holder = Holder::hold(
        pg,
        &src,
        "schema-migration",
        "LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE",
    );
    let started = Instant::now();
    let run = clone_bounded(pg, &src, &dst, &["--lock-timeout", "2s"]);
    let took = started.elapsed();
    assert_eq!(run.code, EXIT_FAILURE, "{}", run.stderr);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_names_blocker(&run.stderr, "public.orders", &holder, "schema-migration");
    assert!(run.stderr.contains("AccessExclusiveLock"), "{}", run.stderr);
    // Nothing was written: the target is as empty as before, and not marked complete.
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ),
        "0"
    );
    drop(holder);
    // Once the lock is gone the same clone goes through.
    clone(pg, &src, &dst, &["--lock-timeout", "2s"]).assert_ok();
}

#[test]
fn a_session_holding_a_target_table_fails_clean_naming_it() {
    let pg = cluster();
    let src = loaded_db(pg, "tlocked_src", "northwind/northwind.sql");
    let dst = fresh_db(pg, "tlocked_dst");
    sql(
        pg,
        &dst,
        "CREATE TABLE leftover (x int); INSERT INTO leftover VALUES (1)",
    );
    // An application reading staging in an open transaction holds ACCESS SHARE, which the
    // drop of --clean waits for.
    let holder = Holder::hold(pg, &dst, "staging-app", "SELECT x FROM leftover");
    let started = Instant::now();
    let run = clone_bounded(pg, &src, &dst, &["--clean", "--lock-timeout", "2s"]);
    let took = started.elapsed();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_names_blocker(&run.stderr, "public.leftover", &holder, "staging-app");
    assert!(run.stderr.contains("target:"), "{}", run.stderr);
    let comment = sql(
        pg,
        &dst,
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database \
         WHERE datname = current_database()",
    );
    assert!(!comment.contains("complete clone"), "{comment}");
    drop(holder);
    clone(pg, &src, &dst, &["--clean", "--lock-timeout", "2s"]).assert_ok();
}

#[test]
fn a_lock_in_the_way_of_pg_restore_on_the_target_fails_the_clone_naming_it() {
    let pg = cluster();
    let src = fresh_db(pg, "rlocked_src");
    // `small` is in long before `big` is: with --index-jobs 0 its index (restored by a
    // pg_restore child) is built only after `big`'s last row, time enough to lock it.
    sql(
        pg,
        &src,
        "CREATE TABLE small (id int, label text); \
         INSERT INTO small SELECT g, 'label ' || g FROM generate_series(1, 100) g; \
         CREATE INDEX small_label_idx ON small (label); \
         CREATE TABLE big (id bigint, body text); \
         INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 1000000) g",
    );
    let dst = fresh_db(pg, "rlocked_dst");
    let mut child = restage()
        .arg("clone")
        .arg("--source")
        .arg(pg.url(&src))
        .arg("--target")
        .arg(pg.url(&dst))
        .args(["--quiet", "--no-rules", "--lock-timeout", "2s"])
        .args(["--jobs", "2", "--index-jobs", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn restage");
    let deadline = Instant::now() + Duration::from_secs(60);
    let exists = "SELECT to_regclass('public.small') IS NOT NULL";
    // Waits for the copy's transaction (TRUNCATE, COPY) to commit.
    while sql(pg, &dst, exists) == "f" || sql(pg, &dst, "SELECT count(*) FROM small") == "0" {
        assert!(Instant::now() < deadline, "small was never copied");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "restage ended before small was copied"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // ROW EXCLUSIVE, as an application writing to staging holds: CREATE INDEX waits for it.
    let holder = Holder::hold(
        pg,
        &dst,
        "staging-writer",
        "LOCK TABLE public.small IN ROW EXCLUSIVE MODE",
    );
    // Not blocked by the copy's locks, unlike a count(*).
    let copying = sql(
        pg,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{dst}' \
             AND query LIKE 'COPY%big%FROM STDIN%'"
        ),
    );
    let run = wait_bounded(child);
    assert_ne!(
        copying, "0",
        "big was already copied: the lock came too late"
    );
    assert_eq!(run.code, EXIT_COPY_FAILED, "{}", run.stderr);
    assert_names_blocker(&run.stderr, "public.small", &holder, "staging-writer");
    assert!(run.stderr.contains("target:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("for ShareLock on public.small"),
        "{}",
        run.stderr
    );
    let comment = sql(
        pg,
        &dst,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE datname = current_database()",
    );
    assert!(comment.starts_with("restage: INCOMPLETE"), "{comment}");
}

/// `restage ARGS…`, killed if it is still running after a minute.
fn restage_bounded(args: &[&std::ffi::OsStr]) -> Run {
    let child = restage()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn restage");
    wait_bounded(child)
}

fn snapshot_bounded(pg: &restage::localpg::Cluster, src: &str, out: &std::path::Path) -> Run {
    let url = pg.url(src);
    restage_bounded(&[
        "snapshot".as_ref(),
        "--source".as_ref(),
        url.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--quiet".as_ref(),
        "--no-rules".as_ref(),
        "--lock-timeout".as_ref(),
        "2s".as_ref(),
    ])
}

fn restore_bounded(pg: &restage::localpg::Cluster, dir: &std::path::Path, dst: &str) -> Run {
    let url = pg.url(dst);
    restage_bounded(&[
        "restore".as_ref(),
        dir.as_os_str(),
        "--target".as_ref(),
        url.as_ref(),
        "--clean".as_ref(),
        "--quiet".as_ref(),
        "--lock-timeout".as_ref(),
        "2s".as_ref(),
    ])
}

#[test]
fn a_table_locked_on_the_source_fails_the_snapshot_naming_the_blocker() {
    let pg = cluster();
    let src = loaded_db(pg, "slocked_src", "northwind/northwind.sql");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("snap");
    let holder = Holder::hold(
        pg,
        &src,
        "schema-migration",
        "LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE",
    );
    let started = Instant::now();
    let run = snapshot_bounded(pg, &src, &out);
    let took = started.elapsed();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_names_blocker(&run.stderr, "public.orders", &holder, "schema-migration");
    assert!(run.stderr.contains("source:"), "{}", run.stderr);
    assert!(
        !out.join("manifest.json").exists(),
        "a snapshot was written"
    );
    drop(holder);
    snapshot_bounded(pg, &src, &out).assert_ok();
}

#[test]
fn a_session_holding_a_target_table_fails_restore_clean_naming_it() {
    let pg = cluster();
    let src = loaded_db(pg, "rslocked_src", "northwind/northwind.sql");
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    snapshot_bounded(pg, &src, &snap).assert_ok();
    let dst = fresh_db(pg, "rslocked_dst");
    sql(
        pg,
        &dst,
        "CREATE TABLE leftover (x int); INSERT INTO leftover VALUES (1)",
    );
    // An application reading staging in an open transaction holds ACCESS SHARE, which the
    // drop of --clean waits for.
    let holder = Holder::hold(pg, &dst, "staging-app", "SELECT x FROM leftover");
    let started = Instant::now();
    let run = restore_bounded(pg, &snap, &dst);
    let took = started.elapsed();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_names_blocker(&run.stderr, "public.leftover", &holder, "staging-app");
    assert!(run.stderr.contains("target:"), "{}", run.stderr);
    drop(holder);
    restore_bounded(pg, &snap, &dst).assert_ok();
    assert_eq!(
        sql(pg, &dst, "SELECT to_regclass('public.leftover') IS NULL"),
        "t"
    );
}
