//! Zero production personal data in staging by default, end to end: `rules init` on a source
//! that hides personal data in every place a production database does (fixtures/pii and
//! fixtures/privacy), its output used unedited, then decided by a person with the structured
//! rules; clone, snapshot → restore and verify are judged by an independent search for every
//! production personal value in the target's `pg_dump` output.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const KEY: &str = "restage-test-key-0123456789";
const EXIT_REFUSED: i32 = 4;
const EXIT_VERIFY_FAILED: i32 = 6;

/// What a person decides for the structured columns of this source (replacing what `rules
/// init` suggested, or decided where it left them undecided): rules that rewrite every personal
/// part and keep the rest, where init's token `scrub` would leave names and street lines.
const DECISIONS: &[(&str, &str, &str)] = &[
    (
        "public.accounts",
        "location",
        r#"{ rule = "composite", fields = { line = "street", town = "city", contact = { rule = "email", domain = "email" } } }"#,
    ),
    (
        "public.accounts",
        "previous",
        r#"{ rule = "composite", fields = { line = "street", town = "city", contact = { rule = "scrub", domains = { email = "email", phone = "phone" } } } }"#,
    ),
    (
        "public.accounts",
        "shipments",
        r#"{ rule = "composite", fields = { sender = { rule = "composite", fields = { line = "street", town = "city", contact = { rule = "email", domain = "email" } } } } }"#,
    ),
    (
        "public.accounts",
        "tags",
        r#"{ rule = "scrub", domains = { email = "email" } }"#,
    ),
    // A search index is rebuilt from the sanitized text by the application, not copied.
    ("public.accounts", "search", r#"{ rule = "null" }"#),
    (
        "public.accounts",
        "profile",
        r#"{ rule = "scrub", domains = { email = "email", phone = "phone" } }"#,
    ),
    (
        "public.accounts",
        "legacy",
        r#"{ rule = "scrub", domains = { email = "email" } }"#,
    ),
    (
        "public.accounts",
        "card",
        r#"{ rule = "scrub", domains = { email = "email" } }"#,
    ),
    (
        "public.accounts",
        "payload",
        r#"{ rule = "scrub", domains = { email = "email" } }"#,
    ),
    (
        "public.audit",
        "snapshot",
        concat!(
            r#"{ rule = "json", paths = { "$.login_email" = { rule = "email", domain = "email" }, "#,
            r#""$.login_lower" = { rule = "email", domain = "email" }, "#,
            r#""$.location.line" = "street", "$.location.town" = "city", "#,
            r#""$.previous[*].line" = "street", "$.previous[*].town" = "city", "#,
            r#""$.shipments[*].sender.line" = "street", "$.shipments[*].sender.town" = "city", "#,
            r#""$.location.contact" = { rule = "scrub", domains = { email = "email", phone = "phone" } }, "#,
            r#""$.previous[*].contact" = { rule = "scrub", domains = { email = "email", phone = "phone" } }, "#,
            r#""$.shipments[*].sender.contact" = { rule = "scrub", domains = { email = "email", phone = "phone" } }, "#,
            r#""$.tags" = { rule = "scrub", domains = { email = "email" } }, "#,
            r#""$.search" = { rule = "scrub", domains = { email = "email" } }, "#,
            r#""$.profile" = { rule = "scrub", domains = { email = "email", phone = "phone" } }, "#,
            r#""$.legacy" = { rule = "scrub", domains = { email = "email" } }, "#,
            r#""$.card" = { rule = "scrub", domains = { email = "email" } }, "#,
            r#""$.details" = { rule = "scrub", domains = { email = "email", phone = "phone" } }, "#,
            r#""$.payload" = "null" } }"#,
        ),
    ),
    (
        "public.customers",
        "home",
        r#"{ rule = "composite", fields = { line = "street", town = "city", contact = { rule = "email", domain = "email" } } }"#,
    ),
    (
        "public.customers",
        "aliases",
        r#"{ rule = "scrub", domains = { email = "email" } }"#,
    ),
    (
        "public.customers",
        "prefs",
        r#"{ rule = "scrub", domains = { email = "email", phone = "phone" } }"#,
    ),
    // The domain checks the `123-45-6789` format: replaced by a keyed number of that format.
    (
        "public.customers",
        "ssn",
        r#"{ rule = "scrub", kinds = ["national_id"] }"#,
    ),
    (
        "public.audit_log",
        "doc",
        concat!(
            r#"{ rule = "json", paths = { "$.email" = { rule = "email", domain = "email" }, "#,
            r#""$.full_name" = "person_name", "$.phone" = { rule = "phone", domain = "phone" }, "#,
            r#""$.ssn" = { rule = "scrub", kinds = ["national_id"] }, "#,
            r#""$.notes" = { rule = "scrub", domains = { email = "email", phone = "phone" } }, "#,
            r#""$.home.line" = "street", "$.home.town" = "city", "#,
            r#""$.home.contact" = { rule = "email", domain = "email" }, "#,
            r#""$.aliases" = { rule = "scrub", domains = { email = "email" } }, "#,
            r#""$.prefs" = { rule = "scrub", domains = { email = "email", phone = "phone" } } } }"#,
        ),
    ),
];

/// Columns the leaky rules file keeps although they hold personal data. (The accounts table of
/// fixtures/pii holds addresses at the reserved example domains, which fake values use too, so
/// only its production values of sanitized columns could give it away.)
const LEAKY: &[(&str, &str)] = &[
    ("public.customers", "home"),
    ("public.customers", "aliases"),
    ("public.customers", "prefs"),
    ("public.audit_log", "doc"),
];

/// Every production personal value of the source, found by the source server itself (regular
/// expressions over each row's text form, plus the name and street columns), never by restage.
const NEEDLES: &str = r"
WITH rows(x) AS (
    SELECT t::text FROM accounts t
    UNION ALL SELECT convert_from(payload, 'UTF8') FROM accounts
    UNION ALL SELECT t::text FROM audit t
    UNION ALL SELECT t::text FROM audit_log t
    UNION ALL SELECT t::text FROM customers t
    UNION ALL SELECT t::text FROM newsletter t
    UNION ALL SELECT d.description FROM pg_description d)
SELECT DISTINCT v FROM (
    SELECT m[1] FROM rows, regexp_matches(x, '([A-Za-z0-9._+-]+@[A-Za-z0-9.-]+\.[a-z]{2,})', 'g') m
    UNION ALL SELECT m[1] FROM rows, regexp_matches(x, '(\+44 7700 \d{6})', 'g') m
    UNION ALL SELECT m[1] FROM rows, regexp_matches(x, '(\d{16})', 'g') m
    UNION ALL SELECT ssn FROM customers
    UNION ALL SELECT full_name FROM customers
    UNION ALL SELECT (home).line FROM customers
    UNION ALL SELECT (location).line FROM accounts
    UNION ALL SELECT p.line FROM accounts, unnest(previous) p
    UNION ALL SELECT (s.sender).line FROM accounts, unnest(shipments) s
) n(v) WHERE v IS NOT NULL ORDER BY 1";

/// Row counts of joins over shared domains; equal in production and staging when one value
/// maps to one value wherever it appears.
const JOINS: &str = "
SELECT (SELECT count(*) FROM audit_log a JOIN customers c ON c.email = a.customer_email),
       (SELECT count(*) FROM audit_log a JOIN customers c
          ON c.id = (a.doc->>'id')::int AND c.email = a.doc->>'email'),
       (SELECT count(*) FROM audit_log a JOIN customers c
          ON c.id = (a.doc->>'id')::int AND c.phone = a.doc->>'phone'),
       (SELECT count(*) FROM newsletter n JOIN customers c USING (email)),
       (SELECT count(*) FROM audit a JOIN accounts c ON c.login_email = a.account_email),
       (SELECT count(*) FROM audit a JOIN accounts c ON c.login_email = a.snapshot->>'login_email'),
       (SELECT count(*) FROM customer_contacts v JOIN customers c USING (id, email, phone)),
       (SELECT count(*) FROM customers WHERE (home).contact = email AND aliases[1] = email)";

fn source(prefix: &str) -> String {
    let pg = cluster();
    let db = loaded_db(pg, prefix, "pii/schema.sql");
    pg.psql_file(&db, &fixture("privacy/schema.sql"))
        .unwrap_or_else(|e| panic!("loading privacy/schema.sql: {e}"));
    db
}

fn pg_dump(db: &str, args: &[&str]) -> String {
    let pg = cluster();
    let out = Command::new(pg.bindir().join("pg_dump"))
        .args(args)
        .arg("-h")
        .arg(pg.socket_dir())
        .arg("-p")
        .arg(pg.port().to_string())
        .args(["-U", "postgres", "-d", db])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "pg_dump {db}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Production values found in `text`, each as a whole token (not a part of a longer number or
/// word, so that "7 Mill Lane" is not found inside a fake "4417 Mill Lane").
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

/// Asserts that neither the data nor the schema (comments included) of `db` holds any of
/// `needles`.
#[track_caller]
fn assert_clean(db: &str, needles: &[String], what: &str) {
    let data = pg_dump(db, &["--data-only"]);
    assert!(data.contains("COPY public.audit_log"), "{what}: no data");
    let leaked = found(needles, &data);
    assert!(
        leaked.is_empty(),
        "{what}: {} production values in the data, e.g. {:?}",
        leaked.len(),
        &leaked[..leaked.len().min(12)]
    );
    let schema = pg_dump(db, &["--schema-only"]);
    let leaked = found(needles, &schema);
    assert!(
        leaked.is_empty(),
        "{what}: production values in the schema: {leaked:?}"
    );
}

fn with_key(cmd: &mut Command) -> &mut Command {
    cmd.env("RESTAGE_KEY", KEY)
}

fn sanitizing_clone(src: &str, dst: &str, rules: &Path) -> Run {
    let pg = cluster();
    run_cmd(
        with_key(&mut restage())
            .args(["clone", "--quiet", "--source", &pg.url(src)])
            .args(["--target", &pg.url(dst)])
            .arg("--rules")
            .arg(rules),
    )
}

fn verify(src: &str, dst: &str, rules: &Path) -> Run {
    let pg = cluster();
    run_cmd(
        with_key(&mut restage())
            .args(["verify", "--source", &pg.url(src), "--target", &pg.url(dst)])
            .arg("--rules")
            .arg(rules),
    )
}

fn relation_count(db: &str) -> String {
    sql(
        cluster(),
        db,
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    )
    .trim()
    .to_string()
}

/// The `[tables."T".columns]` section each line of a rules file is in, with the line.
fn sections(text: &str) -> Vec<(String, &str)> {
    let mut table = String::new();
    text.lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix("[tables.\"") {
                table = rest.split('"').next().unwrap_or_default().to_string();
            }
            (table.clone(), l)
        })
        .collect()
}

fn column_of(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

/// `table.column` of every entry marked undecided.
fn undecided(text: &str) -> Vec<String> {
    sections(text)
        .into_iter()
        .filter(|(_, l)| l.contains("= { undecided = "))
        .map(|(t, l)| format!("{t}.{}", column_of(l)))
        .collect()
}

/// `text` with the entries of `decide` (table, column, entry) replacing theirs.
fn decided(text: &str, decide: &[(&str, &str, &str)]) -> String {
    let mut out = String::new();
    for (table, line) in sections(text) {
        let col = column_of(line);
        match decide.iter().find(|(t, c, _)| *t == table && *c == col) {
            Some((_, _, entry)) if line.contains(" = ") => {
                out.push_str(&format!("{col} = {entry}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn rules_init_stops_the_clone_and_decided_rules_leave_no_production_value_in_staging() {
    let pg = cluster();
    let src = source("privacy_src");
    let dir = tempfile::tempdir().expect("temp dir");
    let init_path = dir.path().join("init.toml");
    run_cmd(
        restage()
            .args(["rules", "init", "--source", &pg.url(&src), "--out"])
            .arg(&init_path),
    )
    .assert_ok();
    let init = std::fs::read_to_string(&init_path).expect("rules init output");
    let needles: Vec<String> = sql(pg, &src, NEEDLES)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert!(needles.len() > 1000, "{} production values", needles.len());
    assert!(
        found(&needles, &init).is_empty(),
        "rules init wrote a value"
    );

    // Structured values get working rules from init: composite addresses, free text (replaced
    // whole), json audit documents, arrays; a national id in a domain with a format CHECK keeps
    // its format.
    let doc: toml::Table = init.parse().expect("rules init output is TOML");
    let rule_of = |table: &str, column: &str| {
        doc["tables"][table]["columns"][column]
            .get("rule")
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    };
    for (table, column, rule) in [
        ("public.customers", "home", "composite"),
        ("public.accounts", "location", "composite"),
        ("public.accounts", "shipments", "composite"),
        ("public.customers", "notes", "lorem"),
        ("public.customers", "aliases", "scrub"),
        ("public.audit_log", "doc", "scrub"),
        ("public.customers", "ssn", "format_preserve"),
    ] {
        assert_eq!(
            rule_of(table, column).as_deref(),
            Some(rule),
            "{table}.{column}:\n{init}"
        );
    }

    // Unedited: either refused before anything is written, naming every undecided column, or
    // (nothing undecided) a clone that leaks no production value.
    let open = undecided(&init);
    for column in &open {
        assert!(
            DECISIONS
                .iter()
                .any(|(t, c, _)| format!("{t}.{c}") == *column),
            "{column} is left undecided and no decision covers it:\n{init}"
        );
    }
    let dst = fresh_db(pg, "privacy_unedited");
    let run = sanitizing_clone(&src, &dst, &init_path);
    if open.is_empty() {
        run.assert_ok();
        assert_clean(&dst, &needles, "unedited clone");
    } else {
        assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
        for column in &open {
            assert!(
                run.stderr.contains(&format!("{column} (")),
                "{column} not named:\n{}",
                run.stderr
            );
        }
        assert_eq!(relation_count(&dst), "0", "the refused clone wrote");
    }

    // Decided by a person with the structured rules, acknowledging nothing.
    let rules = dir.path().join("decided.toml");
    std::fs::write(&rules, decided(&init, DECISIONS)).expect("decided rules");
    let dst = fresh_db(pg, "privacy_clone");
    sanitizing_clone(&src, &dst, &rules).assert_ok();
    assert_clean(&dst, &needles, "clone");
    let joins = sql(pg, &src, JOINS);
    assert_eq!(sql(pg, &dst, JOINS), joins, "joins on shared domains");

    // The same source and rules through a snapshot on disk.
    let snap = dir.path().join("snap");
    run_cmd(
        with_key(&mut restage())
            .args(["snapshot", "--quiet", "--source", &pg.url(&src), "--rules"])
            .arg(&rules)
            .arg("--out")
            .arg(&snap),
    )
    .assert_ok();
    let restored = fresh_db(pg, "privacy_restored");
    run_cmd(
        restage()
            .arg("restore")
            .arg(&snap)
            .args(["--quiet", "--target", &pg.url(&restored)]),
    )
    .assert_ok();
    assert_clean(&restored, &needles, "snapshot → restore");
    assert_eq!(sql(pg, &restored, JOINS), joins, "joins after restore");

    let run = verify(&src, &dst, &rules);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // A rules file that keeps structured copies of personal data: verify names each column.
    let keep: Vec<(&str, &str, &str)> = LEAKY.iter().map(|(t, c)| (*t, *c, "\"keep\"")).collect();
    let leaky_rules = dir.path().join("leaky.toml");
    let leaky_text = decided(&decided(&init, DECISIONS), &keep);
    std::fs::write(&leaky_rules, leaky_text).expect("leaky rules");
    let leaky = fresh_db(pg, "privacy_leaky");
    sanitizing_clone(&src, &leaky, &leaky_rules).assert_ok();
    let run = verify(&src, &leaky, &leaky_rules);
    assert_eq!(
        run.code, EXIT_VERIFY_FAILED,
        "{}\n{}",
        run.stdout, run.stderr
    );
    for (table, column) in LEAKY {
        let name = format!("{table}.{column}");
        assert!(
            run.stdout.lines().any(|l| l.trim_start().starts_with(&name)
                && !l.contains(" 0 ")
                && !l.ends_with(" 0")),
            "{name} not reported:\n{}",
            run.stdout
        );
    }
    assert!(
        found(&needles, &run.stdout).is_empty(),
        "verify printed a value"
    );
    assert!(
        found(&needles, &run.stderr).is_empty(),
        "verify printed a value"
    );
}

#[test]
fn personal_data_in_defaults_and_views_stops_the_clone_and_the_snapshot() {
    let pg = cluster();
    let src = source("privacy_text_src");
    let email = sql(pg, &src, "SELECT email FROM customers WHERE id = 7")
        .trim()
        .to_string();
    sql(
        pg,
        &src,
        &format!(
            "ALTER TABLE public.customers ALTER notes SET DEFAULT 'call +44 7700 900555';
             CREATE VIEW public.vip AS SELECT id FROM public.customers WHERE email = '{email}';"
        ),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let init_path = dir.path().join("init.toml");
    run_cmd(
        restage()
            .args(["rules", "init", "--source", &pg.url(&src), "--out"])
            .arg(&init_path),
    )
    .assert_ok();
    let init = std::fs::read_to_string(&init_path).expect("rules init output");
    let rules = dir.path().join("decided.toml");
    std::fs::write(&rules, decided(&init, DECISIONS)).expect("decided rules");

    let dst = fresh_db(pg, "privacy_text_dst");
    let run = sanitizing_clone(&src, &dst, &rules);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    for object in ["default public.customers.notes", "view public.vip"] {
        assert!(run.stderr.contains(object), "{object}:\n{}", run.stderr);
    }
    assert!(!run.stderr.contains(&email), "value printed");
    assert_eq!(relation_count(&dst), "0", "the refused clone wrote");

    let snap = dir.path().join("snap");
    let run = run_cmd(
        with_key(&mut restage())
            .args(["snapshot", "--quiet", "--source", &pg.url(&src), "--rules"])
            .arg(&rules)
            .arg("--out")
            .arg(&snap),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(run.stderr.contains("view public.vip"), "{}", run.stderr);
}
