//! One domain, one mapping: a production value maps to the same staging value in every column
//! of a rule + domain, UNIQUE or not, so joins on sanitized values match the rows they matched
//! in production, and the unique column stays unique.

mod common;

use common::*;

const KEY: &str = "restage-test-key-0123456789";

/// Customers with a UNIQUE email and events that name them by email (no foreign key), plus a
/// newsletter list that uses the rule without naming a domain.
const SHOP: &str = "
CREATE TABLE public.customers (
    id int PRIMARY KEY,
    email text NOT NULL UNIQUE,
    phone text UNIQUE
);
CREATE TABLE public.events (
    id int PRIMARY KEY,
    user_email text,
    caller text
);
CREATE TABLE public.newsletter (
    id int PRIMARY KEY,
    address text
);
INSERT INTO public.customers
SELECT g, 'customer' || g || '@shop.example', '+1 555-' || lpad(g::text, 7, '0')
FROM generate_series(1, 300) g;
INSERT INTO public.events
SELECT g, 'customer' || (1 + g % 400) || '@shop.example', '+1 555-' || lpad((1 + g % 400)::text, 7, '0')
FROM generate_series(1, 1200) g;
INSERT INTO public.newsletter SELECT g, 'customer' || g || '@shop.example' FROM generate_series(1, 50) g;
";

const RULES: &str = r#"
[tables."public.customers".columns]
id = "keep"
email = { rule = "email", domain = "person_email" }
phone = { rule = "phone" }

[tables."public.events".columns]
id = "keep"
user_email = { rule = "email", domain = "person_email" }
caller = { rule = "phone" }

[tables."public.newsletter".columns]
id = "keep"
address = { rule = "email", domain = "person_email" }
"#;

const JOIN_EMAIL: &str = "SELECT count(*), count(DISTINCT e.id) FROM public.events e \
                          JOIN public.customers c ON c.email = e.user_email";
const JOIN_PHONE: &str = "SELECT count(*) FROM public.events e \
                          JOIN public.customers c ON c.phone = e.caller";

#[test]
fn a_domain_maps_alike_in_unique_and_non_unique_columns() {
    let pg = cluster();
    let src = fresh_db(pg, "domain_src");
    sql(pg, &src, SHOP);
    let dst = fresh_db(pg, "domain_dst");
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("shop.toml");
    std::fs::write(&rules, RULES).expect("writing rules");
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["clone", "--quiet", "--source", &pg.url(&src)])
            .args(["--target", &pg.url(&dst), "--rules"])
            .arg(&rules),
    );
    run.assert_ok();

    // The joins match exactly the rows they matched in production.
    let before = sql(pg, &src, JOIN_EMAIL);
    assert_eq!(before.trim(), "900|900");
    assert_eq!(sql(pg, &dst, JOIN_EMAIL), before);
    // Row by row: each event still points at the same customer.
    let pairs = "SELECT string_agg(e.id || ':' || c.id, ',' ORDER BY e.id) FROM public.events e \
                 JOIN public.customers c ON c.email = e.user_email";
    assert_eq!(sql(pg, &dst, pairs), sql(pg, &src, pairs));
    // The same through the default domain of a rule (its name).
    let phones = sql(pg, &src, JOIN_PHONE);
    assert_eq!(phones.trim(), "900");
    assert_eq!(sql(pg, &dst, JOIN_PHONE), phones);
    let newsletter = "SELECT count(*) FROM public.newsletter n \
                      JOIN public.customers c ON c.email = n.address";
    assert_eq!(sql(pg, &dst, newsletter).trim(), "50");

    // Sanitized, and the unique column is still unique.
    let leaked = "SELECT count(*) FROM public.events WHERE user_email LIKE '%@shop.example'";
    assert_eq!(sql(pg, &dst, leaked).trim(), "0");
    let distinct = "SELECT count(DISTINCT email), count(DISTINCT phone) FROM public.customers";
    assert_eq!(sql(pg, &dst, distinct).trim(), "300|300");

    // A run over the events table alone (preview) maps as the full clone did.
    let run = run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["preview", "--source", &pg.url(&src), "--table", "events"])
            .args(["--rows", "5", "--rules"])
            .arg(&rules),
    );
    run.assert_ok();
    let cloned = sql(
        pg,
        &dst,
        "SELECT string_agg(user_email, ' ') FROM public.events",
    );
    let shown: Vec<&str> = cloned
        .split_whitespace()
        .filter(|e| run.stdout.contains(e))
        .collect();
    assert!(!shown.is_empty(), "{}", run.stdout);
}

/// A column that cannot hold the unique form of its domain is refused up front, naming the
/// unique column that makes it take that form.
#[test]
fn a_column_too_narrow_for_its_domains_unique_form_is_refused() {
    let pg = cluster();
    let src = fresh_db(pg, "domain_narrow");
    sql(
        pg,
        &src,
        "CREATE TABLE public.customers (id int PRIMARY KEY, email text UNIQUE);
         CREATE TABLE public.events (id int PRIMARY KEY, user_email varchar(25));",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("shop.toml");
    let text = r#"
[tables."public.customers".columns]
id = "keep"
email = { rule = "email", domain = "person_email" }

[tables."public.events".columns]
id = "keep"
user_email = { rule = "email", domain = "person_email" }
"#;
    std::fs::write(&rules, text).expect("writing rules");
    let run = run_cmd(
        restage()
            .args(["rules", "check", "--source", &pg.url(&src), "--rules"])
            .arg(&rules),
    );
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("public.events.user_email")
            && run.stderr.contains("public.customers.email"),
        "{}",
        run.stderr
    );
}

/// Users with a UNIQUE email, and an audit table that holds the same addresses inside
/// documents: a free-text jsonb, a json path and a composite field.
const NESTED: &str = "
CREATE TYPE public.contact AS (label text, email text);
CREATE TABLE public.users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE public.audit (
    id int PRIMARY KEY,
    user_id int NOT NULL,
    entry jsonb,
    doc jsonb,
    contact public.contact
);
INSERT INTO public.users SELECT g, 'user' || g || '@corp.example.com' FROM generate_series(1, 40) g;
INSERT INTO public.audit
SELECT g, g,
       jsonb_build_object('msg', 'login by user' || g || '@corp.example.com from web'),
       jsonb_build_object('who', jsonb_build_object('email', 'user' || g || '@corp.example.com')),
       ROW('primary', 'user' || g || '@corp.example.com')::public.contact
FROM generate_series(1, 40) g;
";

const NESTED_RULES: &str = r#"
[tables."public.users".columns]
id = "keep"
email = { rule = "email", domain = "person_email" }

[tables."public.audit".columns]
id = "keep"
user_id = "keep"
entry = { rule = "scrub", kinds = ["email"], domains = { email = "person_email" } }
doc = { rule = "json", paths = { "$.who.email" = { rule = "email", domain = "person_email" } } }
contact = { rule = "composite", fields = { label = "keep", email = { rule = "email", domain = "person_email" } } }
"#;

#[test]
fn values_inside_documents_map_as_the_unique_column_of_their_domain() {
    let pg = cluster();
    let src = fresh_db(pg, "nested_src");
    sql(pg, &src, NESTED);
    let dst = fresh_db(pg, "nested_dst");
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("nested.toml");
    std::fs::write(&rules, NESTED_RULES).expect("writing rules");
    run_cmd(
        restage()
            .env("RESTAGE_KEY", KEY)
            .args(["clone", "--quiet", "--source", &pg.url(&src)])
            .args(["--target", &pg.url(&dst), "--rules"])
            .arg(&rules),
    )
    .assert_ok();
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM public.users WHERE email LIKE '%corp.example%'"
        ),
        "0"
    );
    let same = |expr: &str| {
        sql(
            pg,
            &dst,
            &format!(
                "SELECT count(*) FROM public.audit a JOIN public.users u ON u.id = a.user_id \
                 WHERE {expr}"
            ),
        )
    };
    assert_eq!(
        same("a.entry->>'msg' = 'login by ' || u.email || ' from web'"),
        "40"
    );
    assert_eq!(same("a.doc->'who'->>'email' = u.email"), "40");
    assert_eq!(
        same("(a.contact).email = u.email AND (a.contact).label = 'primary'"),
        "40"
    );
}
