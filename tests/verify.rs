//! `restage verify` against real PostgreSQL: it sweeps every column of every table and
//! materialized view of the target (kept json, composite, array and bytea values included) for
//! production values of the sanitized columns and for personal data in kept columns, it fails
//! on an incomplete target or differing row counts, it does not count keys that a keyed
//! permutation maps onto the same set as leaks, and `--json` names findings without values.

mod common;

use common::*;

const EXIT_VERIFY_FAILED: i32 = 6;
const KEY: &str = "restage-verify-key-0123456789";

fn shop_db(prefix: &str) -> String {
    loaded_db(cluster(), prefix, "verify/shop.sql")
}

/// A sanitized clone of `src` into a new database, with the fixture rules file `rules`.
fn sanitized_clone(src: &str, rules: &str, prefix: &str) -> String {
    let pg = cluster();
    let dst = fresh_db(pg, prefix);
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args([
                "clone",
                "--quiet",
                "--source",
                &pg.url(src),
                "--target",
                &pg.url(&dst),
            ])
            .arg("--rules")
            .arg(fixture(rules)),
    )
    .assert_ok();
    dst
}

fn verify(src: &str, dst: &str, rules: &str, extra: &[&str]) -> Run {
    let pg = cluster();
    run_cmd(
        restage()
            .args(["verify", "--source", &pg.url(src), "--target", &pg.url(dst)])
            .arg("--rules")
            .arg(fixture(rules))
            .args(extra),
    )
}

/// Lines of the finding list naming `table.column`.
fn finding_lines<'a>(stdout: &'a str, column: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(column))
        .filter(|l| l.contains("production_value") || l.contains("email") || l.contains("phone"))
        .collect()
}

#[test]
fn a_clean_sanitized_target_passes() {
    let src = shop_db("clean_src");
    let dst = sanitized_clone(&src, "verify/clean.toml", "clean_dst");
    let run = verify(&src, &dst, "verify/clean.toml", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // The permuted keys are not compared as sets, and say why.
    for key in [
        "public.slots.id",
        "public.tickets.id",
        "public.customers.id",
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} not listed:\n{}", run.stdout));
        assert!(line.contains("permutation"), "{line}");
    }
    assert!(run.stdout.contains("0 findings"), "{}", run.stdout);
    assert!(
        run.stdout.contains("target marked complete"),
        "{}",
        run.stdout
    );
}

#[test]
fn kept_copies_of_personal_data_are_found_in_every_column_that_holds_them() {
    let src = shop_db("leaky_src");
    let dst = sanitized_clone(&src, "verify/leaky.toml", "leaky_dst");
    let run = verify(&src, &dst, "verify/leaky.toml", &[]);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    for column in [
        "public.audit_log.doc",
        "public.audit_log.payload",
        "public.customers.address",
        "public.customers.aliases",
        "public.customers.profile",
        "public.audit_emails.email",
    ] {
        assert!(
            !finding_lines(&run.stdout, column).is_empty(),
            "{column} not reported:\n{}",
            run.stdout
        );
    }
    // Emails of a domain no rule saw (the aliases' second address) are found by shape.
    assert!(
        finding_lines(&run.stdout, "public.customers.aliases")
            .iter()
            .any(|l| l.contains("email")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("found in the target"), "{}", run.stderr);
    assert!(!run.stdout.contains("privatebox"), "{}", run.stdout);
    assert!(!run.stderr.contains("privatebox"), "{}", run.stderr);
}

#[test]
fn json_lists_every_finding_with_table_column_kind_and_count_but_no_value() {
    let src = shop_db("json_src");
    let dst = sanitized_clone(&src, "verify/leaky.toml", "json_dst");
    let run = verify(&src, &dst, "verify/leaky.toml", &["--json"]);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings array");
    let find = |table: &str, column: &str, kind: &str| {
        findings
            .iter()
            .find(|f| f["table"] == table && f["column"] == column && f["kind"] == kind)
    };
    // Every audit document holds a production email and phone number of a sanitized column.
    let doc = find("public.audit_log", "doc", "production_value").expect("doc finding");
    assert_eq!(doc["count"], 300, "{doc}");
    let payload = find("public.audit_log", "payload", "production_value").expect("payload");
    assert_eq!(payload["count"], 300, "{payload}");
    assert!(
        find("public.customers", "address", "phone").is_some(),
        "{findings:?}"
    );
    assert!(
        find("public.customers", "aliases", "email").is_some(),
        "{findings:?}"
    );
    assert!(
        find("public.customers", "profile", "production_value").is_some(),
        "{findings:?}"
    );
    // One customer in ten wrote card and account numbers into the notes; the other notes
    // (a date and a time) are no phone numbers.
    let notes = |kind: &str| find("public.customers", "notes", kind).map(|f| f["count"].clone());
    assert_eq!(notes("card_number"), Some(30.into()), "{findings:?}");
    assert_eq!(notes("iban"), Some(30.into()), "{findings:?}");
    assert_eq!(notes("phone"), None, "{findings:?}");
    for f in findings {
        let mut keys: Vec<&String> = f.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["column", "count", "kind", "table"], "{f}");
    }
    assert!(!run.stdout.contains("privatebox"), "values never appear");
    assert!(!run.stdout.contains("7946"), "values never appear");
}

#[test]
fn an_incomplete_target_fails() {
    let pg = cluster();
    let src = shop_db("incomplete_src");
    let dst = sanitized_clone(&src, "verify/clean.toml", "incomplete_dst");
    sql(
        pg,
        &dst,
        &format!(
            "COMMENT ON DATABASE {dst} IS 'restage: INCOMPLETE clone from x started y; do not use'"
        ),
    );
    let run = verify(&src, &dst, "verify/clean.toml", &[]);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains("INCOMPLETE"), "{}", run.stderr);
}

#[test]
fn a_row_count_mismatch_fails() {
    let pg = cluster();
    let src = shop_db("count_src");
    let dst = sanitized_clone(&src, "verify/clean.toml", "count_dst");
    sql(pg, &dst, "DELETE FROM public.orders WHERE id <= 10");
    let run = verify(&src, &dst, "verify/clean.toml", &[]);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout
            .contains("public.orders has 2000 rows in the source now, 1990"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("row count"), "{}", run.stderr);
}

#[test]
fn a_source_role_that_row_level_security_filters_is_refused_not_under_counted() {
    let pg = cluster();
    let src = shop_db("rls_src");
    let dst = sanitized_clone(&src, "verify/clean.toml", "rls_dst");
    let role = format!("reader_{src}");
    let password = "verify-reader-pw";
    sql(
        pg,
        "postgres",
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
    );
    sql(
        pg,
        &src,
        &format!(
            "GRANT USAGE ON SCHEMA public TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}; \
             GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}; \
             ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY first_orders ON public.orders USING (id <= 10)"
        ),
    );
    let as_role = format!(
        "postgresql://{role}:{password}@127.0.0.1:{}/{src}",
        pg.port()
    );
    let verify_as_role = || {
        run_cmd(
            restage()
                .args(["verify", "--source", &as_role, "--target", &pg.url(&dst)])
                .arg("--rules")
                .arg(fixture("verify/clean.toml")),
        )
    };
    let run = verify_as_role();
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("row-level security"), "{}", run.stderr);
    assert!(run.stderr.contains("public.orders"), "{}", run.stderr);
    // The same role allowed to bypass the policies reads every row: the target passes.
    sql(pg, "postgres", &format!("ALTER ROLE {role} BYPASSRLS"));
    let run = verify_as_role();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}
