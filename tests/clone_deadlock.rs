//! Foreign keys among tables that reference each other lock those tables in opposite orders
//! (`ALTER TABLE child ADD FOREIGN KEY … REFERENCES parent` locks the child, then the
//! parent). Added in parallel sessions they could deadlock now and then; a clone of such a
//! schema at the most parallel settings must succeed every time, with every foreign key
//! present and validated.

mod common;

use common::*;

/// Enough runs that a race hitting one clone in eight shows up. The schema is denser than a
/// single mutual pair: with each foreign key added in its own parallel session, about every
/// other clone of it deadlocked (14 of 30 on PostgreSQL 15).
const RUNS: usize = 30;

/// Every foreign key of the database: table, name, definition, validated.
fn foreign_keys(pg: &restage::localpg::Cluster, db: &str) -> String {
    sql(
        pg,
        db,
        "SELECT string_agg(format('%s %s %s %s', conrelid::regclass, conname, \
         pg_get_constraintdef(oid), convalidated), E'\\n' ORDER BY conrelid::regclass::text, conname) \
         FROM pg_constraint WHERE contype = 'f'",
    )
}

#[test]
fn mutually_referencing_tables_clone_without_deadlock() {
    let pg = cluster();
    let src = loaded_db(pg, "cycles_src", "cycles/schema.sql");
    let expected = foreign_keys(pg, &src);
    assert_eq!(expected.lines().count(), 43, "{expected}");
    let mut failures = Vec::new();
    let mut last = None;
    for run in 1..=RUNS {
        let dst = fresh_db(pg, "cycles_dst");
        let r = clone(pg, &src, &dst, &["--jobs", "8", "--index-jobs", "16"]);
        if r.code != 0 {
            failures.push(format!("run {run}: exit {}: {}", r.code, r.stderr.trim()));
        } else {
            let got = foreign_keys(pg, &dst);
            assert_eq!(got, expected, "run {run}: foreign keys differ on {dst}");
        }
        if let Some(previous) = last.replace(dst) {
            sql(pg, "postgres", &format!("DROP DATABASE \"{previous}\""));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} clones failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if let Some(dst) = last {
        assert_same_database(pg, &src, &dst);
    }
}
