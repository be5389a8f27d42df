//! What the source role may read, and what the target already holds: a clone that could not
//! read every row (row-level security, missing privileges) is refused before anything is
//! written; foreign-key rules compare the right columns' types; extensions preinstalled in the
//! target are kept and reported.

mod common;

use common::*;

const EXIT_REFUSED: i32 = 4;
const KEY: &str = "restage-test-key-0123456789";
const PASSWORD: &str = "source-role-pw-for-tests";

/// A login role with a password (TCP connections use scram), named after the test's database
/// so that tests sharing the cluster never collide.
fn create_role(db: &str, attributes: &str) -> String {
    let role = format!("reader_{db}");
    sql(
        cluster(),
        "postgres",
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' {attributes}"),
    );
    role
}

fn role_url(role: &str, db: &str) -> String {
    format!(
        "postgresql://{role}:{PASSWORD}@127.0.0.1:{}/{db}",
        cluster().port()
    )
}

/// `restage clone --no-rules` reading the source as `role`.
fn clone_as(role: &str, src: &str, dst: &str, extra: &[&str]) -> Run {
    run_cmd(
        restage()
            .args(["clone", "--quiet", "--no-rules", "--source"])
            .arg(role_url(role, src))
            .arg("--target")
            .arg(cluster().url(dst))
            .args(extra),
    )
}

fn relations_in(db: &str) -> String {
    sql(
        cluster(),
        db,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
    )
    .trim()
    .to_string()
}

fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

const RLS_SCHEMA: &str = "
CREATE TABLE public.notes (id int PRIMARY KEY, owner text NOT NULL, body text);
INSERT INTO public.notes
SELECT g, CASE WHEN g % 10 = 0 THEN '{role}' ELSE 'someone else' END, 'note ' || g
FROM generate_series(1, 100) g;
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON public.notes USING (owner = current_user);
CREATE TABLE public.plain (id int);
INSERT INTO public.plain SELECT generate_series(1, 5);
-- Owned by the reading role without FORCE: the owner is not subject to its policies.
CREATE TABLE public.mine (id int);
INSERT INTO public.mine SELECT generate_series(1, 7);
ALTER TABLE public.mine ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.mine OWNER TO {role};
-- Owned by the reading role with FORCE and no policy: the owner would read nothing.
CREATE TABLE public.forced (id int);
INSERT INTO public.forced SELECT generate_series(1, 3);
ALTER TABLE public.forced ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.forced FORCE ROW LEVEL SECURITY;
ALTER TABLE public.forced OWNER TO {role};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
";

#[test]
fn row_level_security_on_the_source_role_is_refused_before_anything_is_written() {
    let pg = cluster();
    let src = fresh_db(pg, "rls_src");
    let dst = fresh_db(pg, "rls_dst");
    let role = create_role(&src, "");
    sql(pg, &src, &RLS_SCHEMA.replace("{role}", &role));

    let run = clone_as(&role, &src, &dst, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert_contains(&run.stderr, "row-level security");
    assert_contains(&run.stderr, "public.notes");
    assert_contains(&run.stderr, "public.forced");
    assert!(!run.stderr.contains("public.mine"), "{}", run.stderr);
    assert!(!run.stderr.contains("public.plain"), "{}", run.stderr);
    assert_contains(&run.stderr, &format!("ALTER ROLE {role} BYPASSRLS"));
    assert_eq!(relations_in(&dst), "0", "the target was written to");

    // `snapshot` reads the source the same way and refuses the same way.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("snap");
    let run = run_cmd(
        restage()
            .args(["snapshot", "--quiet", "--no-rules", "--source"])
            .arg(role_url(&role, &src))
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert_contains(&run.stderr, "public.notes");
    assert!(
        !out.join("manifest.json").exists(),
        "a snapshot was written"
    );

    sql(pg, "postgres", &format!("ALTER ROLE {role} BYPASSRLS"));
    clone_as(&role, &src, &dst, &[]).assert_ok();
    let counts = "SELECT (SELECT count(*) FROM public.notes) || ',' || \
                  (SELECT count(*) FROM public.forced) || ',' || (SELECT count(*) FROM public.mine)";
    assert_eq!(sql(pg, &dst, counts).trim(), "100,3,7");
}

#[test]
fn reading_sessions_turn_row_security_off_so_a_filtered_read_fails() {
    use restage::conn::ConnSpec;
    use restage::source::{join_snapshot, Leader};

    let pg = cluster();
    let src = fresh_db(pg, "rls_sessions");
    let role = create_role(&src, "");
    sql(pg, &src, &RLS_SCHEMA.replace("{role}", &role));
    let spec = ConnSpec::parse(&role_url(&role, &src)).expect("connection string");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let leader = Leader::begin(spec.connect("test").await.expect("leader"))
            .await
            .expect("snapshot");
        let row = leader
            .client
            .query_one("SHOW row_security", &[])
            .await
            .expect("SHOW");
        assert_eq!(row.get::<_, String>(0), "off", "snapshot leader");

        let reader = spec.connect("test").await.expect("reader");
        join_snapshot(&reader, &leader.snapshot)
            .await
            .expect("joining the snapshot");
        let row = reader
            .query_one("SHOW row_security", &[])
            .await
            .expect("SHOW");
        assert_eq!(row.get::<_, String>(0), "off", "reader");
        let err = reader
            .query_one("SELECT count(*) FROM public.notes", &[])
            .await
            .expect_err("a read filtered by a policy must fail, not return fewer rows");
        let message = err.as_db_error().map(|d| d.message().to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("row-level security")),
            "{err}"
        );
    });
}

#[test]
fn missing_privileges_are_listed_with_their_grants_before_anything_is_written() {
    let pg = cluster();
    let src = fresh_db(pg, "grants_src");
    let dst = fresh_db(pg, "grants_dst");
    let role = create_role(&src, "");
    sql(
        pg,
        &src,
        &"
        CREATE SCHEMA app;
        CREATE TABLE app.accounts (id int PRIMARY KEY);
        INSERT INTO app.accounts SELECT generate_series(1, 4);
        CREATE TABLE public.people (id int PRIMARY KEY, name text, ssn text);
        INSERT INTO public.people SELECT g, 'p' || g, 's' || g FROM generate_series(1, 6) g;
        CREATE TABLE public.fine (id int);
        INSERT INTO public.fine SELECT generate_series(1, 2);
        CREATE TABLE public.hidden (id int);
        CREATE SEQUENCE public.counter;
        SELECT nextval('public.counter');
        GRANT SELECT ON app.accounts TO {role};
        GRANT SELECT (id, name) ON public.people TO {role};
        GRANT SELECT ON public.fine TO {role};
        "
        .replace("{role}", &role),
    );

    // `hidden` is not copied, but pg_dump still has to lock it to read its definition.
    let run = clone_as(&role, &src, &dst, &["--exclude-table", "hidden"]);
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert_contains(&run.stderr, &format!("GRANT USAGE ON SCHEMA app TO {role}"));
    assert_contains(&run.stderr, "public.people");
    assert_contains(&run.stderr, "ssn");
    assert_contains(
        &run.stderr,
        &format!("GRANT SELECT ON public.people TO {role}"),
    );
    assert_contains(
        &run.stderr,
        &format!("GRANT SELECT ON public.hidden TO {role}"),
    );
    assert_contains(
        &run.stderr,
        &format!("GRANT SELECT ON SEQUENCE public.counter TO {role}"),
    );
    assert!(!run.stderr.contains("public.fine"), "{}", run.stderr);
    assert_eq!(relations_in(&dst), "0", "the target was written to");

    sql(
        pg,
        &src,
        &format!(
            "GRANT USAGE ON SCHEMA app TO {role}; GRANT SELECT ON public.people, public.hidden \
             TO {role}; GRANT SELECT ON SEQUENCE public.counter TO {role}"
        ),
    );
    clone_as(&role, &src, &dst, &[]).assert_ok();
    assert_same_database(pg, &src, &dst);
}

fn clone_with_rules(src: &str, dst: &str, rules: &str) -> Run {
    let pg = cluster();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, rules).expect("writing rules");
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["clone", "--quiet", "--source", &pg.url(src), "--target"])
            .arg(pg.url(dst))
            .arg("--rules")
            .arg(&path),
    )
}

#[test]
fn a_key_rule_follows_a_foreign_key_of_the_same_type_beside_other_tables_columns() {
    let pg = cluster();
    // `child` is larger than `parent` and has an `id` of another type.
    let src = fresh_db(pg, "fk_types_src");
    sql(
        pg,
        &src,
        "CREATE TABLE public.parent (id bigint PRIMARY KEY);
         INSERT INTO public.parent SELECT generate_series(1, 10);
         CREATE TABLE public.child (id int PRIMARY KEY, pid bigint NOT NULL REFERENCES public.parent);
         INSERT INTO public.child SELECT g, 1 + g % 10 FROM generate_series(1, 3000) g;",
    );
    let dst = fresh_db(pg, "fk_types_dst");
    let run = clone_with_rules(
        &src,
        &dst,
        r#"
[tables."public.parent".columns]
id = { rule = "hash" }
[tables."public.child".columns]
id = "keep"
"#,
    );
    run.assert_ok();
    let joined = "SELECT count(*) FROM public.child c JOIN public.parent p ON p.id = c.pid";
    assert_eq!(sql(pg, &dst, joined).trim(), "3000");
    let unchanged = "SELECT count(*) FROM public.parent WHERE id BETWEEN 1 AND 10";
    assert_ne!(
        sql(pg, &dst, unchanged).trim(),
        "10",
        "the rule was not applied"
    );

    // A self-referencing key beside an unrelated, larger table with a bigint `id`.
    let src = fresh_db(pg, "fk_tree_src");
    sql(
        pg,
        &src,
        "CREATE TABLE public.tree (id int PRIMARY KEY, parent_id int REFERENCES public.tree);
         INSERT INTO public.tree VALUES (1, NULL);
         INSERT INTO public.tree SELECT g, g / 2 FROM generate_series(2, 20) g;
         CREATE TABLE public.other (id bigint PRIMARY KEY, filler text);
         INSERT INTO public.other SELECT g, repeat('x', 100) FROM generate_series(1, 3000) g;",
    );
    let dst = fresh_db(pg, "fk_tree_dst");
    let run = clone_with_rules(
        &src,
        &dst,
        r#"
[tables."public.tree".columns]
id = { rule = "hash" }
[tables."public.other".columns]
id = "keep"
filler = "keep"
"#,
    );
    run.assert_ok();
    let joined = "SELECT count(*) FROM public.tree c JOIN public.tree p ON p.id = c.parent_id";
    assert_eq!(sql(pg, &dst, joined).trim(), "19");
}

#[test]
fn a_key_rule_that_would_follow_a_foreign_key_of_another_type_is_refused() {
    let pg = cluster();
    let src = fresh_db(pg, "fk_differs_src");
    sql(
        pg,
        &src,
        "CREATE TABLE public.parent (id bigint PRIMARY KEY);
         INSERT INTO public.parent SELECT generate_series(1, 10);
         CREATE TABLE public.child (id bigint PRIMARY KEY, pid int NOT NULL REFERENCES public.parent);
         INSERT INTO public.child SELECT g, 1 + g % 10 FROM generate_series(1, 30) g;",
    );
    let dst = fresh_db(pg, "fk_differs_dst");
    let run = clone_with_rules(
        &src,
        &dst,
        r#"
[tables."public.parent".columns]
id = { rule = "hash" }
[tables."public.child".columns]
id = "keep"
"#,
    );
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert_contains(
        &run.stderr,
        "would have to follow the foreign key from public.child.pid, whose type differs",
    );
    assert_eq!(relations_in(&dst), "0", "the target was written to");
}

const CITEXT_TABLE: &str = "CREATE TABLE public.handles (id int PRIMARY KEY, handle citext);
     INSERT INTO public.handles SELECT g, 'Handle' || g FROM generate_series(1, 5) g;";

#[test]
fn extensions_preinstalled_in_the_target_are_kept_and_reported() {
    let pg = cluster();
    let src = fresh_db(pg, "ext_src");
    sql(
        pg,
        &src,
        &format!("CREATE EXTENSION citext SCHEMA public; {CITEXT_TABLE}"),
    );
    // As on managed platforms: the target comes with extensions, one of them the source's.
    let dst = fresh_db(pg, "ext_dst");
    sql(
        pg,
        &dst,
        "CREATE EXTENSION citext SCHEMA public; CREATE EXTENSION hstore SCHEMA public",
    );
    let run = clone(pg, &src, &dst, &["--json"]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let kept: Vec<&str> = report["kept"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert!(
        kept.iter().any(|k| k.starts_with("extension citext")),
        "{kept:?}"
    );
    assert!(
        kept.iter().any(|k| k.starts_with("extension hstore")),
        "{kept:?}"
    );
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM public.handles WHERE handle = 'HANDLE3'"
        )
        .trim(),
        "1"
    );
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT extname FROM pg_extension WHERE extname = 'hstore'"
        )
        .trim(),
        "hstore"
    );
    // The human summary says so too.
    let dst = fresh_db(pg, "ext_dst_text");
    sql(pg, &dst, "CREATE EXTENSION hstore SCHEMA public");
    let run = run_cmd(
        restage()
            .args(["clone", "--no-rules", "--source", &pg.url(&src), "--target"])
            .arg(pg.url(&dst)),
    );
    run.assert_ok();
    assert_contains(&run.stdout, "kept in the target: extension hstore");
}

#[test]
fn a_preinstalled_extension_of_another_version_is_reported_and_of_another_schema_refused() {
    let pg = cluster();
    let src = fresh_db(pg, "extver_src");
    sql(
        pg,
        &src,
        &format!("CREATE EXTENSION citext SCHEMA public; {CITEXT_TABLE}"),
    );
    let source_version = sql(
        pg,
        &src,
        "SELECT extversion FROM pg_extension WHERE extname = 'citext'",
    );
    let dst = fresh_db(pg, "extver_dst");
    sql(
        pg,
        &dst,
        "CREATE EXTENSION citext VERSION '1.4' SCHEMA public",
    );
    let run = clone(pg, &src, &dst, &["--json"]);
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    let warnings = report["warnings"].to_string();
    assert_contains(&warnings, "citext");
    assert_contains(&warnings, "1.4");
    assert_contains(&warnings, source_version.trim());

    // The source's objects name the extension's schema: another schema on the target would
    // break them, so the clone is refused before it writes.
    let src = fresh_db(pg, "extschema_src");
    sql(
        pg,
        &src,
        &format!(
            "CREATE SCHEMA ext; CREATE EXTENSION citext SCHEMA ext; {}",
            CITEXT_TABLE.replace("handle citext", "handle ext.citext")
        ),
    );
    let dst = fresh_db(pg, "extschema_dst");
    sql(pg, &dst, "CREATE EXTENSION citext SCHEMA public");
    let run = clone(pg, &src, &dst, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert_contains(&run.stderr, "citext");
    assert_contains(&run.stderr, "schema public");
    assert_contains(&run.stderr, "schema ext");
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'ext'"
        )
        .trim(),
        "0",
        "the target was written to"
    );
}
