//! Fixtures on disk against real PostgreSQL: snapshot → restore equals a sanitized clone with
//! the same key, damaged or foreign directories are refused before the target changes,
//! unchanged tables are not rewritten, and reset recreates a database from a template while
//! sessions are connected to it.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;

const EXIT_REFUSED: i32 = 4;
const EXIT_NOT_A_SNAPSHOT: i32 = 7;
const EXIT_DAMAGED: i32 = 8;
const KEY: &str = "restage-test-key-0123456789";

const APP: &str = "
CREATE TYPE public.mood AS ENUM ('calm', 'busy', 'angry');
CREATE TABLE public.users (
    id int PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text,
    moods public.mood[],
    created_at timestamptz NOT NULL DEFAULT '2024-01-01'
);
CREATE TABLE public.visits (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id int NOT NULL REFERENCES public.users,
    note text,
    at timestamptz NOT NULL DEFAULT '2024-02-01'
);
CREATE INDEX ON public.visits (user_id);
INSERT INTO public.users (id, email, name, moods)
SELECT g, 'user' || g || '@example.org', 'Person ' || g,
       CASE WHEN g % 4 = 0 THEN NULL ELSE ARRAY['calm', 'busy']::public.mood[] END
FROM generate_series(1, 400) g;
INSERT INTO public.visits (user_id, note) SELECT 1 + g % 400, 'visit ' || g FROM generate_series(1, 1500) g;
CREATE MATERIALIZED VIEW public.visit_counts AS
    SELECT user_id, count(*) AS n FROM public.visits GROUP BY user_id;
";

const RULES: &str = r#"
[defaults.columns]
"*at" = "keep"

[tables."public.users".columns]
id = "keep"
email = { rule = "email" }
name = { rule = "person_name" }
moods = "keep"

[tables."public.visits".columns]
id = "keep"
user_id = "keep"
note = { rule = "lorem" }
"#;

fn app_db(prefix: &str) -> String {
    let pg = cluster();
    let db = fresh_db(pg, prefix);
    sql(pg, &db, APP);
    db
}

struct Work {
    _dir: tempfile::TempDir,
    rules: PathBuf,
    snap: PathBuf,
}

fn work() -> Work {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("app.toml");
    std::fs::write(&rules, RULES).expect("rules");
    let snap = dir.path().join("snap");
    Work {
        _dir: dir,
        rules,
        snap,
    }
}

fn snapshot(src: &str, w: &Work) -> Run {
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["snapshot", "--source", &cluster().url(src)])
            .arg("--rules")
            .arg(&w.rules)
            .arg("--out")
            .arg(&w.snap),
    )
}

fn restore(dir: &Path, dst: &str, extra: &[&str]) -> Run {
    run_cmd(
        restage()
            .arg("restore")
            .arg(dir)
            .args(["--target", &cluster().url(dst)])
            .args(extra),
    )
}

fn data_files(snap: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(snap.join("data"))
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

fn table_count(db: &str) -> String {
    sql(
        cluster(),
        db,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    )
    .trim()
    .to_string()
}

#[test]
fn snapshot_then_restore_equals_a_sanitized_clone_with_the_same_key() {
    let pg = cluster();
    let src = app_db("rt_src");
    let w = work();
    snapshot(&src, &w).assert_ok();
    let restored = fresh_db(pg, "rt_restored");
    let run = restore(&w.snap, &restored, &["--jobs", "2"]);
    run.assert_ok();
    assert!(run.stdout.contains("2 tables, 1900 rows"), "{}", run.stdout);

    let cloned = fresh_db(pg, "rt_cloned");
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["clone", "--quiet", "--source", &pg.url(&src)])
            .args(["--target", &pg.url(&cloned)])
            .arg("--rules")
            .arg(&w.rules),
    )
    .assert_ok();
    assert_eq!(checksums(pg, &restored), checksums(pg, &cloned));
    assert_ne!(
        checksums(pg, &restored),
        checksums(pg, &src),
        "values were sanitized"
    );
    // Nothing of production's personal data is in the files.
    let leaked = sql(
        pg,
        &restored,
        "SELECT count(*) FROM public.users WHERE email LIKE 'user%@example.org'",
    );
    assert_eq!(leaked.trim(), "0");
    // Indexes, foreign keys, sequences, materialized views, enum arrays came along.
    assert_eq!(
        sql(
            pg,
            &restored,
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'visits'"
        )
        .trim(),
        "2"
    );
    assert_eq!(
        sql(
            pg,
            &restored,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
        )
        .trim(),
        "1"
    );
    assert_eq!(
        sql(pg, &restored, "SELECT sum(n) FROM public.visit_counts").trim(),
        "1500"
    );
    assert_eq!(
        sql(pg, &restored, "SELECT moods FROM public.users WHERE id = 1").trim(),
        "{calm,busy}"
    );
    let comment = sql(
        pg,
        &restored,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()",
    );
    assert!(comment.starts_with("restage: complete"), "{comment}");

    // ls / inspect describe it; a restore into a non-empty database is refused.
    let ls = run_cmd(restage().args(["snapshot", "ls"]).arg(&w.snap));
    ls.assert_ok();
    assert!(
        ls.stdout.contains("public.visits") && ls.stdout.contains("1500"),
        "{}",
        ls.stdout
    );
    let inspect = run_cmd(restage().args(["snapshot", "inspect"]).arg(&w.snap));
    inspect.assert_ok();
    assert!(
        inspect.stdout.contains("rules digest"),
        "{}",
        inspect.stdout
    );
    let again = restore(&w.snap, &restored, &[]);
    assert_eq!(again.code, EXIT_REFUSED, "{}", again.stderr);
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    restore(&w.snap, &restored, &["--clean", "--quiet"]).assert_ok();
    assert_eq!(checksums(pg, &restored), checksums(pg, &cloned));
}

#[test]
fn damaged_files_are_named_and_nothing_is_loaded() {
    let pg = cluster();
    let src = app_db("dmg_src");
    let w = work();
    snapshot(&src, &w).assert_ok();
    let files = data_files(&w.snap);
    assert_eq!(files.len(), 2);

    // One flipped byte.
    let original = std::fs::read(&files[0]).expect("read");
    let mut flipped = original.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    std::fs::write(&files[0], &flipped).expect("write");
    let dst = fresh_db(pg, "dmg_dst");
    let run = restore(&w.snap, &dst, &[]);
    assert_eq!(run.code, EXIT_DAMAGED, "{}", run.stderr);
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(run.stderr.contains(&name), "{}", run.stderr);
    assert_eq!(table_count(&dst), "0", "target untouched");

    // Truncated.
    std::fs::write(&files[0], &original[..original.len() - 7]).expect("write");
    let run = restore(&w.snap, &dst, &[]);
    assert_eq!(run.code, EXIT_DAMAGED, "{}", run.stderr);
    assert!(
        run.stderr.contains(&name) && run.stderr.contains("truncated"),
        "{}",
        run.stderr
    );
    assert_eq!(table_count(&dst), "0", "target untouched");

    // Missing.
    std::fs::remove_file(&files[0]).expect("remove");
    let run = restore(&w.snap, &dst, &[]);
    assert_eq!(run.code, EXIT_DAMAGED, "{}", run.stderr);
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
    assert_eq!(table_count(&dst), "0", "target untouched");
}

#[test]
fn foreign_directories_and_newer_formats_are_refused() {
    let pg = cluster();
    let dst = fresh_db(pg, "foreign_dst");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("dump.sql"), "SELECT 1;").expect("write");
    let run = restore(dir.path(), &dst, &[]);
    assert_eq!(run.code, EXIT_NOT_A_SNAPSHOT, "{}", run.stderr);
    assert!(
        run.stderr.contains("not a restage snapshot"),
        "{}",
        run.stderr
    );
    let ls = run_cmd(restage().args(["snapshot", "ls"]).arg(dir.path()));
    assert_eq!(ls.code, EXIT_NOT_A_SNAPSHOT, "{}", ls.stderr);

    let src = app_db("newer_src");
    let w = work();
    snapshot(&src, &w).assert_ok();
    let path = w.snap.join("manifest.json");
    let text = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(&path, text.replacen("\"format\": 1", "\"format\": 99", 1)).expect("write");
    let run = restore(&w.snap, &dst, &[]);
    assert_eq!(run.code, EXIT_NOT_A_SNAPSHOT, "{}", run.stderr);
    assert!(run.stderr.contains("newer restage"), "{}", run.stderr);
    assert_eq!(table_count(&dst), "0", "target untouched");

    // A snapshot is never written over a directory holding something else.
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["snapshot", "--source", &pg.url(&src)])
            .arg("--rules")
            .arg(&w.rules)
            .arg("--out")
            .arg(dir.path()),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(run.stderr.contains("dump.sql"), "{}", run.stderr);
}

#[test]
fn unchanged_tables_are_not_rewritten_by_a_second_snapshot() {
    let pg = cluster();
    let src = app_db("again_src");
    let w = work();
    snapshot(&src, &w).assert_ok();
    let before: Vec<(PathBuf, u64, i64)> = data_files(&w.snap)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).expect("meta");
            (p, m.ino(), m.mtime_nsec())
        })
        .collect();
    let run = snapshot(&src, &w);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("0 files written, 2 unchanged, 0 old removed"),
        "{}",
        run.stdout
    );
    for (p, ino, mtime) in &before {
        let m = std::fs::metadata(p).expect("still there");
        assert_eq!((m.ino(), m.mtime_nsec()), (*ino, *mtime), "{}", p.display());
    }

    // One table changes: its file is replaced, the other stays as it was.
    sql(
        pg,
        &src,
        "UPDATE public.visits SET note = 'changed' WHERE id = 7",
    );
    let run = snapshot(&src, &w);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("1 files written, 1 unchanged, 1 old removed"),
        "{}",
        run.stdout
    );
    let after = data_files(&w.snap);
    assert_eq!(after.len(), 2);
    assert_eq!(
        before.iter().filter(|(p, _, _)| after.contains(p)).count(),
        1
    );
    let dst = fresh_db(pg, "again_dst");
    restore(&w.snap, &dst, &["--quiet"]).assert_ok();
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM public.visits WHERE note = 'changed'"
        )
        .trim(),
        "0",
        "the note is sanitized like every other"
    );
}

#[test]
fn reset_recreates_the_database_from_the_template_while_sessions_are_connected() {
    let pg = cluster();
    let src = app_db("reset_src");
    let w = work();
    snapshot(&src, &w).assert_ok();
    let template = "reset_tpl";
    let run = restore(&w.snap, "postgres", &["--as-template", template]);
    run.assert_ok();
    let db = "reset_app";
    let reset = || {
        run_cmd(restage().args([
            "reset",
            template,
            "--target-db",
            db,
            "--target",
            &pg.url("postgres"),
        ]))
    };
    reset().assert_ok();
    assert_eq!(
        sql(pg, db, "SELECT count(*) FROM public.visits").trim(),
        "1500"
    );
    sql(pg, db, "DELETE FROM public.visits");

    // A test left a session open on the database.
    let mut held = std::process::Command::new(pg.bindir().join("psql"))
        .arg("-h")
        .arg(pg.socket_dir())
        .arg("-p")
        .arg(pg.port().to_string())
        .args(["-U", "postgres", "-d", db, "-c", "SELECT pg_sleep(60)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    for _ in 0..50 {
        let n = sql(
            pg,
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"),
        );
        if n.trim() != "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let run = reset();
    let _ = held.kill();
    let _ = held.wait();
    run.assert_ok();
    assert!(
        run.stderr.contains("terminated session") && run.stderr.contains(db),
        "{}",
        run.stderr
    );
    assert_eq!(
        sql(pg, db, "SELECT count(*) FROM public.visits").trim(),
        "1500"
    );

    // A template restored again needs --clean; an unknown template is refused.
    let run = restore(&w.snap, "postgres", &["--as-template", template]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    restore(&w.snap, "postgres", &["--as-template", template, "--clean"]).assert_ok();
    let run = run_cmd(restage().args([
        "reset",
        "no_such_template",
        "--target-db",
        db,
        "--target",
        &pg.url("postgres"),
    ]));
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
}

#[test]
fn an_interrupted_snapshot_never_looks_complete() {
    let pg = cluster();
    let src = app_db("kill_src");
    let w = work();
    for (round, delay_ms) in [30u64, 120, 250, 500].into_iter().enumerate() {
        // Production moves on between attempts, so each one has something new to write.
        sql(
            pg,
            &src,
            &format!("UPDATE public.visits SET at = at + interval '1 day' WHERE id = {round} + 1"),
        );
        let had_manifest = w.snap.join("manifest.json").exists();
        // A killed process cannot remove its temporary files: keep them in the test's directory.
        let tmp = w.rules.with_file_name("tmp");
        std::fs::create_dir_all(&tmp).expect("temp dir");
        let mut child = restage()
            .env("RESTAGE_KEY", KEY)
            .env("TMPDIR", &tmp)
            .args(["snapshot", "--quiet", "--source", &pg.url(&src)])
            .arg("--rules")
            .arg(&w.rules)
            .arg("--out")
            .arg(&w.snap)
            .spawn()
            .expect("restage");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        if !w.snap.join("manifest.json").exists() {
            assert!(!had_manifest, "a complete snapshot disappeared");
            assert!(!status.success());
            let run = restore(&w.snap, "postgres", &[]);
            assert_eq!(run.code, EXIT_NOT_A_SNAPSHOT, "{}", run.stderr);
            continue;
        }
        // Whatever the manifest says (the previous snapshot or this one) is complete.
        let dst = fresh_db(pg, "kill_dst");
        restore(&w.snap, &dst, &["--quiet"]).assert_ok();
        assert_eq!(
            sql(pg, &dst, "SELECT count(*) FROM public.visits").trim(),
            "1500"
        );
    }
    // The next snapshot cleans up whatever the interrupted ones left behind.
    snapshot(&src, &w).assert_ok();
    let leftovers: Vec<_> = data_files(&w.snap)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(data_files(&w.snap).len(), 2);
}

#[test]
fn a_restore_that_fails_midway_is_marked_incomplete() {
    let pg = cluster();
    let src = app_db("midway_src");
    let w = work();
    snapshot(&src, &w).assert_ok();
    // A manifest that promises a row its file does not hold.
    let path = w.snap.join("manifest.json");
    let text = std::fs::read_to_string(&path).expect("manifest");
    assert_eq!(text.matches("\"rows\": 400,").count(), 2, "{text}");
    std::fs::write(&path, text.replace("\"rows\": 400,", "\"rows\": 401,")).expect("write");
    let dst = fresh_db(pg, "midway_dst");
    let run = restore(&w.snap, &dst, &[]);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("public.users") && run.stderr.contains("incomplete"),
        "{}",
        run.stderr
    );
    let comment = sql(
        pg,
        &dst,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()",
    );
    assert!(comment.starts_with("restage: INCOMPLETE"), "{comment}");
}

#[test]
fn a_verbatim_snapshot_of_chinook_restores_to_the_same_database() {
    let pg = cluster();
    let src = loaded_db(pg, "chinook_src", "chinook/Chinook_PostgreSql.sql");
    let w = work();
    run_cmd(
        restage()
            .args([
                "snapshot",
                "--quiet",
                "--no-rules",
                "--source",
                &pg.url(&src),
            ])
            .arg("--out")
            .arg(&w.snap),
    )
    .assert_ok();
    let dst = fresh_db(pg, "chinook_dst");
    restore(&w.snap, &dst, &["--quiet", "--jobs", "2"]).assert_ok();
    assert_same_database(pg, &src, &dst);
}

#[test]
fn a_subset_snapshot_restores_the_selected_tables_and_the_rest_empty() {
    let pg = cluster();
    let src = loaded_db(pg, "subset_src", "chinook/Chinook_PostgreSql.sql");
    let w = work();
    let snapshot = |extra: &[&str]| {
        run_cmd(
            restage()
                .args([
                    "snapshot",
                    "--quiet",
                    "--no-rules",
                    "--source",
                    &pg.url(&src),
                ])
                .args(extra)
                .arg("--out")
                .arg(&w.snap),
        )
    };
    // Track references Album, Genre and MediaType: copying it alone could not validate.
    let refused = snapshot(&["--table", "Track"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    snapshot(&[
        "--table",
        "Genre",
        "--table",
        "MediaType",
        "--table",
        "Artist",
    ])
    .assert_ok();
    let dst = fresh_db(pg, "subset_dst");
    restore(&w.snap, &dst, &["--quiet"]).assert_ok();
    let count = |t: &str| {
        sql(pg, &dst, &format!("SELECT count(*) FROM public.\"{t}\""))
            .trim()
            .to_string()
    };
    assert_eq!(
        count("Genre"),
        sql(pg, &src, "SELECT count(*) FROM public.\"Genre\"").trim()
    );
    assert_eq!(count("Artist"), "275");
    assert_eq!(count("Track"), "0");
    assert_eq!(count("Customer"), "0");
}

#[test]
fn snapshot_restore_and_reset_write_the_run_report() {
    let pg = cluster();
    let src = app_db("report_src");
    let w = work();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("snapshot-report.json");
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["snapshot", "--json", "--source", &pg.url(&src)])
            .arg("--rules")
            .arg(&w.rules)
            .arg("--out")
            .arg(&w.snap)
            .arg("--report")
            .arg(&file),
    );
    run.assert_ok();
    let snap: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("--report file"))
            .expect("--report JSON");
    assert_eq!(snap, written, "--report writes the same report as --json");
    assert_complete_report(&snap, "snapshot");
    assert_eq!(snap["totals"]["rows"], 1900);
    assert_eq!(snap["target"], w.snap.display().to_string());
    assert_eq!(snap["details"]["files_unchanged"], 0);
    let columns = snap["privacy"]["columns"].as_array().expect("columns");
    assert!(columns.iter().any(|c| c["table"] == "public.users"
        && c["column"] == "email"
        && c["decision"] == "rule"
        && c["rule"] == "email"));
    assert!(snap["privacy"]["key_fingerprint"]
        .as_str()
        .is_some_and(|f| f.starts_with("blake3:")));

    let restored = fresh_db(pg, "report_restored");
    let run = restore(&w.snap, &restored, &["--json"]);
    run.assert_ok();
    let back: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_complete_report(&back, "restore");
    assert_eq!(back["verify"]["outcome"], "ok");
    assert_eq!(back["privacy"]["mode"], "snapshot");
    assert_eq!(
        back["privacy"]["rules_digest"],
        snap["privacy"]["rules_digest"]
    );
    let line = |r: &serde_json::Value, table: &str| {
        r["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["table"] == table)
            .cloned()
            .unwrap_or_default()
    };
    // visits holds no embedded type OIDs: the target received the very stream the snapshot
    // stored, so both runs report the same checksum.
    assert_eq!(line(&back, "public.visits")["target_rows"], 1500);
    assert_eq!(
        line(&back, "public.visits")["checksum"],
        line(&snap, "public.visits")["checksum"]
    );

    let template = "report_tpl";
    restore(&w.snap, "postgres", &["--as-template", template, "--quiet"]).assert_ok();
    let run = run_cmd(restage().args([
        "reset",
        template,
        "--target-db",
        "report_reset",
        "--json",
        "--target",
        &pg.url("postgres"),
    ]));
    run.assert_ok();
    let reset: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_run_report(&reset, "reset");
    assert_eq!(reset["status"], "ok");
    assert_eq!(reset["target_state"], "complete");
    let steps: Vec<&str> = reset["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(steps, ["guards", "drop", "create"]);
}
