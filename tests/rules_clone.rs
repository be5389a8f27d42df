//! Sanitizing clones against real PostgreSQL: rules decide every column (fail closed), problems
//! in rules files are reported with their place before any connection opens, rules are applied
//! in the data path, and a key is required to sanitize.

mod common;

use common::*;

const EXIT_USAGE: i32 = 2;
const EXIT_REFUSED: i32 = 4;
const KEY: &str = "restage-test-key-0123456789";

const APP: &str = "
CREATE TABLE public.users (
    id int PRIMARY KEY,
    email text NOT NULL,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.visits (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id int NOT NULL REFERENCES public.users,
    note text,
    at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.users (id, email, notes)
SELECT g, 'user' || g || '@example.org', CASE WHEN g % 3 = 0 THEN NULL ELSE 'private note ' || g END
FROM generate_series(1, 500) g;
INSERT INTO public.visits (user_id, note) SELECT 1 + g % 500, 'visit ' || g FROM generate_series(1, 2000) g;
";

fn app_db(prefix: &str) -> String {
    let pg = cluster();
    let db = fresh_db(pg, prefix);
    sql(pg, &db, APP);
    db
}

fn write_rules(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writing rules");
    (dir, path)
}

fn clone_with(src: &str, dst: &str, rules: &std::path::Path, extra: &[&str]) -> Run {
    let pg = cluster();
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args([
                "clone",
                "--quiet",
                "--source",
                &pg.url(src),
                "--target",
                &pg.url(dst),
            ])
            .arg("--rules")
            .arg(rules)
            .args(extra),
    )
}

const GOOD_RULES: &str = r#"
[defaults.columns]
"*at" = "keep"

[tables."public.users".columns]
id = "keep"
email = "keep"
notes = { rule = "null" }

[tables."public.visits".columns]
id = "keep"
user_id = "keep"
note = "null"
"#;

#[test]
fn rules_apply_in_the_data_path_and_kept_columns_are_identical() {
    let pg = cluster();
    let src = app_db("rules_src");
    let dst = fresh_db(pg, "rules_dst");
    let (_dir, rules) = write_rules("app.toml", GOOD_RULES);
    let run = clone_with(&src, &dst, &rules, &["--json"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("public.users.notes: null"),
        "{}",
        run.stdout
    );
    // The privacy record: what happened to each column, under which rules and key.
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_complete_report(&report, "clone");
    let privacy = &report["privacy"];
    assert_eq!(privacy["mode"], "rules");
    assert_eq!(privacy["rules_files"][0], rules.display().to_string());
    let digest = blake3::Hasher::new()
        .update(&(GOOD_RULES.len() as u64).to_le_bytes())
        .update(GOOD_RULES.as_bytes())
        .finalize()
        .to_hex()
        .to_string();
    assert_eq!(privacy["rules_digest"], digest);
    let fingerprint = privacy["key_fingerprint"].as_str().unwrap_or("");
    assert!(fingerprint.starts_with("blake3:"), "{fingerprint}");
    assert!(!run.stdout.contains(KEY), "the key is never in the report");
    let decision = |table: &str, column: &str| {
        privacy["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .find(|c| c["table"] == table && c["column"] == column)
            .map(|c| {
                (
                    c["decision"].as_str().unwrap_or("").to_string(),
                    c["rule"].as_str().unwrap_or("").to_string(),
                    c["origin"].as_str().unwrap_or("").to_string(),
                )
            })
    };
    let owned = |d: &str, r: &str, o: &str| Some((d.into(), r.into(), o.into()));
    assert_eq!(
        decision("public.users", "notes"),
        owned("rule", "null", "explicit")
    );
    assert_eq!(
        decision("public.users", "email"),
        owned("keep", "keep", "explicit")
    );
    assert_eq!(
        decision("public.users", "created_at"),
        owned("keep", "keep", "pattern \"*at\"")
    );
    // Same rules, same key: the same fingerprint and the same checksums on a second clone.
    let again = fresh_db(pg, "rules_dst_again");
    let second = clone_with(&src, &again, &rules, &["--json"]);
    second.assert_ok();
    let second: serde_json::Value = serde_json::from_str(&second.stdout).expect("JSON report");
    assert_eq!(second["privacy"]["key_fingerprint"], fingerprint);
    let checksums = |r: &serde_json::Value| {
        let mut v: Vec<(String, String)> = r["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .map(|t| (t["table"].to_string(), t["checksum"].to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(checksums(&report), checksums(&second));
    assert_eq!(
        sql(pg, &dst, "SELECT count(*), count(notes) FROM public.users").trim(),
        "500|0"
    );
    assert_eq!(
        sql(pg, &dst, "SELECT count(*), count(note) FROM public.visits").trim(),
        "2000|0"
    );
    let kept =
        "SELECT md5(string_agg(id || email || created_at, ',' ORDER BY id)) FROM public.users";
    assert_eq!(sql(pg, &src, kept), sql(pg, &dst, kept));
    let fk = "SELECT count(*) FROM public.visits v JOIN public.users u ON u.id = v.user_id";
    assert_eq!(sql(pg, &dst, fk).trim(), "2000");
}

#[test]
fn undecided_columns_stop_the_clone_and_are_listed() {
    let pg = cluster();
    let src = app_db("undecided_src");
    let dst = fresh_db(pg, "undecided_dst");
    // A column added to production after the rules were written.
    sql(
        pg,
        &src,
        "ALTER TABLE public.users ADD COLUMN phone varchar(20)",
    );
    let (_dir, rules) = write_rules("app.toml", GOOD_RULES);
    let run = clone_with(&src, &dst, &rules, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("public.users.phone (character varying(20))"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-undecided"), "{}", run.stderr);
    // Nothing was written.
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        )
        .trim(),
        "0"
    );

    let run = clone_with(&src, &dst, &rules, &["--allow-undecided"]);
    run.assert_ok();
    assert!(run.stderr.contains("public.users.phone"), "{}", run.stderr);
}

#[test]
fn problems_in_rules_files_are_all_reported_before_connecting() {
    // Nothing listens on port 1: a connection attempt would fail with exit 3.
    let (_dir, rules) = write_rules(
        "bad.toml",
        "[tables.\"public.users\".columns]\nemail = { rule = \"emial\" }\nnotes = { rule = \"null\", length = 3 }\n[tables.\"public.users\".colums]\n",
    );
    let run = run_cmd(
        restage()
            .args([
                "clone",
                "--source",
                "postgresql://u@127.0.0.1:1/x",
                "--target",
                "postgresql://u@127.0.0.1:1/y",
            ])
            .arg("--rules")
            .arg(&rules),
    );
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    let path = rules.display().to_string();
    assert!(
        run.stderr.contains(&format!(
            "{path}:2:9: public.users.email: unknown rule \"emial\""
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "{path}:3:9: public.users.notes: rule null takes no parameters"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{path}:4:")) && run.stderr.contains("unknown key `colums`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("3 problems"), "{}", run.stderr);
}

#[test]
fn rules_are_checked_against_the_live_schema() {
    let pg = cluster();
    let src = app_db("schema_src");
    let dst = fresh_db(pg, "schema_dst");
    let (_dir, rules) = write_rules(
        "app.toml",
        &format!("{GOOD_RULES}\n[tables.\"public.user\".columns]\nid = \"keep\"\n")
            .replace("email = \"keep\"", "email = \"null\"")
            .replace(
                "user_id = \"keep\"",
                "user_id = \"keep\"\nuser_idd = \"keep\"",
            ),
    );
    let run = clone_with(&src, &dst, &rules, &[]);
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no table public.user in the source (did you mean \"public.users\"?)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("public.visits.user_idd: no column \"user_idd\" in this table (did you mean \"user_id\"?)"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("public.users.email: rule null may produce NULL but the column is NOT NULL"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_rules_and_no_key_are_refused() {
    let pg = cluster();
    let src = app_db("nokey_src");
    let dst = fresh_db(pg, "nokey_dst");
    let run = run_cmd(restage().args([
        "clone",
        "--source",
        &pg.url(&src),
        "--target",
        &pg.url(&dst),
    ]));
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    assert!(run.stderr.contains("no --rules given"), "{}", run.stderr);

    let (_dir, rules) = write_rules("app.toml", GOOD_RULES);
    let run = run_cmd(
        restage()
            .args([
                "clone",
                "--source",
                &pg.url(&src),
                "--target",
                &pg.url(&dst),
                "--rules",
            ])
            .arg(&rules),
    );
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    assert!(run.stderr.contains("RESTAGE_KEY"), "{}", run.stderr);

    let run = run_cmd(
        restage()
            .args([
                "clone",
                "--quiet",
                "--ephemeral-key",
                "--source",
                &pg.url(&src),
                "--target",
                &pg.url(&dst),
                "--rules",
            ])
            .arg(&rules),
    );
    run.assert_ok();
}

#[test]
fn verify_finds_production_values_left_in_the_target() {
    let pg = cluster();
    let src = app_db("verify_src");
    let clean = fresh_db(pg, "verify_clean");
    let leaky = fresh_db(pg, "verify_leaky");
    let (_dir, rules) = write_rules("app.toml", GOOD_RULES);
    clone_with(&src, &clean, &rules, &[]).assert_ok();
    // A target cloned without the rules holds every production value.
    clone(pg, &src, &leaky, &[]).assert_ok();

    let verify = |dst: &str| {
        run_cmd(
            restage()
                .args([
                    "verify",
                    "--source",
                    &pg.url(&src),
                    "--target",
                    &pg.url(dst),
                    "--rules",
                ])
                .arg(&rules),
        )
    };
    let ok = verify(&clean);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("public.users.notes"), "{}", ok.stdout);
    assert!(
        ok.stdout.contains("0 leaks in 2 scanned columns"),
        "{}",
        ok.stdout
    );

    let bad = verify(&leaky);
    assert_eq!(bad.code, 6, "{}\n{}", bad.stdout, bad.stderr);
    // 334 non-null notes and 2000 visit notes, compared row by row through the kept keys.
    assert!(bad.stdout.contains("2334 leaks"), "{}", bad.stdout);
    assert!(
        bad.stderr.contains("2334 production values found"),
        "{}",
        bad.stderr
    );
    assert!(
        !bad.stdout.contains("private note"),
        "values are never printed: {}",
        bad.stdout
    );
}

#[test]
fn preview_shows_original_and_sanitized_values_without_writing() {
    let pg = cluster();
    let src = app_db("preview_src");
    let (_dir, rules) = write_rules("app.toml", GOOD_RULES);
    let before = sql(
        pg,
        &src,
        "SELECT md5(string_agg(u::text, ',' ORDER BY id)) FROM public.users u",
    );
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args([
                "preview",
                "--source",
                &pg.url(&src),
                "--table",
                "users",
                "--rows",
                "3",
                "--rules",
            ])
            .arg(&rules),
    );
    run.assert_ok();
    assert!(
        run.stdout
            .contains("public.users: 3 rows sampled, 1 of 4 columns sanitized"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("notes (null)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("private note 1") && run.stdout.contains("→  NULL"),
        "{}",
        run.stdout
    );
    let after = sql(
        pg,
        &src,
        "SELECT md5(string_agg(u::text, ',' ORDER BY id)) FROM public.users u",
    );
    assert_eq!(before, after);
}

#[test]
fn preview_writes_the_run_report_with_its_steps_and_decisions_and_no_rows_written() {
    let pg = cluster();
    let src = app_db("preview_report_src");
    let (dir, rules) = write_rules("app.toml", GOOD_RULES);
    let file = dir.path().join("preview.json");
    let preview = |table: &str| {
        run_cmd(
            restage()
                .env("RESTAGE_KEY", KEY)
                .args(["preview", "--source", &pg.url(&src), "--table", table])
                .args(["--rows", "3", "--report"])
                .arg(&file)
                .arg("--rules")
                .arg(&rules),
        )
    };
    let run = preview("users");
    run.assert_ok();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("--report file"))
            .expect("--report JSON");
    assert_run_report(&report, "preview");
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(report["target"], "none");
    assert_eq!(report["target_state"], "untouched");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(steps, ["schema", "sample"]);
    let table = &report["tables"][0];
    assert_eq!(table["table"], "public.users");
    assert_eq!(table["rows"], 3);
    assert_eq!(table["target_rows"], 0, "no rows are written");
    let columns = report["privacy"]["columns"].as_array().expect("columns");
    assert_eq!(columns.len(), 4, "{report:#}");
    let notes = columns
        .iter()
        .find(|c| c["column"] == "notes")
        .expect("notes");
    assert_eq!(
        (&notes["decision"], &notes["rule"]),
        (&"rule".into(), &"null".into())
    );
    assert_eq!(report["sanitized"][0], "public.users.notes: null");
    assert!(
        !std::fs::read_to_string(&file)
            .expect("report")
            .contains("private note"),
        "the report holds no values"
    );

    // A failed preview still writes its report, with the step it failed in.
    let run = preview("no_such_table");
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("--report file"))
            .expect("--report JSON");
    assert_run_report(&report, "preview");
    assert_eq!(report["status"], "failed");
    assert_eq!(report["steps"][0]["name"], "schema");
    assert_eq!(report["steps"][0]["outcome"], "failed");
}

#[test]
fn rules_check_reports_problems_and_undecided_columns_for_ci() {
    let pg = cluster();
    let src = app_db("check_src");
    let (_dir, good) = write_rules("good.toml", GOOD_RULES);
    let run = run_cmd(
        restage()
            .args(["rules", "check", "--source", &pg.url(&src), "--rules"])
            .arg(&good),
    );
    run.assert_ok();
    assert!(
        run.stdout
            .contains("rules ok: 2 tables, 8 columns decided (2 sanitized, 6 kept)"),
        "{}",
        run.stdout
    );

    sql(pg, &src, "ALTER TABLE public.visits ADD COLUMN ip inet");
    let (_dir2, bad) = write_rules(
        "bad.toml",
        &GOOD_RULES.replace("email = \"keep\"", "email = \"null\""),
    );
    let run = run_cmd(
        restage()
            .args([
                "rules",
                "check",
                "--json",
                "--source",
                &pg.url(&src),
                "--rules",
            ])
            .arg(&bad),
    );
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(json["ok"], false);
    assert_eq!(json["undecided"][0], "public.visits.ip (inet)");
    assert_eq!(json["problems"][0]["table"], "public.users");
    assert_eq!(json["problems"][0]["column_name"], "email");
    assert_eq!(json["problems"][0]["line"], 7);
}

const KEYED: &str = "
CREATE TABLE public.accounts (email text PRIMARY KEY, plan text NOT NULL);
CREATE TABLE public.logins (
    id int PRIMARY KEY,
    account_email text NOT NULL REFERENCES public.accounts (email),
    at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO public.accounts SELECT 'person' || g || '@example.org', 'free' FROM generate_series(1, 300) g;
INSERT INTO public.logins (id, account_email) SELECT g, 'person' || (1 + g % 300) || '@example.org' FROM generate_series(1, 1000) g;
";

#[test]
fn a_rule_on_a_key_follows_the_foreign_keys_that_reference_it() {
    let pg = cluster();
    let src = fresh_db(pg, "fk_src");
    sql(pg, &src, KEYED);
    let dst = fresh_db(pg, "fk_dst");
    let rules_text = "
[tables.\"public.accounts\".columns]
email = { rule = \"email\" }
plan = \"keep\"
[tables.\"public.logins\".columns]
id = \"keep\"
at = \"keep\"
";
    let (_dir, rules) = write_rules("keys.toml", rules_text);
    let run = clone_with(&src, &dst, &rules, &["--json"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("public.logins.account_email: email (references public.accounts.email)"),
        "{}",
        run.stdout
    );
    // The foreign key was validated on the target, and every login still finds its account.
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"
        )
        .trim(),
        "1"
    );
    let joined =
        "SELECT count(*) FROM public.logins l JOIN public.accounts a ON a.email = l.account_email";
    assert_eq!(sql(pg, &dst, joined).trim(), "1000");
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM public.accounts WHERE email LIKE 'person%@example.org'"
        )
        .trim(),
        "0"
    );

    // An explicit, different entry on the referencing column is refused with a reason.
    let (_dir2, clash) = write_rules(
        "clash.toml",
        &rules_text.replace("at = \"keep\"", "at = \"keep\"\naccount_email = \"keep\""),
    );
    let other = fresh_db(pg, "fk_clash");
    let run = clone_with(&src, &other, &clash, &[]);
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("public.logins.account_email: references public.accounts.email"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_shipped_rules_file_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("rules/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.push(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/e2e/rules.toml"));
    assert!(files.len() >= 4, "{files:?}");
    if let Err(problems) = restage::rules::load(&files) {
        panic!("{}", restage::rules::diagnostic::render(&problems));
    }
}

#[test]
fn scrub_replaces_personal_tokens_inside_documents_with_their_domain_values() {
    let pg = cluster();
    let src = fresh_db(pg, "scrub_src");
    sql(
        pg,
        &src,
        "CREATE TABLE public.people (id int PRIMARY KEY, email text NOT NULL);
         CREATE TABLE public.audit (
             id int PRIMARY KEY, doc jsonb NOT NULL, raw json, body text, tags text[],
             payload bytea, page xml);
         INSERT INTO public.people SELECT g, 'person' || g || '@privatebox.org'
           FROM generate_series(1, 40) g;
         INSERT INTO public.audit
         SELECT g,
           jsonb_build_object('actor', 'person' || g || '@privatebox.org', 'amount', g * 10,
             'before', jsonb_build_object('phone', '+44 7700 9' || lpad(g::text, 5, '0'),
               'cards', jsonb_build_array('4111 1111 1111 1111'))),
           json_build_object('ip', '203.0.113.' || g)::json,
           'Ticket ' || g || ': mail person' || g || '@privatebox.org, ssn 123-45-' || lpad(g::text, 4, '0'),
           ARRAY['person' || g || '@privatebox.org', 'plain tag'],
           convert_to('from person' || g || '@privatebox.org', 'UTF8'),
           xmlparse(content '<to>person' || g || '@privatebox.org</to>')
         FROM generate_series(1, 40) g;",
    );
    let dst = fresh_db(pg, "scrub_dst");
    let (_dir, rules) = write_rules(
        "scrub.toml",
        r#"
[tables."public.people".columns]
id = "keep"
email = { rule = "email", domain = "person_email" }
[tables."public.audit".columns]
id = "keep"
doc = { rule = "scrub", domains = { email = "person_email" } }
raw = "scrub"
body = { rule = "scrub", domains = { email = "person_email" } }
tags = { rule = "scrub", domains = { email = "person_email" } }
payload = { rule = "scrub", domains = { email = "person_email" } }
page = { rule = "scrub", domains = { email = "person_email" } }
"#,
    );
    clone_with(&src, &dst, &rules, &[]).assert_ok();
    let everything = "SELECT string_agg(concat_ws('|', a.doc::text, a.raw::text, a.body, \
                      a.tags::text, encode(a.payload, 'escape'), a.page::text), E'\\n') \
                      FROM public.audit a";
    let text = sql(pg, &dst, everything);
    for production in [
        "privatebox",
        "+44 7700 9",
        "4111 1111 1111 1111",
        "203.0.113.",
        "123-45-",
    ] {
        assert!(!text.contains(production), "{production} left in:\n{text}");
    }
    // The email inside each document is the same fake as in people.email (one domain, one
    // mapping), so joins on it still match; the rest of the document is unchanged.
    let joined = "SELECT count(*) FROM public.audit a JOIN public.people p ON p.id = a.id \
                  WHERE a.doc->>'actor' = p.email AND a.body LIKE '%' || p.email || '%' \
                  AND a.tags[1] = p.email AND a.tags[2] = 'plain tag' \
                  AND convert_from(a.payload, 'UTF8') = 'from ' || p.email \
                  AND a.page::text = '<to>' || p.email || '</to>' \
                  AND (a.doc->>'amount')::int = a.id * 10";
    assert_eq!(sql(pg, &dst, joined).trim(), "40");
}

#[test]
fn rule_outputs_that_break_a_check_or_domain_constraint_stop_the_clone_before_copying() {
    let pg = cluster();
    let src = fresh_db(pg, "preflight_src");
    sql(
        pg,
        &src,
        "CREATE DOMAIN public.us_zip AS text CHECK (VALUE ~ '^[0-9]{5}$');
         CREATE TABLE public.citizens (
             id int PRIMARY KEY,
             national_id char(11) NOT NULL CHECK (national_id ~ '^[0-9]{3}-[0-9]{2}-[0-9]{4}$'),
             zip public.us_zip,
             email text NOT NULL);
         INSERT INTO public.citizens SELECT g,
             lpad(g::text, 3, '0') || '-12-' || lpad(g::text, 4, '0'), lpad(g::text, 5, '0'),
             'c' || g || '@privatebox.org'
           FROM generate_series(1, 300) g;",
    );
    let dst = fresh_db(pg, "preflight_dst");
    let (_dir, rules) = write_rules(
        "citizens.toml",
        r#"
[tables."public.citizens".columns]
id = "keep"
national_id = { rule = "hash", length = 11 }
zip = { rule = "city" }
email = { rule = "email" }
"#,
    );
    let run = clone_with(&src, &dst, &rules, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    for expected in [
        "public.citizens.national_id (rule hash)",
        "citizens_national_id_check",
        "public.citizens.zip (rule city)",
        "us_zip",
        "sanitized example",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?}:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("privatebox"), "{}", run.stderr);
    assert_eq!(
        sql(pg, &dst, "SELECT count(*) FROM public.citizens").trim(),
        "0",
        "rows were copied"
    );
    // With rules whose outputs fit, the same clone completes.
    let (_dir, rules) = write_rules(
        "citizens.toml",
        r#"
[tables."public.citizens".columns]
id = "keep"
national_id = { rule = "regex_replace", pattern = '[0-9]', replacement = '7' }
zip = { rule = "constant", value = "99999" }
email = { rule = "email" }
"#,
    );
    clone_with(&src, &dst, &rules, &["--clean"]).assert_ok();
    assert_eq!(
        sql(pg, &dst, "SELECT count(*) FROM public.citizens").trim(),
        "300"
    );
}

#[test]
fn composite_columns_are_sanitized_field_by_field() {
    let pg = cluster();
    let src = fresh_db(pg, "composite_src");
    sql(
        pg,
        &src,
        "CREATE TYPE public.geo AS (lat float8, lon float8);
         CREATE TYPE public.postal AS (street text, city text, zip text, contact text, at public.geo);
         CREATE TABLE public.members (
             id int PRIMARY KEY, email text NOT NULL, home public.postal,
             previous public.postal[]);
         INSERT INTO public.members SELECT g, 'member' || g || '@privatebox.org',
             ROW(g || ' Secret Street', 'Hiddenville', lpad(g::text, 5, '0'),
                 'member' || g || '@privatebox.org', ROW(51.5, -0.1))::public.postal,
             ARRAY[ROW(g || ' Old Road', 'Formertown', NULL, NULL, NULL)::public.postal, NULL]
           FROM generate_series(1, 30) g;
         INSERT INTO public.members VALUES (31, 'member31@privatebox.org', NULL, '{}');",
    );
    let dst = fresh_db(pg, "composite_dst");
    let (_dir, rules) = write_rules(
        "composite.toml",
        r#"
[tables."public.members".columns]
id = "keep"
email = { rule = "email", domain = "member_email" }
home = { rule = "composite", fields = { street = "street", city = "city", contact = { rule = "email", domain = "member_email" }, at = { rule = "composite", fields = { lat = { rule = "number_noise", percent = 1 } } } } }
previous = { rule = "composite", fields = { street = "street", city = "city" } }
"#,
    );
    clone_with(&src, &dst, &rules, &[]).assert_ok();
    let text = sql(
        pg,
        &dst,
        "SELECT string_agg(concat_ws('|', home::text, previous::text), E'\\n') FROM public.members",
    );
    for production in [
        "Secret Street",
        "Hiddenville",
        "Old Road",
        "Formertown",
        "privatebox",
    ] {
        assert!(!text.contains(production), "{production} left in:\n{text}");
    }
    // Unnamed fields are kept, NULL fields and values stay NULL, the nested rule applied.
    let same = "SELECT count(*) FROM public.members WHERE id <= 30 AND (home).zip = lpad(id::text, 5, '0') \
                AND ((home).at).lon = -0.1 AND ((home).at).lat <> 51.5 \
                AND (previous[1]).zip IS NULL AND previous[2] IS NULL \
                AND (home).contact = email";
    assert_eq!(sql(pg, &dst, same).trim(), "30");
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT home IS NULL, previous FROM public.members WHERE id = 31"
        )
        .trim(),
        "t|{}"
    );
    // A field name the type does not have is a rules problem with its place in the file.
    let (_dir, bad) = write_rules(
        "bad.toml",
        r#"
[tables."public.members".columns]
id = "keep"
email = "email"
home = { rule = "composite", fields = { road = "street" } }
previous = "null"
"#,
    );
    let dst = fresh_db(pg, "composite_bad_dst");
    let run = clone_with(&src, &dst, &bad, &[]);
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    assert!(
        run.stderr.contains("bad.toml:5:") && run.stderr.contains("no field \"road\""),
        "{}",
        run.stderr
    );
}

#[test]
fn preview_of_a_table_copied_in_text_form_says_so() {
    let pg = cluster();
    let src = fresh_db(pg, "preview_text");
    // aclitem has no binary form at all: the clone copies this table as text.
    sql(
        pg,
        &src,
        "CREATE TABLE public.grants (id int PRIMARY KEY, acl aclitem[], who text); \
         INSERT INTO public.grants VALUES (1, '{postgres=r/postgres}', 'Jane Roe')",
    );
    let preview = |rules_text: &str| {
        let (_dir, rules) = write_rules("grants.toml", rules_text);
        run_cmd(
            restage()
                .env("RESTAGE_KEY", KEY)
                .args(["preview", "--source", &pg.url(&src), "--table", "grants"])
                .arg("--rules")
                .arg(&rules),
        )
    };
    let ruled = preview(
        r#"
[tables."public.grants".columns]
id = "keep"
acl = "keep"
who = { rule = "person_name" }
"#,
    );
    assert_eq!(ruled.code, EXIT_REFUSED, "{}", ruled.stderr);
    assert!(
        ruled
            .stderr
            .contains("public.grants.who: a rule cannot apply here")
            && ruled.stderr.contains("copied in text form")
            && ruled.stderr.contains("acl (aclitem[])"),
        "{}",
        ruled.stderr
    );
    let kept = preview(
        r#"
[tables."public.grants".columns]
id = "keep"
acl = "keep"
who = "keep"
"#,
    );
    kept.assert_ok();
    assert!(
        kept.stdout.contains("public.grants is copied in text form")
            && kept.stdout.contains("acl (aclitem[])"),
        "{}",
        kept.stdout
    );
}
