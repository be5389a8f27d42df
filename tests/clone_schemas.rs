//! `clone --schema NAME`: only the application's schemas are copied, into a target that
//! already holds a platform's schemas (Supabase's `auth`, `storage`…), which stay untouched;
//! the emptiness check looks at those schemas only.

mod common;

use common::*;

const EXIT_USAGE: i32 = 2;
const EXIT_REFUSED: i32 = 4;

#[test]
fn only_the_named_schemas_are_copied_into_a_platform_database() {
    let pg = cluster();
    let src = fresh_db(pg, "schemas_src");
    sql(
        pg,
        &src,
        "CREATE SCHEMA app; CREATE SCHEMA auth; \
         CREATE TABLE app.customers (id serial PRIMARY KEY, name text NOT NULL); \
         CREATE TABLE app.orders (id serial PRIMARY KEY, customer int REFERENCES app.customers, total numeric); \
         CREATE INDEX orders_customer ON app.orders (customer); \
         INSERT INTO app.customers (name) SELECT 'c' || g FROM generate_series(1, 50) g; \
         INSERT INTO app.orders (customer, total) SELECT 1 + g % 50, g FROM generate_series(1, 200) g; \
         CREATE TABLE auth.users (id int PRIMARY KEY, email text); \
         INSERT INTO auth.users VALUES (1, 'production@example.com'); \
         CREATE TABLE public.notes (id int)",
    );
    // The platform's database: its own `auth` schema, and the application's schema, empty.
    let dst = fresh_db(pg, "schemas_dst");
    sql(
        pg,
        &dst,
        "CREATE SCHEMA auth; CREATE TABLE auth.users (id int PRIMARY KEY, email text); \
         INSERT INTO auth.users VALUES (7, 'platform@example.com'); CREATE SCHEMA app",
    );

    let whole = clone(pg, &src, &dst, &[]);
    assert_eq!(whole.code, EXIT_REFUSED, "{}", whole.stderr);
    assert!(whole.stderr.contains("auth.users"), "{}", whole.stderr);

    let run = clone(pg, &src, &dst, &["--schema", "app"]);
    run.assert_ok();
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM app.orders"), "200");
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM app.customers"), "50");
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'app' AND indexname = 'orders_customer'"
        ),
        "1"
    );
    assert_eq!(
        sql(pg, &dst, "SELECT nextval('app.orders_id_seq')"),
        "201",
        "the sequence was not set from the source"
    );
    // The platform's schema is untouched, production's `auth` and `public` never arrive.
    assert_eq!(
        sql(pg, &dst, "SELECT string_agg(email, ',') FROM auth.users"),
        "platform@example.com"
    );
    assert_eq!(
        sql(pg, &dst, "SELECT to_regclass('public.notes') IS NULL"),
        "t"
    );

    // Once the application's schema holds objects, it is no longer an empty target.
    let again = clone(pg, &src, &dst, &["--schema", "app"]);
    assert_eq!(again.code, EXIT_REFUSED, "{}", again.stderr);
    assert!(again.stderr.contains("app.orders"), "{}", again.stderr);
    assert!(!again.stderr.contains("auth.users"), "{}", again.stderr);

    // --clean would drop the platform's schemas too.
    let clean = clone(pg, &src, &dst, &["--schema", "app", "--clean"]);
    assert_eq!(clean.code, EXIT_USAGE, "{}", clean.stderr);
}

/// `snapshot --schema` then `restore --schema`: the same into a platform's database, through
/// a snapshot directory; a full snapshot is refused there, before anything is loaded.
#[test]
fn snapshot_and_restore_of_the_named_schemas_into_a_platform_database() {
    let pg = cluster();
    let src = fresh_db(pg, "snapschemas_src");
    sql(
        pg,
        &src,
        "CREATE SCHEMA app; CREATE SCHEMA auth; \
         CREATE TABLE app.items (id serial PRIMARY KEY, label text); \
         CREATE INDEX items_label ON app.items (label); \
         INSERT INTO app.items (label) SELECT 'i' || g FROM generate_series(1, 30) g; \
         CREATE TABLE auth.users (id int PRIMARY KEY, email text); \
         INSERT INTO auth.users VALUES (1, 'production@example.com')",
    );
    let platform = "CREATE SCHEMA auth; CREATE TABLE auth.users (id int PRIMARY KEY, email text); \
         INSERT INTO auth.users VALUES (7, 'platform@example.com'); CREATE SCHEMA app";
    let dir = tempfile::tempdir().expect("temp dir");
    let snapshot = |out: &std::path::Path, extra: &[&str]| {
        run_cmd(
            restage()
                .args(["snapshot", "--quiet", "--no-rules", "--source"])
                .arg(pg.url(&src))
                .arg("--out")
                .arg(out)
                .args(extra),
        )
    };
    let restore = |snap: &std::path::Path, dst: &str, extra: &[&str]| {
        run_cmd(
            restage()
                .args(["restore", "--quiet"])
                .arg(snap)
                .args(["--target", &pg.url(dst)])
                .args(extra),
        )
    };

    let only_app = dir.path().join("app");
    snapshot(&only_app, &["--schema", "app"]).assert_ok();
    let dst = fresh_db(pg, "snapschemas_dst");
    sql(pg, &dst, platform);
    let whole_target = restore(&only_app, &dst, &[]);
    assert_eq!(whole_target.code, EXIT_REFUSED, "{}", whole_target.stderr);
    assert!(
        whole_target.stderr.contains("auth.users"),
        "{}",
        whole_target.stderr
    );

    restore(&only_app, &dst, &["--schema", "app"]).assert_ok();
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM app.items"), "30");
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_label'"
        ),
        "1"
    );
    assert_eq!(sql(pg, &dst, "SELECT nextval('app.items_id_seq')"), "31");
    assert_eq!(
        sql(pg, &dst, "SELECT string_agg(email, ',') FROM auth.users"),
        "platform@example.com"
    );
    let again = restore(&only_app, &dst, &["--schema", "app"]);
    assert_eq!(again.code, EXIT_REFUSED, "{}", again.stderr);
    assert!(again.stderr.contains("app.items"), "{}", again.stderr);

    // A snapshot of everything would bring production's `auth` into the platform's.
    let everything = dir.path().join("all");
    snapshot(&everything, &[]).assert_ok();
    let dst2 = fresh_db(pg, "snapschemas_dst2");
    sql(pg, &dst2, platform);
    let refused = restore(&everything, &dst2, &["--schema", "app"]);
    assert_eq!(refused.code, EXIT_REFUSED, "{}", refused.stderr);
    assert!(refused.stderr.contains("schema auth"), "{}", refused.stderr);
    assert_eq!(
        sql(pg, &dst2, "SELECT to_regclass('app.items') IS NULL"),
        "t"
    );

    let clean = restore(&only_app, &dst2, &["--schema", "app", "--clean"]);
    assert_eq!(clean.code, EXIT_USAGE, "{}", clean.stderr);
}

/// A misspelt `--schema` is refused instead of copying nothing of it.
#[test]
fn a_schema_the_source_lacks_is_refused() {
    let pg = cluster();
    let src = fresh_db(pg, "schemas_missing_src");
    sql(pg, &src, "CREATE SCHEMA app; CREATE TABLE app.t (id int)");
    let dst = fresh_db(pg, "schemas_missing_dst");
    let run = clone(pg, &src, &dst, &["--schema", "app", "--schema", "ap"]);
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    assert!(run.stderr.contains("no schema ap"), "{}", run.stderr);
    let dir = tempfile::tempdir().expect("temp dir");
    let snap = run_cmd(
        restage()
            .args(["snapshot", "--quiet", "--no-rules", "--source"])
            .arg(pg.url(&src))
            .arg("--out")
            .arg(dir.path().join("s"))
            .args(["--schema", "app", "--schema", "ap"]),
    );
    assert_eq!(snap.code, EXIT_USAGE, "{}", snap.stderr);
}

/// Supabase's layout: the application lives in `public`, beside the platform's `auth`.
#[test]
fn the_public_schema_is_copied_beside_the_platform_schemas() {
    let pg = cluster();
    let src = fresh_db(pg, "public_src");
    sql(
        pg,
        &src,
        "CREATE SCHEMA auth; CREATE TABLE auth.users (id int PRIMARY KEY); \
         INSERT INTO auth.users VALUES (1); \
         CREATE TABLE public.posts (id serial PRIMARY KEY, author int, body text); \
         INSERT INTO public.posts (author, body) SELECT g, 'p' FROM generate_series(1, 40) g",
    );
    let dst = fresh_db(pg, "public_dst");
    sql(
        pg,
        &dst,
        "CREATE SCHEMA auth; CREATE TABLE auth.users (id int PRIMARY KEY); \
         INSERT INTO auth.users VALUES (7), (8)",
    );
    clone(pg, &src, &dst, &["--schema", "public"]).assert_ok();
    assert_eq!(sql(pg, &dst, "SELECT count(*) FROM public.posts"), "40");
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM auth.users"
        ),
        "7,8"
    );
}
