//! `scrub` replaces the production values of the run's sanitized columns wherever free text,
//! a jsonb copy or a search index holds them, each exactly as its column is sanitized.

mod common;

use std::process::Command;

use common::*;

const KEY: &str = "restage-test-key-0123456789";

const RULES: &str = r#"
[tables."public.customers".columns]
id = "keep"
full_name = "person_name"
last_name = "last_name"
email = "email"
street = "street"

[tables."public.notes".columns]
id = "keep"
customer_id = "keep"
body = "scrub"
doc = "scrub"
search = "scrub"
searches = "scrub"
"#;

/// Every production value of the sanitized columns, as written and as the search index
/// folds it.
const NEEDLES: &str = "
SELECT DISTINCT v FROM customers,
    LATERAL (VALUES (full_name), (last_name), (lower(last_name)), (email), (street)) AS x(v)
ORDER BY 1";

/// Notes whose text names their customer as the staging `customers` row does.
const SAME_AS_COLUMNS: &str = "
SELECT count(*) FILTER (WHERE position(c.full_name IN n.body) > 0
                          AND position(c.street IN n.body) > 0
                          AND position(c.last_name || '''s' IN n.body) > 0),
       count(*) FILTER (WHERE n.doc->'customer'->>'full_name' = c.full_name
                          AND n.doc->'customer'->>'street' = c.street
                          AND n.doc->'customer'->>'email' = c.email
                          AND n.doc->>'note' = 'spoke to ' || c.full_name),
       count(*) FILTER (WHERE n.search::text::tsvector = n.search
                          AND n.search @@ to_tsquery('simple', 'refund')
                          AND n.searches[2] @@ to_tsquery('simple', 'refund')),
       count(*)
FROM notes n JOIN customers c ON c.id = n.customer_id";

/// The production values [`NEEDLES`] selects in `db`.
fn needles(db: &str) -> Vec<String> {
    sql(cluster(), db, NEEDLES)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn pg_dump_data(db: &str) -> String {
    let pg = cluster();
    let out = Command::new(pg.bindir().join("pg_dump"))
        .args(["--data-only", "-h"])
        .arg(pg.socket_dir())
        .args(["-p", &pg.port().to_string(), "-U", "postgres", "-d", db])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Needles found in `text` as whole words.
fn found<'a>(needles: &'a [String], text: &str) -> Vec<&'a str> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    needles
        .iter()
        .filter(|n| {
            text.match_indices(n.as_str()).any(|(at, _)| {
                !word(text[..at].chars().next_back()) && !word(text[at + n.len()..].chars().next())
            })
        })
        .map(String::as_str)
        .collect()
}

fn sanitizing_clone(src: &str, dst: &str, rules: &str) -> Run {
    let pg = cluster();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, rules).expect("rules file");
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["clone", "--quiet", "--source", &pg.url(src)])
            .args(["--target", &pg.url(dst), "--rules"])
            .arg(&path),
    )
}

#[test]
fn production_values_in_text_jsonb_and_tsvector_become_their_columns_values() {
    let pg = cluster();
    let src = loaded_db(pg, "values_src", "run_values/schema.sql");
    let needles = needles(&src);
    assert!(needles.len() > 150, "{} production values", needles.len());

    // Without the run's values, token detection alone leaves names and streets behind: the
    // search below finds what a plain `scrub` misses.
    let dst = fresh_db(pg, "values_tokens_only");
    let tokens_only = RULES.replace(
        "body = \"scrub\"",
        "body = { rule = \"scrub\", production_values = false }",
    );
    sanitizing_clone(&src, &dst, &tokens_only).assert_ok();
    assert!(!found(&needles, &pg_dump_data(&dst)).is_empty());

    let dst = fresh_db(pg, "values_dst");
    sanitizing_clone(&src, &dst, RULES).assert_ok();
    let data = pg_dump_data(&dst);
    assert!(data.contains("COPY public.notes"), "no data");
    let leaked = found(&needles, &data);
    assert!(
        leaked.is_empty(),
        "{} production values in staging, e.g. {:?}",
        leaked.len(),
        &leaked[..leaked.len().min(12)]
    );
    assert_eq!(sql(pg, &dst, SAME_AS_COLUMNS).trim(), "60|60|60|60");
}

#[test]
fn bad_scrub_arguments_stop_rules_check_before_it_connects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        "[tables.\"public.notes\".columns]\nbody = { rule = \"scrub\", kinds = [\"names\"] }\n",
    )
    .expect("rules file");
    // Nothing listens there: a connection attempt would fail differently.
    let run = run_cmd(
        restage()
            .args([
                "rules",
                "check",
                "--source",
                "postgresql://nobody@127.0.0.1:9/none",
            ])
            .arg("--rules")
            .arg(&path),
    );
    assert_ne!(run.code, 0);
    let place = format!("{}:2:8:", path.display());
    assert!(
        run.stdout.contains(&place) || run.stderr.contains(&place),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("unknown kind \"names\""),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// `preview` applies the rules as a clone would: a `scrub` column's sanitized sample holds none
/// of the production values the clone's dictionary replaces.
#[test]
fn preview_scrubs_production_values_as_the_clone_does() {
    let pg = cluster();
    let src = loaded_db(pg, "values_preview", "run_values/schema.sql");
    let needles = needles(&src);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, RULES).expect("rules file");
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args([
                "preview",
                "--json",
                "--rows",
                "1000",
                "--source",
                &pg.url(&src),
            ])
            .args(["--table", "public.notes", "--rules"])
            .arg(&path),
    );
    run.assert_ok();
    let columns: serde_json::Value = serde_json::from_str(&run.stdout).expect("--json");
    let body = columns
        .as_array()
        .and_then(|c| c.iter().find(|c| c["column"] == "body"))
        .unwrap_or_else(|| panic!("no body column in {}", run.stdout));
    let (mut originals, mut sanitized) = (String::new(), String::new());
    for pair in body["values"].as_array().expect("values") {
        originals.push_str(pair[0].as_str().unwrap_or_default());
        originals.push('\n');
        sanitized.push_str(pair[1].as_str().unwrap_or_default());
        sanitized.push('\n');
    }
    assert!(
        !found(&needles, &originals).is_empty(),
        "the sample names customers"
    );
    let leaked = found(&needles, &sanitized);
    assert!(
        leaked.is_empty(),
        "{} production values in the preview's sanitized body, e.g. {:?}",
        leaked.len(),
        &leaked[..leaked.len().min(12)]
    );
}
