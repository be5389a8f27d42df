//! Row subsets (`--subset`, `where`, `percent`): the copied rows are referentially complete
//! (every foreign key validates on the target), hold nothing of another tenant, are computed
//! on a read-only source, are the same every run, and bad input is refused before the target
//! is touched.

mod common;

use std::path::PathBuf;

use common::*;

const EXIT_USAGE: i32 = 2;
const PASSWORD: &str = "subset-reader-pw";
/// A coupon links to another tenant's order: without this rule the link is followed both
/// ways (the coupon belongs to that order, and the order is needed by the coupon).
const CUT_COUPONS: &str = "[tables.coupons.references]\nfirst_order_id = \"null\"\n";

/// A rules file keeping every column, with `extra` appended (subset settings).
fn rules(name: &str, extra: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("restage-subset-tests");
    std::fs::create_dir_all(&dir).expect("rules dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("[defaults.columns]\n\"*\" = \"keep\"\n{extra}"),
    )
    .expect("rules file");
    path
}

fn count(db: &str, query: &str) -> i64 {
    let out = sql(cluster(), db, query);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{query}: {out:?}"))
}

/// Every foreign key of the source exists on the target and is validated.
fn assert_foreign_keys_valid(src: &str, dst: &str) {
    let keys = "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated";
    assert_eq!(count(src, keys), count(dst, keys), "foreign keys of {dst}");
    assert!(count(dst, keys) > 0);
}

fn relations_in(db: &str) -> i64 {
    count(
        db,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
    )
}

#[test]
fn a_tenant_subset_is_closed_and_holds_no_other_tenant() {
    let pg = cluster();
    let src = loaded_db(pg, "tenants", "subset/tenants.sql");
    let dst = fresh_db(pg, "tenants_one");
    let file = rules("tenant_one", CUT_COUPONS);
    let run = run_cmd(
        restage()
            .args(["clone", "--source"])
            .arg(pg.url(&src))
            .arg("--target")
            .arg(pg.url(&dst))
            .arg("--rules")
            .arg(&file)
            .args(["--ephemeral-key", "--subset", "public.tenants: id = 1"]),
    );
    run.assert_ok();
    assert_foreign_keys_valid(&src, &dst);
    // The summary: rows in the source and rows copied.
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("public.customers "))
        .unwrap_or_else(|| panic!("no customers line in\n{}", run.stdout));
    let numbers: Vec<&str> = line.split_whitespace().skip(1).take(2).collect();
    assert_eq!(numbers, ["500", "100"], "{}", run.stdout);
    assert!(run.stdout.contains("source rows"), "{}", run.stdout);

    assert_eq!(count(&dst, "SELECT count(*) FROM tenants"), 1);
    assert_eq!(count(&dst, "SELECT count(*) FROM tenants WHERE id <> 1"), 0);
    assert_eq!(count(&dst, "SELECT count(*) FROM customers"), 100);
    assert_eq!(
        count(
            &dst,
            "SELECT count(*) FROM customers WHERE tenant_code <> 't1'"
        ),
        0
    );
    assert_eq!(
        count(&dst, "SELECT count(*) FROM products WHERE tenant_id <> 1"),
        0
    );
    assert_eq!(count(&dst, "SELECT count(*) FROM products"), 20);
    // Everything that belongs to the tenant's customers, in full.
    for (table, of_tenant) in [
        ("orders", "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_code = 't1'"),
        ("order_lines", "SELECT count(*) FROM order_lines WHERE tenant_id = 1"),
        ("addresses", "SELECT count(*) FROM addresses a JOIN customers c ON c.id = a.customer_id WHERE c.tenant_code = 't1'"),
        ("events", "SELECT count(*) FROM events e JOIN customers c ON c.id = e.customer_id WHERE c.tenant_code = 't1'"),
        ("events_2025", "SELECT count(*) FROM events_2025 e JOIN customers c ON c.id = e.customer_id WHERE c.tenant_code = 't1'"),
        ("event_tags", "SELECT count(*) FROM event_tags t JOIN events e ON (e.id, e.at) = (t.event_id, t.event_at) JOIN customers c ON c.id = e.customer_id WHERE c.tenant_code = 't1'"),
        ("notes", "SELECT count(*) FROM notes n JOIN customers c ON c.id = n.customer_id WHERE c.tenant_code = 't1'"),
        ("teams", "SELECT count(*) FROM teams WHERE tenant_id = 1"),
        ("members", "SELECT count(*) FROM members m JOIN teams t ON t.id = m.team_id WHERE t.tenant_id = 1"),
    ] {
        let want = count(&src, of_tenant);
        assert!(want > 0, "{table}: the fixture has rows of tenant 1");
        assert_eq!(
            count(&dst, &format!("SELECT count(*) FROM {table}")),
            want,
            "{table}"
        );
    }
    // Shared rows only as far as referenced: both used categories and their parent.
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM categories"
        )
        .trim(),
        "1,2,3"
    );
    assert_eq!(count(&dst, "SELECT count(*) FROM settings"), 0);
    // The coupon's link to another tenant's order is cut, not followed.
    assert_eq!(count(&dst, "SELECT count(*) FROM coupons"), 1);
    assert_eq!(
        count(
            &dst,
            "SELECT count(*) FROM coupons WHERE first_order_id IS NOT NULL"
        ),
        0
    );
    // Sequences are past every copied value.
    sql(
        pg,
        &dst,
        "INSERT INTO customers (tenant_code, email) VALUES ('t1', 'new@example.com')",
    );
}

#[test]
fn following_a_key_only_upward_keeps_its_referencing_rows_out() {
    let pg = cluster();
    let src = loaded_db(pg, "tenants_up", "subset/tenants.sql");
    let dst = fresh_db(pg, "tenants_up_copy");
    // Roots are customers 1 and 2; their referrals are not followed down.
    let file = rules(
        "up_only",
        "[tables.customers.references]\nreferred_by = \"up\"\n",
    );
    clone(
        pg,
        &src,
        &dst,
        &[
            "--rules",
            file.to_str().unwrap_or_default(),
            "--ephemeral-key",
            "--subset",
            "customers: id IN (6, 7)",
        ],
    )
    .assert_ok();
    assert_foreign_keys_valid(&src, &dst);
    // Customer 6 was referred by 1 (pulled upward), nobody referred by 6 is copied.
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM customers"
        )
        .trim(),
        "1,6,7"
    );
}

#[test]
fn every_fixture_schema_subsets_into_valid_foreign_keys() {
    let pg = cluster();
    for (name, files, root) in [
        (
            "chinook",
            &["chinook/Chinook_PostgreSql.sql"][..],
            "\"Customer\": \"CustomerId\" <= 3",
        ),
        (
            "northwind",
            &["northwind/northwind.sql"],
            "customers: customer_id = 'ALFKI'",
        ),
        ("cycles", &["cycles/schema.sql"], "hr.\"Employee\": id = 17"),
        ("pii", &["pii/schema.sql"], "public.audit: id % 3 = 0"),
        (
            "privacy",
            &["pii/schema.sql", "privacy/schema.sql"],
            "public.accounts: id < 5",
        ),
    ] {
        let src = loaded_db(pg, name, files[0]);
        for more in &files[1..] {
            pg.psql_file(&src, &fixture(more))
                .unwrap_or_else(|e| panic!("loading {more}: {e}"));
        }
        let dst = fresh_db(pg, &format!("{name}_subset"));
        let run = run_cmd(
            restage()
                .args(["clone", "--no-rules", "--source"])
                .arg(pg.url(&src))
                .arg("--target")
                .arg(pg.url(&dst))
                .args(["--subset", root]),
        );
        run.assert_ok();
        let keys = "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated";
        assert_eq!(count(&src, keys), count(&dst, keys), "{name}");
        // A subset, not a copy: some table lost rows, and the summary says how many.
        assert!(run.stdout.contains("source rows"), "{name}: {}", run.stdout);
        let fewer = run.stdout.lines().skip(1).any(|l| {
            let n: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            n.len() == 2 && n[1] < n[0]
        });
        assert!(fewer, "{name}: nothing was left out\n{}", run.stdout);
    }
}

#[test]
fn the_closure_reads_a_read_only_source_with_select_only() {
    let pg = cluster();
    let src = loaded_db(pg, "tenants_ro", "subset/tenants.sql");
    let dst = fresh_db(pg, "tenants_ro_copy");
    let role = format!("reader_{src}");
    sql(
        pg,
        &src,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}; \
             GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}; \
             ALTER ROLE {role} SET default_transaction_read_only = on"
        ),
    );
    let url = format!(
        "postgresql://{role}:{PASSWORD}@127.0.0.1:{}/{src}",
        pg.port()
    );
    let file = rules("read_only", CUT_COUPONS);
    run_cmd(
        restage()
            .args([
                "clone",
                "--quiet",
                "--no-owner",
                "--no-acl",
                "--ephemeral-key",
                "--rules",
            ])
            .arg(&file)
            .arg("--source")
            .arg(url)
            .arg("--target")
            .arg(pg.url(&dst))
            .args(["--subset", "public.tenants: code = 't3'"]),
    )
    .assert_ok();
    assert_foreign_keys_valid(&src, &dst);
    assert_eq!(
        count(
            &dst,
            "SELECT count(*) FROM customers WHERE tenant_code <> 't3'"
        ),
        0
    );
    assert_eq!(count(&dst, "SELECT count(*) FROM customers"), 100);
}

#[test]
fn percent_samples_are_the_same_rows_every_run() {
    let pg = cluster();
    let src = loaded_db(pg, "tenants_pct", "subset/tenants.sql");
    let file = rules(
        "percent",
        "[tables.orders]\npercent = 10\nwhere = \"created_at >= date '2024-03-01'\"\n",
    );
    let mut seen = Vec::new();
    for n in 0..2 {
        let dst = fresh_db(pg, &format!("tenants_pct_{n}"));
        clone(
            pg,
            &src,
            &dst,
            &[
                "--rules",
                file.to_str().unwrap_or_default(),
                "--ephemeral-key",
            ],
        )
        .assert_ok();
        assert_foreign_keys_valid(&src, &dst);
        let orders = count(&dst, "SELECT count(*) FROM orders");
        assert!((150..=450).contains(&orders), "{orders} of 3000 orders");
        assert_eq!(
            count(
                &dst,
                "SELECT count(*) FROM orders WHERE created_at < date '2024-03-01'"
            ),
            0
        );
        seen.push(sql(
            pg,
            &dst,
            "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM orders",
        ));
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn bad_subsets_are_refused_before_the_target_is_touched() {
    let pg = cluster();
    let src = loaded_db(pg, "tenants_bad", "subset/tenants.sql");
    let dst = fresh_db(pg, "tenants_bad_copy");
    let bad_where = rules(
        "bad_where",
        "[tables.orders]\nwhere = \"no_such_column > 1\"\n",
    );
    let bad_key = rules("bad_key", "[tables.orders.references]\nnope = \"up\"\n");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--subset".into(), "tenants: id = ".into()],
            "syntax error",
        ),
        (
            vec!["--subset".into(), "tenants: id = 999".into()],
            "no row of public.tenants matches",
        ),
        (
            vec!["--subset".into(), "public.nope: true".into()],
            "no copied table public.nope",
        ),
        (
            vec!["--subset".into(), "tenants".into()],
            "expected \"schema.table: WHERE condition\"",
        ),
        (
            vec!["--subset".into(), "events_2024: true".into()],
            "name the partitioned table public.events",
        ),
        (
            vec![
                "--rules".into(),
                bad_where.display().to_string(),
                "--ephemeral-key".into(),
            ],
            "no_such_column",
        ),
        (
            vec![
                "--rules".into(),
                bad_key.display().to_string(),
                "--ephemeral-key".into(),
                "--subset".into(),
                "tenants: id = 1".into(),
            ],
            "public.orders has no foreign key on (nope)",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = clone(pg, &src, &dst, &args);
        assert_eq!(run.code, EXIT_USAGE, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert_eq!(relations_in(&dst), 0, "{args:?} wrote to the target");
    }
}

#[test]
fn a_snapshot_takes_the_same_subset() {
    let pg = cluster();
    let src = loaded_db(pg, "tenants_snap", "subset/tenants.sql");
    let dir = std::env::temp_dir().join(format!("restage-subset-snapshot-{src}"));
    let file = rules("snapshot", CUT_COUPONS);
    let run = run_cmd(
        restage()
            .args(["snapshot", "--ephemeral-key", "--rules"])
            .arg(&file)
            .arg("--source")
            .arg(pg.url(&src))
            .arg("--out")
            .arg(&dir)
            .args(["--subset", "public.tenants: id = 2"]),
    );
    run.assert_ok();
    assert!(
        run.stdout
            .contains("subset: public.customers 100 of 500 rows"),
        "{}",
        run.stdout
    );
    let dst = fresh_db(pg, "tenants_snap_restored");
    run_cmd(
        restage()
            .arg("restore")
            .arg(&dir)
            .arg("--target")
            .arg(pg.url(&dst)),
    )
    .assert_ok();
    assert_foreign_keys_valid(&src, &dst);
    assert_eq!(
        count(
            &dst,
            "SELECT count(*) FROM customers WHERE tenant_code <> 't2'"
        ),
        0
    );
    // The restored target says it holds a subset, as the clone's does.
    let mark = sql(
        pg,
        "postgres",
        &format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{dst}'"
        ),
    );
    assert!(mark.contains("row subset"), "{mark}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn verify_subset(src: &str, dst: &str, file: &std::path::Path, extra: &[&str]) -> Run {
    let pg = cluster();
    run_cmd(
        restage()
            .args(["verify", "--source", &pg.url(src), "--target", &pg.url(dst)])
            .arg("--rules")
            .arg(file)
            .args(extra),
    )
}

const EXIT_VERIFY_FAILED: i32 = 6;

/// `verify` with the clone's `--subset` compares each table with the rows the closure selects
/// on the source: a correct subset clone verifies clean, a missing or an extra row fails. Without
/// the subset it says the target holds one instead of listing every table's count.
#[test]
fn verify_compares_a_subset_clone_with_the_rows_its_closure_selects() {
    let pg = cluster();
    let src = loaded_db(pg, "verify_subset", "subset/tenants.sql");
    let dst = fresh_db(pg, "verify_subset_one");
    let file = rules("verify_subset", CUT_COUPONS);
    let subset = ["--subset", "public.tenants: id = 1"];
    run_cmd(
        restage()
            .args(["clone", "--quiet", "--source"])
            .arg(pg.url(&src))
            .arg("--target")
            .arg(pg.url(&dst))
            .arg("--rules")
            .arg(&file)
            .arg("--ephemeral-key")
            .args(subset),
    )
    .assert_ok();
    let run = verify_subset(&src, &dst, &file, &subset);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let run = verify_subset(&src, &dst, &file, &[]);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("row subset") && run.stderr.contains("--subset"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stdout.contains("row counts differ"),
        "a wall of mismatches:\n{}",
        run.stdout
    );

    // A row missing, then an extra row.
    sql(
        pg,
        &dst,
        "DELETE FROM notes WHERE ctid = (SELECT min(ctid) FROM notes)",
    );
    let run = verify_subset(&src, &dst, &file, &subset);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains("row counts differ: public.notes"),
        "{}",
        run.stdout
    );
    sql(
        pg,
        &dst,
        "INSERT INTO notes SELECT customer_id, body FROM notes LIMIT 2",
    );
    let run = verify_subset(&src, &dst, &file, &subset);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains("row counts differ: public.notes"),
        "{}",
        run.stdout
    );
}

/// A clone whose rules file samples and filters (`percent`, `where`) verifies clean with the
/// same rules file.
#[test]
fn verify_takes_the_rules_files_filters() {
    let pg = cluster();
    let src = loaded_db(pg, "verify_percent", "subset/tenants.sql");
    let dst = fresh_db(pg, "verify_percent_dst");
    let file = rules(
        "verify_percent",
        &format!(
            "{CUT_COUPONS}[tables.orders]\npercent = 30\nwhere = \"created_at >= date '2024-03-01'\"\n"
        ),
    );
    run_cmd(
        restage()
            .args(["clone", "--quiet", "--source"])
            .arg(pg.url(&src))
            .arg("--target")
            .arg(pg.url(&dst))
            .arg("--rules")
            .arg(&file)
            .arg("--ephemeral-key"),
    )
    .assert_ok();
    assert!(
        count(&dst, "SELECT count(*) FROM orders") < count(&src, "SELECT count(*) FROM orders")
    );
    let run = verify_subset(&src, &dst, &file, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

/// fixtures/subset/chains.sql: a filtered and a sampled table in the chain below the root,
/// and invitations across accounts cut instead of followed.
const CHAIN_RULES: &str = "[tables.invoices]\nwhere = \"total > 10\"\n\
    [tables.invoice_lines]\npercent = 50\n\
    [tables.users.references]\ninvited_by = \"null\"\n";

/// `clone --subset root` of `src` into a new database named after `dst`, with the closure's
/// debug log; `ctid_walk` forces the general walk for every table. Returns the database.
fn subset_clone(src: &str, dst: &str, ctid_walk: bool, args: &[&str], root: &str) -> (String, Run) {
    let pg = cluster();
    let dst = fresh_db(pg, dst);
    let mut cmd = restage();
    cmd.args(["clone", "--source"])
        .arg(pg.url(src))
        .arg("--target")
        .arg(pg.url(&dst))
        .args(args)
        .args(["--subset", root])
        .env("RESTAGE_LOG", "restage=debug");
    if ctid_walk {
        cmd.env("RESTAGE_SUBSET_WALK", "ctid");
    }
    let run = run_cmd(&mut cmd);
    run.assert_ok();
    (dst, run)
}

/// How the closure named a table's rows, from its debug log.
fn walked(run: &Run, table: &str) -> &'static str {
    let prefix = format!("subset: {table}: ");
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains(&prefix))
        .unwrap_or_else(|| panic!("no subset line for {table} in\n{}", run.stderr));
    if line.ends_with("by semi-join predicate") {
        "predicate"
    } else {
        "ctid"
    }
}

#[test]
fn semi_join_chains_copy_the_same_rows_as_the_ctid_walk() {
    let pg = cluster();
    let src = loaded_db(pg, "chains", "subset/chains.sql");
    let file = rules("chains", CHAIN_RULES);
    let args = [
        "--rules",
        file.to_str().unwrap_or_default(),
        "--ephemeral-key",
    ];
    let root = "public.accounts: id % 6 = 0";
    let (by_predicate, chains) = subset_clone(&src, "chains_pred", false, &args, root);
    let (by_ctid, ctids) = subset_clone(&src, "chains_ctid", true, &args, root);

    // The tables reached only downward are named by predicates; those pulled up from them,
    // and everything when forced, are listed.
    for table in ["accounts", "users", "logins", "invoices", "invoice_lines"] {
        let table = format!("public.{table}");
        assert_eq!(walked(&chains, &table), "predicate", "{table}");
        assert_eq!(walked(&ctids, &table), "ctid", "{table}");
    }
    for table in ["regions", "products", "categories", "unrelated"] {
        let table = format!("public.{table}");
        assert_eq!(walked(&chains, &table), "ctid", "{table}");
    }

    assert_eq!(checksums(pg, &by_predicate), checksums(pg, &by_ctid));
    assert_foreign_keys_valid(&src, &by_predicate);
    // verify counts what the predicates select, as the clone copied it.
    let verified = verify_subset(&src, &by_predicate, &file, &["--subset", root]);
    assert_eq!(verified.code, 0, "{}\n{}", verified.stdout, verified.stderr);
    assert!(
        verified.stdout.contains("0 mismatches"),
        "{}",
        verified.stdout
    );
    // The expected rows, from the source.
    for (table, want) in [
        ("accounts", "SELECT count(*) FROM accounts WHERE id % 6 = 0"),
        (
            "users",
            "SELECT count(*) FROM users WHERE account_id % 6 = 0",
        ),
        (
            "logins",
            "SELECT count(*) FROM logins l JOIN users u ON u.id = l.user_id \
             WHERE u.account_id % 6 = 0",
        ),
        (
            "invoices",
            "SELECT count(*) FROM invoices WHERE account_id % 6 = 0 AND total > 10",
        ),
        ("unrelated", "SELECT 0"),
    ] {
        let want = count(&src, want);
        assert_eq!(
            count(&by_predicate, &format!("SELECT count(*) FROM {table}")),
            want,
            "{table}"
        );
    }
    // Half the lines of the copied invoices, sampled by the hash of the whole row.
    let lines = count(&by_predicate, "SELECT count(*) FROM invoice_lines");
    let of_invoices = count(
        &src,
        "SELECT count(*) FROM invoice_lines l JOIN invoices i ON (i.account_id, i.number) = \
         (l.account_id, l.invoice_number) WHERE i.account_id % 6 = 0 AND i.total > 10",
    );
    assert!(lines > 0 && lines < of_invoices, "{lines} of {of_invoices}");
    // Invitations kept only where the inviting user is copied too.
    assert!(
        count(
            &by_predicate,
            "SELECT count(*) FROM users WHERE invited_by IS NOT NULL"
        ) > 0
    );
    assert_eq!(
        count(
            &by_predicate,
            "SELECT count(*) FROM users u WHERE invited_by IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM users i WHERE i.id = u.invited_by)"
        ),
        0
    );
    assert_eq!(
        count(
            &src,
            "SELECT count(*) FROM users u JOIN users i ON i.id = u.invited_by \
             WHERE u.account_id % 6 = 0 AND i.account_id % 6 = 0"
        ),
        count(
            &by_predicate,
            "SELECT count(*) FROM users WHERE invited_by IS NOT NULL"
        )
    );
}

#[test]
fn both_walks_copy_the_same_rows_of_every_fixture_schema() {
    let pg = cluster();
    for (name, file, root, chained) in [
        (
            "chinook",
            "chinook/Chinook_PostgreSql.sql",
            "\"Customer\": \"CustomerId\" <= 3",
            Some("public.Invoice"),
        ),
        (
            "northwind",
            "northwind/northwind.sql",
            "customers: customer_id IN ('ALFKI', 'BONAP')",
            Some("public.order_details"),
        ),
        (
            "cycles",
            "cycles/schema.sql",
            "hr.\"Employee\": id = 17",
            None,
        ),
        (
            "tenants_walks",
            "subset/tenants.sql",
            "public.tenants: id = 2",
            None,
        ),
    ] {
        let src = loaded_db(pg, name, file);
        let args = ["--no-rules"];
        let (by_predicate, auto) = subset_clone(&src, &format!("{name}_pred"), false, &args, root);
        let (by_ctid, _) = subset_clone(&src, &format!("{name}_ctid"), true, &args, root);
        if let Some(table) = chained {
            assert_eq!(walked(&auto, table), "predicate", "{name}");
        }
        assert_eq!(
            checksums(pg, &by_predicate),
            checksums(pg, &by_ctid),
            "{name}"
        );
    }
}

#[test]
fn conditions_that_vary_between_queries_are_evaluated_once() {
    let pg = cluster();
    let src = loaded_db(pg, "chains_volatile", "subset/chains.sql");
    // Always true, but random() and now() may answer differently in each reading
    // connection's transaction: the walk lists those rows instead of re-evaluating them.
    for (name, filter) in [
        ("random", "total > 10 AND random() >= 0"),
        ("clock", "total > 10 AND now() > timestamptz '2000-01-01'"),
    ] {
        let file = rules(
            &format!("chains_{name}"),
            &format!("[tables.invoices]\nwhere = \"{filter}\"\n"),
        );
        let args = [
            "--rules",
            file.to_str().unwrap_or_default(),
            "--ephemeral-key",
        ];
        let root = "public.accounts: id % 6 = 0";
        let (dst, run) = subset_clone(&src, &format!("chains_{name}"), false, &args, root);
        for table in ["invoices", "invoice_lines", "accounts"] {
            let table = format!("public.{table}");
            assert_eq!(walked(&run, &table), "ctid", "{name}: {table}");
        }
        assert_foreign_keys_valid(&src, &dst);
        assert_eq!(
            count(&dst, "SELECT count(*) FROM invoices"),
            count(
                &src,
                "SELECT count(*) FROM invoices WHERE account_id % 6 = 0 AND total > 10"
            ),
            "{name}"
        );
    }
}

#[test]
fn tables_read_as_text_keep_the_ctid_walk() {
    let pg = cluster();
    let src = loaded_db(pg, "chains_text", "subset/chains.sql");
    // An empty tsquery has no binary form that reads back: the table travels as text, in a
    // session with its own TimeZone and DateStyle, where a condition could match other rows.
    sql(
        pg,
        &src,
        "ALTER TABLE logins ADD COLUMN q tsquery; UPDATE logins SET q = ''::tsquery",
    );
    let file = rules("chains_text", CHAIN_RULES);
    let args = [
        "--rules",
        file.to_str().unwrap_or_default(),
        "--ephemeral-key",
    ];
    let root = "public.accounts: id % 6 = 0";
    let (by_auto, auto) = subset_clone(&src, "chains_text_auto", false, &args, root);
    let (by_ctid, _) = subset_clone(&src, "chains_text_ctid", true, &args, root);
    // And so do the tables above it, whose rows it would pull up otherwise.
    for table in ["logins", "users", "accounts"] {
        assert_eq!(walked(&auto, &format!("public.{table}")), "ctid", "{table}");
    }
    assert_eq!(checksums(pg, &by_auto), checksums(pg, &by_ctid));
    assert_foreign_keys_valid(&src, &by_auto);
}
