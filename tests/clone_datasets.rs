//! `restage clone` copies real databases faithfully: every row (per-table checksums), the
//! schema (pg_dump of both sides compared), working constraints and sequence positions.

mod common;

use common::*;

#[test]
fn chinook_with_quoted_pascal_case_names_is_copied_exactly() {
    let pg = cluster();
    let src = loaded_db(pg, "chinook", "chinook/Chinook_PostgreSql.sql");
    let dst = fresh_db(pg, "chinook_copy");
    // One lane, post-data strictly after the copy: the serial path.
    clone(pg, &src, &dst, &["--jobs", "1", "--index-jobs", "0"]).assert_ok();
    assert_same_database(pg, &src, &dst);
    // The foreign keys exist and are enforced.
    let err = pg
        .psql(
            &dst,
            "INSERT INTO \"Album\" (\"AlbumId\", \"Title\", \"ArtistId\") VALUES (99999, 'x', -1)",
        )
        .unwrap_err();
    assert!(err.to_string().contains("FK_AlbumArtistId"), "{err}");
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM \"Track\""), "3503");
}

#[test]
fn northwind_with_empty_tables_and_bytea_is_copied_exactly() {
    let pg = cluster();
    let src = loaded_db(pg, "northwind", "northwind/northwind.sql");
    let dst = fresh_db(pg, "northwind_copy");
    let dir = tempfile::tempdir().expect("tempdir");
    let report_file = dir.path().join("report.json");
    let report_arg = report_file.display().to_string();
    let run = clone(pg, &src, &dst, &["--json", "--report", &report_arg]);
    run.assert_ok();
    assert_same_database(pg, &src, &dst);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).expect("--report file"))
            .expect("--report JSON");
    assert_eq!(written, report, "--report writes the same report as --json");
    assert_complete_report(&report, "clone");
    assert_eq!(report["verify"]["outcome"], "ok");
    // --no-rules: every column of every table is recorded as kept, without a key.
    let privacy = &report["privacy"];
    assert_eq!(privacy["mode"], "none");
    assert_eq!(privacy["rules_digest"], "none");
    assert!(privacy["key_fingerprint"].is_null());
    let columns = privacy["columns"].as_array().expect("columns");
    assert!(columns.iter().any(|c| c["table"] == "public.order_details"
        && c["column"] == "unit_price"
        && c["decision"] == "keep"));
    assert!(columns.iter().all(|c| c["decision"] == "keep"));
    let versions = &report["versions"];
    assert!(versions["source_server"].is_string() && versions["target_server"].is_string());
    assert!(versions["pg_dump"].is_string());
    assert_eq!(report["status"], "ok");
    assert_eq!(report["target_state"], "complete");
    let tables = report["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 14);
    let rows = |name: &str| {
        tables
            .iter()
            .find(|t| t["table"] == name)
            .map(|t| t["rows"].as_u64().unwrap_or(u64::MAX))
    };
    assert_eq!(rows("public.order_details"), Some(2155));
    assert_eq!(rows("public.customer_demographics"), Some(0));
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(steps, ["schema", "data", "post-data", "verify"]);
    // The password never appears in the report, only the masked URL.
    assert!(!run.stdout.contains(pg.password()));
    assert!(report["source"].as_str().unwrap_or("").contains("****"));
}

#[test]
fn every_type_and_schema_feature_survives_the_copy() {
    let pg = cluster();
    let src = loaded_db(pg, "types", "types/schema.sql");
    let dst = fresh_db(pg, "types_copy");
    clone(pg, &src, &dst, &[]).assert_ok();
    assert_same_database(pg, &src, &dst);
    // Sequences continue where the source's were, not at max(id).
    let next_src = sql(pg, &src, &next_serial_probe(pg, &src));
    let next_dst = sql(pg, &dst, &next_serial_probe(pg, &dst));
    assert_eq!(next_src, next_dst);
    // The target is marked complete.
    let comment = sql(
        pg,
        &dst,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()",
    );
    assert!(comment.starts_with("restage: complete clone"), "{comment}");
}

/// `SELECT nextval(<the first owned sequence>)`, same statement on both sides.
fn next_serial_probe(pg: &restage::localpg::Cluster, db: &str) -> String {
    let seq = sql(
        pg,
        db,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_depend d ON d.objid = c.oid \
         AND d.deptype IN ('a', 'i') WHERE c.relkind = 'S' ORDER BY 1 LIMIT 1",
    );
    assert!(!seq.is_empty(), "the types fixture has owned sequences");
    format!("SELECT nextval('{seq}')")
}

#[test]
fn split_tables_copy_every_row_exactly_once() {
    let pg = cluster();
    let src = fresh_db(pg, "split");
    sql(
        pg,
        &src,
        "CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL); \
         INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 60000) g; \
         DELETE FROM big WHERE id % 7 = 0",
    );
    sql(pg, &src, "VACUUM ANALYZE big");
    let dst = fresh_db(pg, "split_copy");
    let run = clone(
        pg,
        &src,
        &dst,
        &["--json", "--split-larger-than", "1MiB", "--jobs", "3"],
    );
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert!(
        report["tables"][0]["parts"].as_u64().unwrap_or(0) > 1,
        "{}",
        run.stdout
    );
    assert_same_database(pg, &src, &dst);
}

#[test]
fn table_selection_copies_only_matching_rows_and_refuses_open_foreign_keys() {
    let pg = cluster();
    let src = loaded_db(pg, "select", "northwind/northwind.sql");
    let dst = fresh_db(pg, "select_copy");
    clone(
        pg,
        &src,
        &dst,
        &["--table", "us_states", "--table", "public.region"],
    )
    .assert_ok();
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM us_states"), "51");
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM region"), "4");
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM orders"), "0");

    let dst2 = fresh_db(pg, "select_open");
    let run = clone(pg, &src, &dst2, &["--table", "orders"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("public.orders → public.customers"),
        "{}",
        run.stderr
    );
}
