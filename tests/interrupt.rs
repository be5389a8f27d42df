//! SIGTERM and SIGINT during a clone: one line says the run was interrupted and the target is
//! marked INCOMPLETE, the exit code is the shell's (143, 130), and the private work directory
//! holding production's schema (0700, its files 0600 while it exists) is gone.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// A table whose rows are slow to load on any database but the source: its CHECK sleeps there.
fn slow_source() -> String {
    let pg = cluster();
    let src = fresh_db(pg, "slow_src");
    sql(
        pg,
        &src,
        &format!(
            "CREATE FUNCTION public.slow_check(v int) RETURNS boolean LANGUAGE plpgsql AS $$
             BEGIN
                 IF current_database() <> '{src}' THEN PERFORM pg_sleep(0.02); END IF;
                 RETURN v IS NOT NULL;
             END $$;
             CREATE TABLE public.slow (id int PRIMARY KEY CHECK (public.slow_check(id)), v text);
             INSERT INTO public.slow SELECT g, 'row ' || g FROM generate_series(1, 2000) g;"
        ),
    );
    src
}

fn schema_dirs(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .expect("tmp dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().contains("restage-schema-"))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn comment(db: &str) -> String {
    sql(
        cluster(),
        "postgres",
        &format!(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database \
             WHERE datname = '{db}'"
        ),
    )
    .trim()
    .to_string()
}

fn interrupt_a_clone(src: &str, signal: i32, name: &str, code: i32) {
    let pg = cluster();
    let dst = fresh_db(pg, "slow_dst");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cmd = restage();
    // As from a terminal: a test run started in the background has SIGINT ignored, and
    // restage, like any program, leaves an ignored signal ignored.
    // SAFETY: signal(2) is async-signal-safe and the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = cmd
        .env("TMPDIR", tmp.path())
        .args(["clone", "--no-rules", "--quiet", "--source", &pg.url(src)])
        .args(["--target", &pg.url(&dst)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("restage");

    // Wait until the data is being copied: the target is marked, the schema archive exists.
    let started = Instant::now();
    let dump = loop {
        let found = schema_dirs(tmp.path())
            .into_iter()
            .map(|d| d.join("schema.dump"))
            .find(|f| f.exists());
        if let Some(dump) = found {
            if comment(&dst).starts_with("restage: INCOMPLETE") {
                break dump;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the clone never started copying"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let work_dir = dump.parent().expect("parent").to_path_buf();
    let modes = (mode(&work_dir), mode(&dump));

    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill has no memory effects; the pid is our own child, not yet reaped.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(sent, 0);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{:?}\n{stderr}", out.status);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("interrupted"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(name) && lines[0].contains("INCOMPLETE"),
        "{stderr}"
    );
    assert!(
        schema_dirs(tmp.path()).is_empty(),
        "the schema work directory was left behind: {:?}",
        schema_dirs(tmp.path())
    );
    assert!(
        comment(&dst).starts_with("restage: INCOMPLETE"),
        "{}",
        comment(&dst)
    );
    assert_eq!(modes, (0o700, 0o600), "modes of {}", dump.display());
}

#[test]
fn sigterm_and_sigint_stop_a_clone_leaving_no_schema_files_and_an_incomplete_mark() {
    let src = slow_source();
    interrupt_a_clone(&src, libc::SIGTERM, "SIGTERM", 143);
    interrupt_a_clone(&src, libc::SIGINT, "SIGINT", 130);
}
