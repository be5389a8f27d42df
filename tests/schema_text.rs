//! Personal data in schema text never reaches the target silently: comments are left out of
//! sanitizing clones and snapshots unless kept, and defaults, views, functions, constraints,
//! policies and index definitions holding personal tokens or production values of sanitized
//! columns stop the run before anything is written, unless a rules file acknowledges them.

mod common;

use common::*;

const EXIT_REFUSED: i32 = 4;
const KEY: &str = "restage-test-key-0123456789";

const BASE: &str = "
CREATE TABLE public.customers (
    id int PRIMARY KEY,
    email text NOT NULL,
    full_name text NOT NULL,
    phone text
);
INSERT INTO public.customers
SELECT g, 'person' || g || '@privatebox.org', 'Person Number' || g, '+1 555 0100 ' || g
FROM generate_series(1, 50) g;
INSERT INTO public.customers VALUES (100, 'jane.roe@privatebox.org', 'Jane Quinn Roe', NULL);
";

const RULES: &str = r#"
[tables."public.customers".columns]
id = "keep"
email = { rule = "email" }
full_name = { rule = "person_name" }
phone = { rule = "phone" }
"#;

fn db_with(prefix: &str, extra_sql: &str) -> String {
    let pg = cluster();
    let db = fresh_db(pg, prefix);
    sql(pg, &db, BASE);
    sql(pg, &db, extra_sql);
    db
}

fn rules_file(extra: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, format!("{RULES}\n{extra}")).expect("writing rules");
    (dir, path)
}

fn sanitizing_clone(src: &str, dst: &str, rules: &std::path::Path, extra: &[&str]) -> Run {
    let pg = cluster();
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["clone", "--quiet", "--source", &pg.url(src)])
            .args(["--target", &pg.url(dst)])
            .arg("--rules")
            .arg(rules)
            .args(extra),
    )
}

fn table_count(db: &str) -> String {
    sql(
        cluster(),
        db,
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    )
    .trim()
    .to_string()
}

#[test]
fn comments_are_left_out_of_sanitizing_clones_unless_kept() {
    let pg = cluster();
    let src = db_with(
        "comments_src",
        "COMMENT ON TABLE public.customers IS 'VIP: someone@privatebox.org';
         COMMENT ON COLUMN public.customers.phone IS 'call +44 7700 900123 first';",
    );
    let (_dir, rules) = rules_file("");
    let dst = fresh_db(pg, "comments_dst");
    sanitizing_clone(&src, &dst, &rules, &[]).assert_ok();
    let comments = sql(
        pg,
        &dst,
        "SELECT count(*) FROM pg_description WHERE objoid = 'public.customers'::regclass",
    );
    assert_eq!(comments.trim(), "0", "comments reached the target");

    // Kept comments are scanned like values: these hold an email and a phone number.
    let dst = fresh_db(pg, "comments_kept_dst");
    let run = sanitizing_clone(&src, &dst, &rules, &["--keep-comments"]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(
        run.stderr.contains("comment on table public.customers")
            && run.stderr.contains("an email address")
            && run
                .stderr
                .contains("comment on table column public.customers.phone")
            && run.stderr.contains("a phone number"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("someone@privatebox.org"),
        "value printed"
    );
    assert_eq!(table_count(&dst), "0", "the target was written to");
}

#[test]
fn defaults_views_functions_and_checks_with_personal_data_stop_the_clone() {
    let pg = cluster();
    let src = db_with(
        "schema_pii_src",
        "ALTER TABLE public.customers ALTER COLUMN phone SET DEFAULT '+44 7700 900123';
         CREATE VIEW public.vip AS SELECT id FROM public.customers
             WHERE email = 'boss@privatebox.org';
         CREATE FUNCTION public.is_jane(n text) RETURNS boolean LANGUAGE sql
             AS $$ SELECT n = 'Jane Quinn Roe' $$;
         CREATE INDEX not_test ON public.customers (id) WHERE full_name <> 'Person Number7';
         CREATE TABLE public.plain (id int PRIMARY KEY, status text NOT NULL DEFAULT 'active'
             CHECK (status IN ('active', 'closed')));",
    );
    let (_dir, rules) =
        rules_file("[tables.\"public.plain\".columns]\nid = \"keep\"\nstatus = \"keep\"\n");
    let dst = fresh_db(pg, "schema_pii_dst");
    let run = sanitizing_clone(&src, &dst, &rules, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    for expected in [
        "default public.customers.phone: a phone number",
        "view public.vip: an email address",
        "function public.is_jane(n text): a production value of public.customers.full_name",
        "index public.not_test: a production value of public.customers.full_name",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?}:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("plain"),
        "clean objects reported:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Jane Quinn Roe"), "value printed");
    assert_eq!(table_count(&dst), "0", "the target was written to");

    // A person decides: acknowledged objects are copied as they are.
    let (_dir, rules) = rules_file(
        "[tables.\"public.plain\".columns]\nid = \"keep\"\nstatus = \"keep\"\n\
         [schema]\nacknowledge = [\"default public.customers.phone\", \"view public.vip\", \
         \"function public.is_jane(n text)\", \"index public.not_test\"]\n",
    );
    sanitizing_clone(&src, &dst, &rules, &[]).assert_ok();
}

#[test]
fn snapshots_get_the_same_schema_guard() {
    let pg = cluster();
    let src = db_with(
        "snap_schema_src",
        "CREATE VIEW public.vip AS SELECT id FROM public.customers
             WHERE email = 'jane.roe@privatebox.org';",
    );
    let (_dir, rules) = rules_file("");
    let out = tempfile::tempdir().expect("temp dir");
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["snapshot", "--quiet", "--source", &pg.url(&src)])
            .arg("--out")
            .arg(out.path().join("snap"))
            .arg("--rules")
            .arg(&rules),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(run.stderr.contains("view public.vip"), "{}", run.stderr);
}

#[test]
fn rules_files_reject_a_malformed_schema_section() {
    let pg = cluster();
    let src = db_with("schema_bad_rules", "");
    let (_dir, rules) = rules_file("[schema]\nacknowledge = \"view public.vip\"\nother = 1\n");
    let dst = fresh_db(pg, "schema_bad_rules_dst");
    let run = sanitizing_clone(&src, &dst, &rules, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`acknowledge` must be an array of strings")
            && run.stderr.contains("unknown key `other`"),
        "{}",
        run.stderr
    );
}
