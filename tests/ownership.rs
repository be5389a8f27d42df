//! Nothing that is not restage's is destroyed: `reset` replaces only databases restage made (or
//! empty ones) from templates restage made, `snapshot --out` removes only files a manifest of
//! its own listed and keeps what it writes private, and `restore` says what a path it cannot
//! read as a snapshot is.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

const EXIT_REFUSED: i32 = 4;
const EXIT_NOT_A_SNAPSHOT: i32 = 7;

const APP: &str = "
CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 50) g;
CREATE TABLE public.notes (id int PRIMARY KEY, body text);
INSERT INTO public.notes SELECT g, 'note ' || g FROM generate_series(1, 20) g;
";

fn app_db(prefix: &str) -> String {
    let pg = cluster();
    let db = fresh_db(pg, prefix);
    sql(pg, &db, APP);
    db
}

fn snapshot(src: &str, out: &Path) -> Run {
    run_cmd(
        restage()
            .args(["snapshot", "--no-rules", "--source", &cluster().url(src)])
            .arg("--out")
            .arg(out),
    )
}

fn reset(template: &str, db: &str, extra: &[&str]) -> Run {
    run_cmd(
        restage()
            .args(["reset", template, "--target-db", db, "--target"])
            .arg(cluster().url("postgres"))
            .args(extra),
    )
}

fn scalar(db: &str, query: &str) -> String {
    sql(cluster(), db, query).trim().to_string()
}

fn comment(db: &str) -> String {
    scalar(
        "postgres",
        &format!(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database \
             WHERE datname = '{db}'"
        ),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn reset_replaces_only_databases_restage_made_from_templates_restage_made() {
    let pg = cluster();
    let src = app_db("own_src");
    let work = tempfile::tempdir().expect("temp dir");
    let snap = work.path().join("snap");
    snapshot(&src, &snap).assert_ok();
    let template = "own_tpl";
    run_cmd(
        restage()
            .arg("restore")
            .arg(&snap)
            .args(["--quiet", "--as-template", template, "--target"])
            .arg(pg.url("postgres")),
    )
    .assert_ok();

    // Someone else's database with data in it.
    let victim = fresh_db(pg, "victim");
    sql(
        pg,
        &victim,
        "CREATE TABLE public.mine (v int); INSERT INTO public.mine VALUES (1), (2), (3);",
    );
    let run = reset(template, &victim, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(
        run.stderr.contains(&victim)
            && run.stderr.contains("public.mine")
            && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(scalar(&victim, "SELECT count(*) FROM public.mine"), "3");

    // A template restage did not make is refused too, whatever the target.
    let fresh = "own_from_template1";
    let run = reset("template1", fresh, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(
        run.stderr.contains("template1") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(
        scalar(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{fresh}'")
        ),
        "0"
    );

    // An empty database may be replaced; the copy carries restage's mark, so the next reset
    // replaces it again.
    let empty = fresh_db(pg, "own_empty");
    reset(template, &empty, &[]).assert_ok();
    assert!(
        comment(&empty).starts_with("restage: "),
        "{}",
        comment(&empty)
    );
    sql(pg, &empty, "DELETE FROM public.items");
    reset(template, &empty, &[]).assert_ok();
    assert_eq!(scalar(&empty, "SELECT count(*) FROM public.items"), "50");

    // --force says otherwise.
    reset(template, &victim, &["--force"]).assert_ok();
    assert_eq!(scalar(&victim, "SELECT count(*) FROM public.items"), "50");

    // restore --as-template --clean does not drop someone else's database either.
    let theirs = fresh_db(pg, "own_theirs");
    sql(pg, &theirs, "CREATE TABLE public.mine (v int);");
    let run = run_cmd(
        restage()
            .arg("restore")
            .arg(&snap)
            .args(["--quiet", "--clean", "--as-template", &theirs, "--target"])
            .arg(pg.url("postgres")),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert_eq!(scalar(&theirs, "SELECT count(*) FROM public.mine"), "0");
}

#[test]
fn snapshot_removes_only_files_of_its_own_and_keeps_them_private() {
    let pg = cluster();
    let src = app_db("files_src");
    let work = tempfile::tempdir().expect("temp dir");

    // A directory of someone else's files, without a manifest: refused, untouched.
    let foreign = work.path().join("foreign");
    std::fs::create_dir_all(foreign.join("data")).expect("mkdir");
    std::fs::create_dir_all(foreign.join("schema")).expect("mkdir");
    std::fs::write(foreign.join("data/mydata.csv"), "1,2\n").expect("write");
    std::fs::write(foreign.join("schema/mine.sql"), "SELECT 1;\n").expect("write");
    let run = snapshot(&src, &foreign);
    assert_eq!(run.code, EXIT_REFUSED, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("data/mydata.csv"), "{}", run.stderr);
    assert!(foreign.join("data/mydata.csv").exists());
    assert!(foreign.join("schema/mine.sql").exists());

    // A new directory is private: 0700, files 0600.
    let snap = work.path().join("snap");
    snapshot(&src, &snap).assert_ok();
    assert_eq!(mode(&snap), 0o700);
    let written = files_under(&snap);
    assert!(written.len() >= 4, "{written:?}");
    for file in &written {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    for sub in ["data", "schema"] {
        assert_eq!(mode(&snap.join(sub)), 0o700, "{sub}");
    }

    // A file of someone else's inside a snapshot survives the next snapshot; the data file
    // the new snapshot no longer needs is removed.
    let notes = snap.join("data/notes.txt");
    std::fs::write(&notes, "mine\n").expect("write");
    sql(
        pg,
        &src,
        "UPDATE public.notes SET body = 'changed' WHERE id = 1",
    );
    let run = snapshot(&src, &snap);
    run.assert_ok();
    assert!(run.stdout.contains("1 old removed"), "{}", run.stdout);
    assert!(notes.exists(), "a file restage did not write was removed");

    // A directory someone opened up keeps its files readable by the others it admits.
    let shared = work.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    snapshot(&src, &shared).assert_ok();
    for file in files_under(&shared) {
        assert_eq!(mode(&file), 0o644, "{}", file.display());
    }
}

#[test]
fn restore_says_what_a_path_that_is_not_a_snapshot_directory_is() {
    let dst = fresh_db(cluster(), "path_dst");
    let work = tempfile::tempdir().expect("temp dir");
    let file = work.path().join("passwd");
    std::fs::write(&file, "root:x:0:0::/root:/bin/sh\n").expect("write");
    let restore = |path: &Path| {
        run_cmd(
            restage()
                .arg("restore")
                .arg(path)
                .args(["--target", &cluster().url(&dst)]),
        )
    };
    let run = restore(&file);
    assert_eq!(run.code, EXIT_NOT_A_SNAPSHOT, "{}", run.stderr);
    assert!(
        run.stderr.contains("is a file") && !run.stderr.contains("no such"),
        "{}",
        run.stderr
    );
    let run = restore(&work.path().join("missing"));
    assert_eq!(run.code, EXIT_NOT_A_SNAPSHOT, "{}", run.stderr);
    assert!(run.stderr.contains("no such"), "{}", run.stderr);
}

/// A clone user may fill a database it does not own (CREATE granted on the database and its
/// schema) but cannot write the database's comment, restage's INCOMPLETE/COMPLETE mark. The
/// rows are copied and checked; the report says `unmarked` and warns, instead of claiming a
/// mark that `verify` and `reset` would not find.
#[test]
fn a_clone_into_a_database_it_does_not_own_reports_the_target_unmarked() {
    let pg = cluster();
    let src = app_db("unmarked_src");
    let dst = fresh_db(pg, "unmarked_dst");
    let role = format!("filler_{dst}");
    let password = "filler-pw-for-tests";
    sql(
        pg,
        "postgres",
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{password}'; \
             GRANT CREATE ON DATABASE {dst} TO {role}; GRANT CONNECT ON DATABASE {src} TO {role}"
        ),
    );
    sql(
        pg,
        &dst,
        &format!("GRANT CREATE, USAGE ON SCHEMA public TO {role}"),
    );
    let target = format!(
        "postgresql://{role}:{password}@127.0.0.1:{}/{dst}",
        pg.port()
    );
    let run = run_cmd(
        restage()
            .args(["clone", "--json", "--no-rules", "--no-owner", "--source"])
            .arg(pg.url(&src))
            .arg("--target")
            .arg(&target),
    );
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("--json report");
    assert_run_report(&report, "clone");
    assert_eq!(report["target_state"], "unmarked", "{}", run.stdout);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("no restage mark"), "{warnings}");
    assert!(!run.stderr.contains(password) && !run.stdout.contains(password));
    assert_eq!(comment(&dst), "", "the database carries no mark");
    assert_eq!(
        checksums(pg, &src),
        checksums(pg, &dst),
        "the rows are copied"
    );
}
