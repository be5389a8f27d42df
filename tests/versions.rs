//! restage against every supported PostgreSQL major: for each source version chosen by
//! `RESTAGE_TEST_PG_VERSIONS` (default: the oldest and newest, 13 and 18; `all` for the whole
//! matrix), a verbatim clone that equals its source, a sanitizing clone that `verify` finds
//! clean, and snapshot → restore equal to that clone, into each supported target major. Older
//! targets are refused before anything is written. Majors other than the system's come from
//! `scripts/pg-versions.sh install …`; a missing one fails with that command.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use common::*;
use restage::localpg::Cluster;

const EXIT_REFUSED: i32 = 4;
const KEY: &str = "restage-versions-key-0123456789";
const VERSIONS_ENV: &str = "RESTAGE_TEST_PG_VERSIONS";
/// Every source major the matrix covers (15 is the system's).
const ALL: &[u32] = &[12, 13, 14, 15, 16, 17, 18];
/// What runs by default: the oldest and newest supported sources.
const DEFAULT: &[u32] = &[13, 18];

fn wanted_sources() -> Vec<u32> {
    match std::env::var(VERSIONS_ENV) {
        Ok(v) if v.trim() == "all" => ALL.to_vec(),
        Ok(v) if !v.trim().is_empty() => v
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("{VERSIONS_ENV}: {s:?} is not a major version"))
            })
            .collect(),
        _ => DEFAULT.to_vec(),
    }
}

/// Targets tested for a source: sources up to the system's 15 into 15 and 18, newer ones into
/// 18 (their pg_dump must be 18's, whose pg_restore cannot write into 16 or older: see
/// `tools_too_new_for_the_target_are_refused_before_anything_is_written`).
fn targets_for(source: u32) -> Vec<u32> {
    if source <= 15 {
        vec![15, 18]
    } else {
        vec![18]
    }
}

/// The chinook fixture loaded once per source cluster.
fn chinook(pg: &'static Cluster) -> String {
    static LOADED: OnceLock<Mutex<Vec<(u32, String)>>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let major = pg.version().major;
    if let Some((_, db)) = loaded.iter().find(|(m, _)| *m == major) {
        return db.clone();
    }
    let db = loaded_db(pg, "chinook", "chinook/Chinook_PostgreSql.sql");
    loaded.push((major, db.clone()));
    db
}

fn rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/chinook.toml")
}

fn clone_between(from: &Cluster, src: &str, to: &Cluster, dst: &str, extra: &[&str]) -> Run {
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args([
                "clone",
                "--quiet",
                "--source",
                &from.url(src),
                "--target",
                &to.url(dst),
            ])
            .args(extra),
    )
}

fn label(from: &Cluster, to: &Cluster) -> String {
    format!("PostgreSQL {} → {}", from.version(), to.version())
}

/// Relations in a database outside the system schemas: nothing was written when it is 0.
fn relation_count(pg: &Cluster, db: &str) -> String {
    sql(
        pg,
        db,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
    )
}

#[test]
fn verbatim_clones_equal_their_source_on_every_pair() {
    for source in wanted_sources() {
        let from = cluster_of(source);
        let src = chinook(from);
        for target in targets_for(source) {
            let to = cluster_of(target);
            let dst = fresh_db(to, &format!("verbatim{source}"));
            let run = clone_between(from, &src, to, &dst, &["--no-rules"]);
            assert_eq!(
                run.code,
                0,
                "{}\n{}\n{}",
                label(from, to),
                run.stdout,
                run.stderr
            );
            assert_same_across(from, &src, to, &dst);
        }
    }
}

#[test]
fn sanitized_clones_verify_clean_and_snapshots_restore_equal_on_every_pair() {
    for source in wanted_sources() {
        let from = cluster_of(source);
        let src = chinook(from);
        for target in targets_for(source) {
            let to = cluster_of(target);
            let what = label(from, to);
            let dst = fresh_db(to, &format!("sanitized{source}"));
            let mut extra = vec!["--rules"];
            let rules = rules();
            let rules_arg = rules.to_string_lossy().into_owned();
            extra.push(&rules_arg);
            let run = clone_between(from, &src, to, &dst, &extra);
            assert_eq!(run.code, 0, "{what}\n{}\n{}", run.stdout, run.stderr);

            let verify = run_cmd(
                restage()
                    .env("RESTAGE_KEY", KEY)
                    .args([
                        "verify",
                        "--source",
                        &from.url(&src),
                        "--target",
                        &to.url(&dst),
                    ])
                    .args(["--rules", &rules_arg]),
            );
            assert_eq!(
                verify.code, 0,
                "{what}\n{}\n{}",
                verify.stdout, verify.stderr
            );
            assert!(
                verify.stdout.contains("0 leaks in 22 scanned columns"),
                "{what}\n{}",
                verify.stdout
            );

            let dir = tempfile::tempdir().expect("temp dir");
            let snap = dir.path().join("snap");
            run_cmd(
                restage()
                    .env("RESTAGE_KEY", KEY)
                    .args(["snapshot", "--quiet", "--source", &from.url(&src)])
                    .args(["--rules", &rules_arg])
                    .arg("--out")
                    .arg(&snap),
            )
            .assert_ok();
            let restored = fresh_db(to, &format!("restored{source}"));
            let run = run_cmd(
                restage()
                    .args(["restore", "--quiet"])
                    .arg(&snap)
                    .args(["--target", &to.url(&restored)]),
            );
            assert_eq!(run.code, 0, "{what}\n{}\n{}", run.stdout, run.stderr);
            assert_eq!(
                checksums(to, &restored),
                checksums(to, &dst),
                "{what}: the restored snapshot differs from the sanitized clone"
            );
            let template = format!("template_{source}_{target}");
            run_cmd(restage().args(["restore", "--quiet"]).arg(&snap).args([
                "--target",
                &to.url("postgres"),
                "--as-template",
                &template,
            ]))
            .assert_ok();
            // A sealed template takes no connections: compare a database made from it.
            let from_template = format!("from_{template}");
            sql(
                to,
                "postgres",
                &format!("CREATE DATABASE {from_template} TEMPLATE {template}"),
            );
            assert_eq!(
                checksums(to, &from_template),
                checksums(to, &dst),
                "{what}: the template differs from the sanitized clone"
            );
        }
    }
}

/// An older target is refused before anything is written, naming both versions; so is a
/// snapshot restored into a server older than its source.
#[test]
fn older_targets_are_refused_before_anything_is_written() {
    for (source, target) in [(18, 15), (15, 13)] {
        let from = cluster_of(source);
        let to = cluster_of(target);
        let src = chinook(from);
        let dst = fresh_db(to, &format!("older{source}"));
        let run = clone_between(from, &src, to, &dst, &["--no-rules"]);
        assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
        for version in [from.version(), to.version()] {
            assert!(
                run.stderr.contains(&format!("PostgreSQL {version}")),
                "{}: {}",
                label(from, to),
                run.stderr
            );
        }
        assert!(
            run.stderr
                .contains(&format!("PostgreSQL {source} or newer")),
            "{}",
            run.stderr
        );
        assert_eq!(relation_count(to, &dst), "0", "{}", label(from, to));
    }

    let from = cluster_of(15);
    let to = cluster_of(13);
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = dir.path().join("snap");
    run_cmd(
        restage()
            .args([
                "snapshot",
                "--quiet",
                "--no-rules",
                "--source",
                &from.url(&chinook(from)),
            ])
            .arg("--out")
            .arg(&snap),
    )
    .assert_ok();
    let dst = fresh_db(to, "older_restore");
    let run = run_cmd(
        restage()
            .args(["restore", "--quiet"])
            .arg(&snap)
            .args(["--target", &to.url(&dst)]),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("PostgreSQL 15 or newer"),
        "{}",
        run.stderr
    );
    assert_eq!(relation_count(to, &dst), "0");

    // As a template: refused before the template database is created.
    let run = run_cmd(restage().args(["restore", "--quiet"]).arg(&snap).args([
        "--target",
        &to.url("postgres"),
        "--as-template",
        "older_template",
    ]));
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("PostgreSQL 15 or newer"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sql(
            to,
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'older_template'"
        ),
        "0",
        "the template database was created"
    );
}

/// A source newer than every pg_dump restage can find is refused up front, saying what to
/// install; with PostgreSQL 18's tools in restage's cache the same clone succeeds.
#[test]
fn a_source_newer_than_the_tools_is_refused_saying_what_to_install() {
    let from = cluster_of(18);
    let to = cluster_of(18);
    let src = chinook(from);
    let system = cluster().bindir().to_path_buf();
    let dst = fresh_db(to, "oldtools");
    let run = run_cmd(
        restage()
            .env("RESTAGE_PG_BINDIR", &system)
            .args([
                "clone",
                "--quiet",
                "--no-rules",
                "--source",
                &from.url(&src),
            ])
            .args(["--target", &to.url(&dst)]),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("older than the server (18.")
            && run.stderr.contains("scripts/pg-versions.sh install 18"),
        "{}",
        run.stderr
    );
    assert_eq!(relation_count(to, &dst), "0");
    // Without the override, restage finds PostgreSQL 18's pg_dump in its cache.
    clone_between(from, &src, to, &dst, &["--no-rules"]).assert_ok();
    assert_same_database(to, &src, &dst);
}

/// PostgreSQL 17+'s pg_restore sets `transaction_timeout`, which older servers reject: with
/// only such tools at hand, a clone into PostgreSQL 16 or older (here 15 → 15 with 18's tools)
/// is refused up front, saying what to install, instead of failing with the target half-written.
#[test]
fn tools_too_new_for_the_target_are_refused_before_anything_is_written() {
    let pg = cluster_of(15);
    let newest = cluster_of(18).bindir().to_path_buf();
    let src = chinook(pg);
    let dst = fresh_db(pg, "newtools");
    let run = run_cmd(
        restage()
            .env("RESTAGE_PG_BINDIR", &newest)
            .args(["clone", "--quiet", "--no-rules", "--source", &pg.url(&src)])
            .args(["--target", &pg.url(&dst)]),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    let version = pg.version();
    assert!(
        run.stderr.contains("pg_restore 18.")
            && run.stderr.contains(&format!("PostgreSQL {version}"))
            && run.stderr.contains("client tools"),
        "{}",
        run.stderr
    );
    assert_eq!(relation_count(pg, &dst), "0");
    assert_eq!(
        sql(pg, "postgres", &format!("SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{dst}'")),
        "",
        "the target was marked: it was written to"
    );
}

/// The server programs the harness started really are the major they claim (a guard against
/// a cache directory holding another version).
#[test]
fn each_wanted_major_runs_its_own_server() {
    for source in wanted_sources() {
        let pg = cluster_of(source);
        let num = sql(pg, "postgres", "SHOW server_version_num");
        assert!(num.starts_with(&source.to_string()), "{source}: {num}");
        let initdb = Command::new(pg.bindir().join("postgres"))
            .arg("--version")
            .output()
            .expect("postgres --version");
        assert!(String::from_utf8_lossy(&initdb.stdout).contains(&format!(" {source}.")));
    }
}

/// Catalog features of PostgreSQL 17 and 18, cloned 18 → 18 and compared object by object:
/// virtual generated columns, named NOT NULL constraints (in pg_constraint since 18),
/// NOT ENFORCED foreign keys and checks, temporal keys (WITHOUT OVERLAPS, PERIOD foreign keys)
/// and the MAINTAIN privilege.
const PG18_FEATURES: &str = "
CREATE EXTENSION btree_gist;
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'versions_maint') THEN
    CREATE ROLE versions_maint;
  END IF;
END $$;
CREATE TABLE room (
  id int,
  valid daterange,
  name text CONSTRAINT room_name_present NOT NULL,
  price numeric NOT NULL,
  price_with_tax numeric GENERATED ALWAYS AS (price * 1.2) VIRTUAL,
  CONSTRAINT room_valid_key PRIMARY KEY (id, valid WITHOUT OVERLAPS),
  CONSTRAINT room_price_sane CHECK (price < 1000) NOT ENFORCED
);
CREATE TABLE booking (
  id int PRIMARY KEY,
  room_id int,
  during daterange,
  guest_id int,
  CONSTRAINT booking_room_fk FOREIGN KEY (room_id, PERIOD during)
    REFERENCES room (id, PERIOD valid),
  CONSTRAINT booking_guest_fk FOREIGN KEY (guest_id) REFERENCES booking (id) NOT ENFORCED
);
INSERT INTO room VALUES (1, '[2026-01-01,2027-01-01)', 'Blue', 100),
                        (1, '[2027-01-01,2028-01-01)', 'Blue', 120),
                        (2, '[2026-01-01,2028-01-01)', 'Red', 2000);
INSERT INTO booking VALUES (1, 1, '[2026-03-01,2026-03-05)', 42),
                           (2, 2, '[2027-05-01,2027-05-03)', NULL);
GRANT MAINTAIN ON room TO versions_maint;
";

#[test]
fn postgresql_18_catalog_features_are_copied_faithfully() {
    let pg = cluster_of(18);
    let src = fresh_db(pg, "features18_src");
    sql(pg, &src, PG18_FEATURES);
    let dst = fresh_db(pg, "features18_dst");
    clone_between(pg, &src, pg, &dst, &["--no-rules"]).assert_ok();
    assert_same_database(pg, &src, &dst);
    let described = "SELECT string_agg(format('%s %s %s %s', conname, contype, conenforced, \
                     pg_get_constraintdef(oid)), E'\\n' ORDER BY conname) FROM pg_constraint \
                     WHERE conrelid IN ('room'::regclass, 'booking'::regclass)";
    let constraints = sql(pg, &dst, described);
    assert_eq!(constraints, sql(pg, &src, described));
    for expected in [
        "room_name_present n t NOT NULL name",
        "room_price_sane c f CHECK ((price < (1000)::numeric)) NOT ENFORCED",
        "booking_guest_fk f f FOREIGN KEY (guest_id) REFERENCES booking(id) NOT ENFORCED",
        "booking_room_fk f t FOREIGN KEY (room_id, PERIOD during) REFERENCES room(id, PERIOD valid)",
        "room_valid_key p t PRIMARY KEY (id, valid WITHOUT OVERLAPS)",
    ] {
        assert!(constraints.contains(expected), "{expected}\n{constraints}");
    }
    assert_eq!(
        sql(pg, &dst, "SELECT attgenerated FROM pg_attribute WHERE attrelid = 'room'::regclass AND attname = 'price_with_tax'"),
        "v"
    );
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT string_agg(price_with_tax::text, ',' ORDER BY id, valid) FROM room"
        ),
        "120.0,144.0,2400.0"
    );
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT has_table_privilege('versions_maint', 'room', 'MAINTAIN')"
        ),
        "t"
    );
}

/// Catalog features of PostgreSQL 14 and 15 (multiranges, per-column COMPRESSION, unique keys
/// with NULLS NOT DISTINCT), from the system's 15 into 15 and into 18.
const PG15_FEATURES: &str = "
CREATE TABLE slot (
  id int PRIMARY KEY,
  free datemultirange NOT NULL,
  note text COMPRESSION pglz,
  code text,
  CONSTRAINT slot_code_key UNIQUE NULLS NOT DISTINCT (code)
);
INSERT INTO slot VALUES
  (1, '{[2026-01-01,2026-01-05), [2026-02-01,2026-02-03)}', repeat('x', 5000), NULL),
  (2, '{}', 'short', 'A');
";

#[test]
fn postgresql_14_and_15_catalog_features_are_copied_faithfully() {
    let from = cluster_of(15);
    let src = fresh_db(from, "features15_src");
    sql(from, &src, PG15_FEATURES);
    for target in [15, 18] {
        let to = cluster_of(target);
        let dst = fresh_db(to, "features15_dst");
        clone_between(from, &src, to, &dst, &["--no-rules"]).assert_ok();
        assert_same_across(from, &src, to, &dst);
        assert_eq!(
            sql(to, &dst, "SELECT free FROM slot WHERE id = 1"),
            "{[2026-01-01,2026-01-05),[2026-02-01,2026-02-03)}"
        );
        assert_eq!(
            sql(to, &dst, "SELECT attcompression FROM pg_attribute WHERE attrelid = 'slot'::regclass AND attname = 'note'"),
            "p"
        );
        // NULLS NOT DISTINCT holds on the copy: a second NULL code is a duplicate.
        let dup = to.psql(&dst, "INSERT INTO slot VALUES (3, '{}', NULL, NULL)");
        assert!(
            dup.is_err_and(|e| e.to_string().contains("slot_code_key")),
            "{}",
            label(from, to)
        );
    }
}
