//! `restage rules init|list|explain` against real PostgreSQL and the real binary.

mod common;

use std::collections::BTreeMap;

use common::*;
use restage::sanitize::registry;

/// One column line of a generated rules file.
#[derive(Debug, Clone)]
struct Line {
    entry: toml::Value,
    comment: String,
}

impl Line {
    /// Flagged as personal data: a rule other than keep, or left undecided.
    fn flagged(&self) -> bool {
        self.entry.as_str() != Some("keep")
    }

    /// Whether the comment or the undecided reason says `what`.
    fn says(&self, what: &str) -> bool {
        self.comment.contains(what) || self.undecided().is_some_and(|r| r.contains(what))
    }

    fn is_plain_keep(&self) -> bool {
        self.entry.as_str() == Some("keep") && !self.comment.contains("REVIEW")
    }

    /// `{ undecided = "reason" }`: left for a person, refused by `rules check` and `clone`.
    fn undecided(&self) -> Option<&str> {
        self.entry.get("undecided").and_then(toml::Value::as_str)
    }
}

/// The file parsed twice: as TOML (it must be valid) and line by line for the comments.
fn parse_rules(text: &str) -> BTreeMap<(String, String), Line> {
    let doc: toml::Table = match text.parse() {
        Ok(d) => d,
        Err(e) => panic!("rules init output is not TOML: {e}\n{text}"),
    };
    let tables = doc
        .get("tables")
        .and_then(toml::Value::as_table)
        .expect("a [tables] section");
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("[tables.") {
            let quoted = rest
                .strip_suffix(".columns]")
                .expect("section header shape");
            let key: toml::Table = format!("k = {quoted}").parse().expect("quoted table key");
            current = key["k"].as_str().map(str::to_string);
            continue;
        }
        let Some(table) = &current else { continue };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (assignment, comment) = line.split_once("  # ").expect("every column has a comment");
        let kv: toml::Table = assignment.parse().expect("one key = value per line");
        let (column, entry) = kv.into_iter().next().expect("a key");
        assert_eq!(
            tables[table.as_str()]["columns"].get(&column),
            Some(&entry),
            "line and parsed document disagree on {table}.{column}"
        );
        out.insert(
            (table.clone(), column),
            Line {
                entry,
                comment: comment.to_string(),
            },
        );
    }
    let parsed: usize = tables
        .values()
        .filter_map(|t| t.get("columns").and_then(toml::Value::as_table))
        .map(toml::Table::len)
        .sum();
    assert_eq!(parsed, out.len(), "every entry sits on its own line");
    out
}

/// A rule that replaces the whole value (free text: `lorem` or one of its kin, or NULL).
fn whole_replacement(entry: &toml::Value) -> bool {
    matches!(
        entry.get("rule").and_then(toml::Value::as_str),
        Some("lorem" | "text" | "paragraph" | "null")
    )
}

fn line<'a>(rules: &'a BTreeMap<(String, String), Line>, table: &str, column: &str) -> &'a Line {
    rules
        .get(&(table.to_string(), column.to_string()))
        .unwrap_or_else(|| panic!("{table}.{column} missing from the rules file"))
}

/// `schema.table` → column count of every base table, from information_schema.
fn column_counts(db: &str) -> BTreeMap<String, usize> {
    let out = sql(
        cluster(),
        db,
        "SELECT c.table_schema || '.' || c.table_name, count(*) \
         FROM information_schema.columns c JOIN information_schema.tables t \
           USING (table_catalog, table_schema, table_name) \
         WHERE t.table_type = 'BASE TABLE' \
           AND c.table_schema NOT IN ('pg_catalog', 'information_schema') \
         GROUP BY 1 ORDER BY 1",
    );
    out.lines()
        .filter_map(|l| l.rsplit_once('|'))
        .map(|(t, n)| (t.to_string(), n.trim().parse().expect("a count")))
        .collect()
}

fn listed_counts(rules: &BTreeMap<(String, String), Line>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (table, _) in rules.keys() {
        *counts.entry(table.clone()).or_insert(0) += 1;
    }
    counts
}

/// `(table, column)` of the columns the file leaves to a foreign key: a comment line
/// `# column: follows schema.table.column …` instead of an entry.
fn followers(text: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("[tables.") {
            let quoted = rest
                .strip_suffix(".columns]")
                .expect("section header shape");
            let key: toml::Table = format!("k = {quoted}").parse().expect("quoted table key");
            current = key["k"].as_str().map(str::to_string);
            continue;
        }
        let (Some(table), Some(rest)) = (&current, line.strip_prefix("# ")) else {
            continue;
        };
        if let Some((column, follows)) = rest.split_once(": follows ") {
            out.insert((table.clone(), column.to_string()), follows.to_string());
        }
    }
    out
}

/// `rules check` on an unedited `rules init` file agrees with it: no problem with any entry,
/// and exactly the columns the file leaves undecided are refused (exit 4), or none (exit 0).
#[track_caller]
fn assert_check_agrees(db: &str, path: &std::path::Path) -> Run {
    let text = std::fs::read_to_string(path).expect("rules file");
    let rules = parse_rules(&text);
    let check = run_cmd(
        restage()
            .args(["rules", "check", "--json", "--source"])
            .arg(cluster().url(db))
            .arg("--rules")
            .arg(path),
    );
    let report: serde_json::Value = serde_json::from_str(&check.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", check.stdout, check.stderr));
    assert_eq!(
        report["problems"],
        serde_json::json!([]),
        "rules check rejects entries rules init wrote:\n{}\n{text}",
        check.stderr
    );
    let mut refused: Vec<String> = report["undecided"]
        .as_array()
        .expect("undecided list")
        .iter()
        .filter_map(|u| u.as_str())
        .filter_map(|u| u.split_once(" (").map(|(c, _)| c.to_string()))
        .collect();
    refused.sort();
    let mut left: Vec<String> = rules
        .iter()
        .filter(|(_, l)| l.undecided().is_some())
        .map(|((t, c), _)| format!("{t}.{c}"))
        .collect();
    left.sort();
    assert_eq!(refused, left, "{}", check.stderr);
    assert_eq!(
        check.code,
        if left.is_empty() { 0 } else { 4 },
        "{}",
        check.stderr
    );
    check
}

fn init(db: &str, extra: &[&str]) -> Run {
    run_cmd(
        restage()
            .args(["rules", "init", "--source"])
            .arg(cluster().url(db))
            .args(extra),
    )
}

/// `text` with every undecided entry replaced by `entry`, as a person decides them.
fn decided(text: &str, entry: &str) -> String {
    text.lines()
        .map(|l| match l.split_once(" = { undecided = ") {
            Some((key, _)) => format!("{key} = {entry}\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

/// An inline TOML table as a value, to compare entries whatever their key order.
fn inline(text: &str) -> toml::Value {
    let doc: toml::Table = format!("x = {text}").parse().expect("inline table");
    doc["x"].clone()
}

/// Distinct non-null values of a column, to prove none of them is printed.
fn values(db: &str, query: &str) -> Vec<String> {
    let out = sql(cluster(), db, query);
    let v: Vec<String> = out
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(!v.is_empty(), "no values from {query}");
    v
}

#[track_caller]
fn assert_not_printed(run: &Run, secrets: &[String]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s.as_str()),
            "stdout shows a sampled value: {s}"
        );
        assert!(
            !run.stderr.contains(s.as_str()),
            "stderr shows a sampled value: {s}"
        );
    }
}

#[test]
fn chinook_skeleton_lists_every_column_flags_personal_data_and_keeps_keys() {
    let db = loaded_db(cluster(), "ri_chinook", "chinook/Chinook_PostgreSql.sql");
    let run = init(&db, &[]);
    run.assert_ok();
    assert!(
        run.stdout.starts_with(&format!(
            "# restage rules for {db}, generated by `restage rules init` on "
        )),
        "{}",
        run.stdout
    );
    let rules = parse_rules(&run.stdout);
    assert_eq!(listed_counts(&rules), column_counts(&db));

    let customer = "public.Customer";
    for column in [
        "FirstName",
        "LastName",
        "Company",
        "Address",
        "City",
        "PostalCode",
        "Phone",
        "Fax",
        "Email",
    ] {
        let l = line(&rules, customer, column);
        assert!(l.flagged(), "Customer.{column} not flagged: {l:?}");
    }
    let email = line(&rules, customer, "Email");
    assert!(email.comment.contains("an email address"), "{email:?}");
    assert!(
        email
            .comment
            .contains("sampled values look like email addresses"),
        "sampled content backs the name: {email:?}"
    );
    let phone = line(&rules, customer, "Phone");
    assert!(phone.comment.contains("a phone number"), "{phone:?}");
    for column in ["FirstName", "LastName", "BirthDate", "Address", "Email"] {
        assert!(
            line(&rules, "public.Employee", column).flagged(),
            "Employee.{column}"
        );
    }
    assert!(line(&rules, "public.Invoice", "BillingAddress").flagged());

    // Keys and non-personal columns are kept, with the reason.
    let pk = line(&rules, customer, "CustomerId");
    assert!(pk.is_plain_keep() && pk.comment == "primary key", "{pk:?}");
    let fk = line(&rules, "public.Invoice", "CustomerId");
    assert!(
        fk.is_plain_keep() && fk.comment == "foreign key → public.Customer",
        "{fk:?}"
    );
    let both = line(&rules, "public.PlaylistTrack", "TrackId");
    assert_eq!(both.comment, "primary key, foreign key → public.Track");
    for (table, column) in [
        ("public.Album", "Title"),
        ("public.Artist", "Name"),
        ("public.Track", "Name"),
        ("public.Track", "Milliseconds"),
        ("public.Invoice", "Total"),
        ("public.Invoice", "InvoiceDate"),
        ("public.Employee", "HireDate"),
    ] {
        let l = line(&rules, table, column);
        assert!(l.is_plain_keep(), "{table}.{column} should be kept: {l:?}");
    }

    let mut secrets = values(
        &db,
        "SELECT \"Email\" FROM \"Customer\" UNION SELECT \"Phone\" FROM \"Customer\" \
         WHERE \"Phone\" IS NOT NULL UNION SELECT \"Address\" FROM \"Customer\" \
         WHERE \"Address\" IS NOT NULL",
    );
    secrets.retain(|s| s.len() > 6);
    assert_not_printed(&run, &secrets);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chinook.toml");
    std::fs::write(&path, &run.stdout).expect("rules file");
    assert_check_agrees(&db, &path);
}

#[test]
fn northwind_contacts_phones_and_addresses_are_flagged() {
    let db = loaded_db(cluster(), "ri_northwind", "northwind/northwind.sql");
    let run = init(&db, &["--sample", "50"]);
    run.assert_ok();
    let rules = parse_rules(&run.stdout);
    assert_eq!(listed_counts(&rules), column_counts(&db));

    for table in ["public.customers", "public.suppliers"] {
        for column in [
            "contact_name",
            "company_name",
            "address",
            "city",
            "postal_code",
            "phone",
            "fax",
        ] {
            let l = line(&rules, table, column);
            assert!(l.flagged(), "{table}.{column} not flagged: {l:?}");
        }
    }
    for column in [
        "first_name",
        "last_name",
        "birth_date",
        "address",
        "home_phone",
        "notes",
        "photo",
    ] {
        let l = line(&rules, "public.employees", column);
        assert!(l.flagged(), "employees.{column} not flagged: {l:?}");
    }
    for column in ["ship_name", "ship_address", "ship_postal_code"] {
        assert!(
            line(&rules, "public.orders", column).flagged(),
            "orders.{column}"
        );
    }
    let ship = line(&rules, "public.orders", "ship_address");
    assert!(ship.comment.contains("a street address"), "{ship:?}");
    let name = line(&rules, "public.customers", "contact_name");
    assert!(name.comment.contains("a person's name"), "{name:?}");
    let pk = line(&rules, "public.customers", "customer_id");
    assert!(pk.is_plain_keep() && pk.comment == "primary key", "{pk:?}");
    let fk = line(&rules, "public.orders", "customer_id");
    assert_eq!(fk.comment, "foreign key → public.customers");
    for (table, column) in [
        ("public.products", "product_name"),
        ("public.products", "unit_price"),
        ("public.categories", "category_name"),
        ("public.categories", "description"),
        ("public.orders", "order_date"),
        ("public.us_states", "state_name"),
        ("public.region", "region_description"),
    ] {
        let l = line(&rules, table, column);
        assert!(l.is_plain_keep(), "{table}.{column} should be kept: {l:?}");
    }
    let secrets = values(
        &db,
        "SELECT phone FROM customers WHERE phone IS NOT NULL UNION \
         SELECT address FROM employees WHERE address IS NOT NULL",
    );
    assert_not_printed(&run, &secrets);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("northwind.toml");
    std::fs::write(&path, &run.stdout).expect("rules file");
    assert_check_agrees(&db, &path);
}

#[test]
fn personal_data_in_innocently_named_columns_is_found_by_content() {
    let db = fresh_db(cluster(), "ri_content");
    sql(
        cluster(),
        &db,
        "CREATE TABLE tickets (id int PRIMARY KEY, notes text, body text, ref text, \
                               origin text, payee text, status text NOT NULL); \
         INSERT INTO tickets \
         SELECT n, 'person' || n || '@mail-example.org', \
                CASE WHEN n % 3 = 0 THEN 'customer wrote from buyer' || n || '@shop-example.net' \
                     ELSE 'called about the invoice' END, \
                (ARRAY['4111 1111 1111 1111', '5500 0000 0000 0004', \
                       '3400 0000 0000 009'])[n % 3 + 1], \
                '10.1.' || (n % 250) || '.' || (n % 200 + 1), \
                'GB82 WEST 1234 5698 7654 32', \
                (ARRAY['open', 'closed'])[n % 2 + 1] \
         FROM generate_series(1, 120) AS n;",
    );
    let run = init(&db, &[]);
    run.assert_ok();
    let rules = parse_rules(&run.stdout);
    let t = "public.tickets";

    let notes = line(&rules, t, "notes");
    assert!(notes.flagged(), "{notes:?}");
    assert!(
        notes
            .comment
            .contains("120/120 sampled values look like email addresses"),
        "{notes:?}"
    );
    assert!(
        !notes.comment.contains("column name"),
        "found by content alone: {notes:?}"
    );
    let body = line(&rules, t, "body");
    assert!(body.flagged(), "{body:?}");
    assert!(
        body.comment
            .contains("40/120 sampled values contain email addresses"),
        "{body:?}"
    );
    let card = line(&rules, t, "ref");
    assert!(card.comment.contains("payment card"), "{card:?}");
    let ip = line(&rules, t, "origin");
    assert!(ip.comment.contains("IP addresses"), "{ip:?}");
    let iban = line(&rules, t, "payee");
    assert!(iban.comment.contains("IBAN"), "{iban:?}");
    let status = line(&rules, t, "status");
    assert!(status.is_plain_keep(), "{status:?}");
    assert!(
        status
            .comment
            .contains("nothing personal in the column name or in 120 sampled values"),
        "{status:?}"
    );

    let secrets = values(
        &db,
        "SELECT notes FROM tickets UNION SELECT ref FROM tickets UNION SELECT origin FROM tickets \
         UNION SELECT payee FROM tickets UNION SELECT 'buyer3@shop-example.net'",
    );
    assert_not_printed(&run, &secrets);

    // Without samples, nothing is known about what text columns hold: whatever their names,
    // they are left undecided, never kept.
    let blind = init(&db, &["--sample", "0"]);
    blind.assert_ok();
    let rules = parse_rules(&blind.stdout);
    let notes = line(&rules, t, "notes");
    // `notes` is free text by name; without samples nothing says it holds emails.
    assert!(!notes.comment.contains("sampled"), "{notes:?}");
    for column in ["ref", "payee", "origin", "body", "status"] {
        let l = line(&rules, t, column);
        assert!(
            l.undecided().is_some_and(|r| r.contains("not sampled")),
            "{column}: {l:?}"
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("blind.toml");
    std::fs::write(&path, &blind.stdout).expect("rules file");
    assert_check_agrees(&db, &path);
}

#[test]
fn personal_data_inside_structured_values_is_never_kept_and_stops_check_and_clone() {
    let db = loaded_db(cluster(), "ri_pii", "pii/schema.sql");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pii.toml");
    let run = init(&db, &["--out", &path.to_string_lossy()]);
    run.assert_ok();
    let text = std::fs::read_to_string(&path).expect("rules file");
    let rules = parse_rules(&text);
    let follow = followers(&text);
    let mut listed = listed_counts(&rules);
    for (t, _) in follow.keys() {
        *listed.entry(t.clone()).or_insert(0) += 1;
    }
    assert_eq!(listed, copied_column_counts(&db), "{text}");

    let accounts = "public.accounts";
    // Column → what its sampled values hold, as counted in the file and on stderr.
    let found = [
        (
            accounts,
            "location",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "previous",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "shipments",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "tags",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "search",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "profile",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "legacy",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "card",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "payload",
            "60/60 sampled values contain email addresses",
        ),
        (
            accounts,
            "details",
            "60/60 sampled values contain phone numbers",
        ),
        (
            "public.audit",
            "snapshot",
            "60/60 sampled values contain email addresses",
        ),
    ];
    for (table, column, counts) in found {
        let l = line(&rules, table, column);
        assert_ne!(l.entry.as_str(), Some("keep"), "{table}.{column}: {l:?}");
        assert!(
            l.comment.contains(counts) || l.undecided().is_some_and(|r| r.contains(counts)),
            "{table}.{column} should report {counts:?}: {l:?}"
        );
        assert!(
            run.stderr.contains(&format!("{table}.{column}: ")) && run.stderr.contains(counts),
            "{table}.{column} missing from the summary:\n{}",
            run.stderr
        );
    }
    let details = line(&rules, accounts, "details");
    assert!(
        details
            .comment
            .contains("3/60 sampled values contain email addresses")
            || details.undecided().is_some_and(|r| r.contains("3/60")),
        "{details:?}"
    );
    let phones = line(&rules, accounts, "previous");
    assert!(
        phones
            .comment
            .contains("60/60 sampled values contain phone numbers")
            || phones
                .undecided()
                .is_some_and(|r| r.contains("60/60 sampled values contain phone")),
        "{phones:?}"
    );
    let email = line(&rules, accounts, "login_email");
    assert_eq!(email.entry["rule"].as_str(), Some("email"), "{email:?}");
    // Structured values get rules that rewrite their personal parts: composite values field by
    // field (arrays of them and nested ones too), text in json, xml, arrays and bytea by token.
    let rule = |column: &str| line(&rules, accounts, column).entry.clone();
    for column in ["location", "previous", "shipments"] {
        assert_eq!(rule(column)["rule"].as_str(), Some("composite"), "{column}");
    }
    assert_eq!(
        rule("location")["fields"]["contact"],
        inline(r#"{ rule = "email", domain = "email" }"#)
    );
    // Emails and phone numbers in one text field: free text, replaced whole (a name beside
    // them would pass a token scrub unchanged).
    assert!(
        whole_replacement(&rule("previous")["fields"]["contact"]),
        "{}",
        rule("previous")
    );
    assert_eq!(
        rule("shipments")["fields"]["sender"]["fields"]["contact"]["rule"].as_str(),
        Some("email")
    );
    for column in ["tags", "profile", "legacy", "card", "payload"] {
        assert_eq!(rule(column)["rule"].as_str(), Some("scrub"), "{column}");
    }
    // Plain free text is replaced whole.
    assert!(whole_replacement(&rule("details")), "{}", rule("details"));
    assert_eq!(
        line(&rules, "public.audit", "snapshot").entry["rule"].as_str(),
        Some("scrub")
    );
    // No rule of this build rewrites the parts of a search index: left to a person.
    assert!(line(&rules, accounts, "search").undecided().is_some());
    assert!(line(&rules, accounts, "plan").is_plain_keep());
    assert!(
        !rules.contains_key(&(accounts.to_string(), "login_lower".to_string())),
        "a generated column is computed by the target, not copied"
    );
    // The audit log's key references the email column: the email rule follows it there, so
    // the file has no entry of its own for it (one would conflict with the key's mapping).
    assert_eq!(
        follow
            .get(&("public.audit".to_string(), "account_email".to_string()))
            .map(String::as_str)
            .and_then(|f| f.split_once(' ').map(|(c, _)| c)),
        Some("public.accounts.login_email"),
        "{text}"
    );

    let secrets = values(
        &db,
        "SELECT login_email FROM accounts UNION SELECT (location).contact FROM accounts \
         UNION SELECT details FROM accounts UNION SELECT (previous[2]).contact FROM accounts",
    );
    assert_not_printed(&run, &secrets);
    assert!(!secrets.iter().any(|s| text.contains(s.as_str())));

    // Unedited, the file stops `rules check` and `clone` naming every undecided column, with
    // its reason and place, before any data moves.
    let check = assert_check_agrees(&db, &path);
    let undecided: Vec<(&(String, String), &Line)> = rules
        .iter()
        .filter(|(_, l)| l.undecided().is_some())
        .collect();
    assert!(!undecided.is_empty(), "{text}");
    for ((table, column), l) in &undecided {
        let at = text
            .lines()
            .position(|x| x.starts_with(&format!("{column} ")) && x.contains("undecided"))
            .map(|i| i + 1)
            .expect("entry line");
        let named = format!("{table}.{column} (");
        let place = format!("pii.toml:{at}:");
        assert!(
            check.stderr.lines().any(|x| x.contains(&named)
                && x.contains(&place)
                && x.contains(l.undecided().unwrap_or_default())),
            "{named} at {place} not refused with its reason:\n{}",
            check.stderr
        );
    }
    let target = fresh_db(cluster(), "ri_pii_dst");
    let cloned = run_cmd(
        restage()
            .args(["clone", "--quiet", "--ephemeral-key", "--source"])
            .arg(cluster().url(&db))
            .arg("--target")
            .arg(cluster().url(&target))
            .arg("--rules")
            .arg(&path),
    );
    assert_eq!(cloned.code, 4, "{}", cloned.stderr);
    for ((table, column), _) in &undecided {
        assert!(
            cloned.stderr.contains(&format!("{table}.{column} (")),
            "{table}.{column} not named:\n{}",
            cloned.stderr
        );
    }
    let created = sql(
        cluster(),
        &target,
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    );
    assert_eq!(created.trim(), "0", "the clone wrote to the target");

    // A mark and an entry for the same column (here from a second file) are one too many.
    let extra = dir.path().join("extra.toml");
    std::fs::write(
        &extra,
        "[tables.\"public.accounts\".columns]\nsearch = \"keep\"\n",
    )
    .expect("second rules file");
    let both = run_cmd(
        restage()
            .args(["rules", "check", "--source"])
            .arg(cluster().url(&db))
            .arg("--rules")
            .arg(&path)
            .arg("--rules")
            .arg(&extra),
    );
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(
        both.stderr
            .contains("public.accounts.search: marked undecided, but also entered at")
            && both.stderr.contains("extra.toml:2:10"),
        "{}",
        both.stderr
    );

    // --allow-undecided keeps its meaning: the undecided columns travel unchanged, and the
    // audit log's key follows the email rule, so its foreign key still holds.
    let allowed = run_cmd(
        restage()
            .args([
                "clone",
                "--quiet",
                "--ephemeral-key",
                "--allow-undecided",
                "--source",
            ])
            .arg(cluster().url(&db))
            .arg("--target")
            .arg(cluster().url(&target))
            .arg("--rules")
            .arg(&path),
    );
    allowed.assert_ok();
    let joined = sql(
        cluster(),
        &target,
        "SELECT count(*) FROM audit JOIN accounts ON accounts.login_email = audit.account_email \
         WHERE audit.account_email NOT LIKE 'member%'",
    );
    assert_eq!(
        joined.trim(),
        "60",
        "sanitized emails join as in production"
    );
}

/// Section → copied columns: generated columns never travel, and partitions are written once
/// under the partitioned table at the root of their tree.
fn copied_column_counts(db: &str) -> BTreeMap<String, usize> {
    let out = sql(
        cluster(),
        db,
        "SELECT COALESCE(rn.nspname || '.' || r.relname, n.nspname || '.' || c.relname), \
                count(DISTINCT a.attname) \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_class r ON c.relispartition AND r.oid = pg_partition_root(c.oid) \
         LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace \
         WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' \
         GROUP BY 1 ORDER BY 1",
    );
    out.lines()
        .filter_map(|l| l.rsplit_once('|'))
        .map(|(t, n)| (t.to_string(), n.trim().parse().expect("a count")))
        .collect()
}

#[test]
fn types_and_demo_schemas_domains_partitions_and_json_are_covered() {
    let db = loaded_db(cluster(), "ri_types", "types/schema.sql");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("types.toml");
    let run = init(&db, &["--out", &path.to_string_lossy()]);
    run.assert_ok();
    let text = std::fs::read_to_string(&path).expect("rules file");
    let rules = parse_rules(&text);
    assert_eq!(listed_counts(&rules), copied_column_counts(&db));
    assert!(
        text.contains(
            "# partitioned table: these entries apply to its partitions sales.measurements_2023"
        ),
        "{text}"
    );
    assert!(!rules
        .keys()
        .any(|(t, _)| t.starts_with("sales.measurements_")));

    // As written, the skeleton stops the clone at the columns it left undecided: binary
    // bytea. Composite addresses (and arrays of them) get a rule per field.
    assert_check_agrees(&db, &path);
    let l = line(&rules, "public.all_types", "c_bytea");
    assert!(l.undecided().is_some(), "c_bytea: {l:?}");
    for column in ["c_address", "c_address_arr"] {
        let l = line(&rules, "public.all_types", column);
        assert_eq!(
            l.entry["rule"].as_str(),
            Some("composite"),
            "{column}: {l:?}"
        );
        assert_eq!(
            l.entry["fields"]["city"]["rule"].as_str(),
            Some("city"),
            "{l:?}"
        );
    }
    // Once a person has decided those, it is a complete, valid rules file for the clone:
    // every suggested rule fits its column.
    std::fs::write(&path, decided(&text, "\"keep\"  # decided by hand"))
        .expect("decided rules file");
    let target = fresh_db(cluster(), "ri_types_dst");
    let cloned = run_cmd(
        restage()
            .args(["clone", "--quiet", "--ephemeral-key", "--source"])
            .arg(cluster().url(&db))
            .arg("--target")
            .arg(cluster().url(&target))
            .arg("--rules")
            .arg(&path),
    );
    cloned.assert_ok();
    // `note` is free text by name: replaced whole, and the rule ran in the clone.
    let note = line(&rules, "public.tenant_notes", "note");
    assert!(whole_replacement(&note.entry), "{note:?}");
    let rows = sql(
        cluster(),
        &target,
        "SELECT count(*) FROM public.tenant_notes",
    );
    assert_eq!(rows.trim(), "30");
    assert!(
        !rules.contains_key(&("sales.order_lines".to_string(), "total".to_string())),
        "a generated column is not copied, so not listed"
    );
    // An email column typed as a domain over text, UNIQUE.
    let email = line(&rules, "public.employees", "email");
    assert!(
        email.flagged() && email.comment.contains("an email address"),
        "{email:?}"
    );
    let email = line(&rules, "sales.customers", "email");
    assert!(
        email
            .comment
            .contains("sampled values look like email addresses"),
        "{email:?}"
    );
    let name = line(&rules, "sales.customers", "name");
    assert!(
        name.flagged() && name.comment.contains("a person's name"),
        "{name:?}"
    );
    let fk = line(&rules, "sales.orders", "customer_id");
    assert_eq!(fk.comment, "foreign key → sales.customers");
    assert!(line(&rules, "sales.orders", "status")
        .comment
        .starts_with("enum"));
    assert!(line(&rules, "public.tickets", "subject").is_plain_keep());

    let db = loaded_db(cluster(), "ri_demo", "demo/app.sql");
    let run = init(&db, &["--table", "public.*"]);
    run.assert_ok();
    let rules = parse_rules(&run.stdout);
    for column in ["email", "full_name", "phone", "birth_date"] {
        let l = line(&rules, "public.users", column);
        assert!(l.flagged(), "users.{column}: {l:?}");
    }
    assert!(line(&rules, "public.tenants", "billing_email").flagged());
    let address = line(&rules, "public.orders", "shipping_address");
    assert!(
        address.flagged() && address.says("a street address"),
        "{address:?}"
    );
    assert!(line(&rules, "public.tenants", "name").is_plain_keep());
    assert!(line(&rules, "public.orders", "amount").is_plain_keep());
    let mut secrets = values(
        &db,
        "SELECT email FROM users UNION SELECT full_name FROM users \
         UNION SELECT phone FROM users WHERE phone IS NOT NULL",
    );
    secrets.retain(|s| s.len() > 6);
    assert_not_printed(&run, &secrets);
}

/// Identifiers with format CHECKs (on the column, through a domain), a CHECK no rule can meet,
/// a composite address, free-text notes and an audit jsonb.
const CONSTRAINED: &str = r"
CREATE DOMAIN public.tax_code AS varchar(12) CHECK (VALUE ~ '^TX-[0-9]{8}$');
CREATE DOMAIN public.short_mail AS varchar(12) CHECK (VALUE <> '');
CREATE TYPE public.addr AS (street text, city text, contact text);
CREATE TABLE public.people (
    id          integer PRIMARY KEY,
    national_id char(11) NOT NULL UNIQUE CHECK (national_id ~ '^[0-9]{3}-[0-9]{2}-[0-9]{4}$'),
    tax_no      public.tax_code,
    phone       text NOT NULL
                CHECK (substr(phone, 1, 8) = '+44 7700' AND substr(phone, 10, 3) = '900'),
    home        public.addr,
    notes       text,
    backup      public.short_mail
);
INSERT INTO public.people
SELECT n,
       lpad((100 + n)::text, 3, '0') || '-' || lpad((n % 90 + 10)::text, 2, '0') || '-'
           || lpad((n * 37 % 10000)::text, 4, '0'),
       'TX-' || lpad((n * 7919 % 100000000)::text, 8, '0'),
       '+44 7700 900' || lpad(n::text, 3, '0'),
       ROW(n || ' Larkspur Crescent', 'Fernhollow', 'home' || n || '@privatebox.org')::public.addr,
       'called +44 7700 900' || lpad(n::text, 3, '0') || ', then wrote from note' || n
           || '@privatebox.org',
       'b' || n || '@pbx.io'
FROM generate_series(1, 40) AS n;
CREATE TABLE public.audit (id integer PRIMARY KEY, doc jsonb NOT NULL);
INSERT INTO public.audit SELECT id, to_jsonb(p) FROM public.people p;
";

#[test]
fn structured_columns_get_working_rules_checked_against_the_columns_constraints() {
    let db = fresh_db(cluster(), "ri_checks");
    sql(cluster(), &db, CONSTRAINED);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("checks.toml");
    let run = init(&db, &["--out", &path.to_string_lossy()]);
    run.assert_ok();
    let text = std::fs::read_to_string(&path).expect("rules file");
    let rules = parse_rules(&text);
    let people = "public.people";
    let entry = |table: &str, column: &str| line(&rules, table, column).entry.clone();

    // A composite address: a rule per field, the contact in the email domain.
    let home = entry(people, "home");
    assert_eq!(home["rule"].as_str(), Some("composite"), "{text}");
    assert_eq!(home["fields"]["city"]["rule"].as_str(), Some("city"));
    assert_eq!(home["fields"]["contact"]["rule"].as_str(), Some("email"));
    assert_eq!(home["fields"]["contact"]["domain"].as_str(), Some("email"));
    assert!(home["fields"].get("street").is_some(), "{home}");
    // Free text is replaced whole; an audit document keeps its shape, its personal tokens
    // replaced.
    let notes = entry(people, "notes");
    assert!(whole_replacement(&notes), "{notes}");
    assert_eq!(entry("public.audit", "doc")["rule"].as_str(), Some("scrub"));

    // A national id with a format CHECK and a code typed as a domain with a CHECK: their
    // format is kept, and that was checked on the source with the sampled values.
    let id = entry(people, "national_id");
    assert_eq!(
        id,
        inline(r#"{ rule = "format_preserve", domain = "national_id" }"#)
    );
    let tax = entry(people, "tax_no");
    assert_eq!(
        tax,
        inline(r#"{ rule = "format_preserve", domain = "national_id", letters = false }"#),
        "the letters of `TX-` are part of the format its domain checks:\n{}\n{text}",
        run.stderr
    );
    for (column, what) in [
        ("national_id", "CHECK people_national_id_check"),
        ("tax_no", "domain CHECK tax_code_check"),
    ] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(&format!("{people}.{column}: "))
                    && l.contains(what)
                    && l.contains("40/40 sanitized samples pass")),
            "{column}: {what} not reported:\n{}",
            run.stderr
        );
    }
    // A CHECK no rule's output meets: undecided, naming the constraint and each rule tried.
    let phone = line(&rules, people, "phone");
    let reason = phone.undecided().unwrap_or_else(|| panic!("{phone:?}"));
    for what in [
        "CHECK people_phone_check",
        "fails for `phone`",
        "fails for `format_preserve`",
        "fails for `hash`",
    ] {
        assert!(reason.contains(what), "{what}: {reason}");
    }

    // A domain over varchar(12): an explicit cast would cut longer values, so what the cast
    // changes counts as too long.
    let backup = line(&rules, people, "backup");
    let reason = backup.undecided().unwrap_or_else(|| panic!("{backup:?}"));
    assert!(
        reason.contains("the length of public.short_mail") && reason.contains("fails for `email`"),
        "{reason}"
    );

    // `rules check` agrees with the file; decided, the clone passes its preflight and the
    // target's constraints, and no production value of a ruled column arrives.
    assert_check_agrees(&db, &path);
    let secrets = values(
        &db,
        "SELECT national_id FROM people UNION SELECT tax_no FROM people \
         UNION SELECT (home).contact FROM people UNION SELECT notes FROM people",
    );
    assert_not_printed(&run, &secrets);
    // The phone and the backup address are left: a person decides to keep these test values.
    std::fs::write(&path, decided(&text, "\"keep\"")).expect("decided rules file");
    let target = fresh_db(cluster(), "ri_checks_dst");
    run_cmd(
        restage()
            .args(["clone", "--quiet", "--ephemeral-key", "--source"])
            .arg(cluster().url(&db))
            .arg("--target")
            .arg(cluster().url(&target))
            .arg("--rules")
            .arg(&path),
    )
    .assert_ok();
    let copied = sql(
        cluster(),
        &target,
        "SELECT count(*) FROM people UNION ALL SELECT count(*) FROM audit",
    );
    assert_eq!(copied.split_whitespace().collect::<Vec<_>>(), ["40", "40"]);
    let staged = sql(
        cluster(),
        &target,
        "SELECT national_id FROM people UNION SELECT tax_no FROM people \
         UNION SELECT (home).contact FROM people UNION SELECT notes FROM people",
    );
    for s in &secrets {
        assert!(!staged.contains(s.as_str()), "{s} reached staging");
    }
    // The audit document's emails are replaced; a code no token scanner recognises stays,
    // which is what a person reviewing `scrub` there decides about.
    let audit = sql(cluster(), &target, "SELECT doc::text FROM audit");
    for email in values(&db, "SELECT (home).contact FROM people") {
        assert!(!audit.contains(email.as_str()), "{email} reached staging");
    }
}

#[test]
fn out_file_is_written_once_table_filters_apply_and_errors_are_clear() {
    let db = loaded_db(cluster(), "ri_out", "chinook/Chinook_PostgreSql.sql");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    let path_arg = path.to_string_lossy().into_owned();

    let first = init(
        &db,
        &[
            "--table",
            "Customer",
            "--table",
            "public.Inv*",
            "--out",
            &path_arg,
        ],
    );
    first.assert_ok();
    assert!(
        first.stdout.is_empty(),
        "the file, not stdout: {}",
        first.stdout
    );
    assert!(first.stderr.contains("3 tables"), "{}", first.stderr);
    let written = std::fs::read_to_string(&path).expect("rules file written");
    let rules = parse_rules(&written);
    let tables: Vec<String> = listed_counts(&rules).into_keys().collect();
    assert_eq!(
        tables,
        ["public.Customer", "public.Invoice", "public.InvoiceLine"]
    );

    // An existing file is never replaced without --force, and stays as it was.
    std::fs::write(&path, "# mine\n").expect("overwrite");
    let refused = init(&db, &["--out", &path_arg]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(
        std::fs::read_to_string(&path).ok().as_deref(),
        Some("# mine\n")
    );

    let forced = init(
        &db,
        &["--out", &path_arg, "--force", "--exclude-table", "Track"],
    );
    forced.assert_ok();
    let rules = parse_rules(&std::fs::read_to_string(&path).expect("replaced"));
    let mut expected = column_counts(&db);
    expected.remove("public.Track");
    assert_eq!(listed_counts(&rules), expected);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");

    let nomatch = init(&db, &["--table", "NoSuchTable"]);
    assert_eq!(nomatch.code, 2, "{}", nomatch.stderr);
    assert!(nomatch.stderr.contains("NoSuchTable"), "{}", nomatch.stderr);

    // A wrong password: connection failure, exit 3, the password never printed.
    let url = cluster()
        .url(&db)
        .replace(cluster().password(), "Wr0ngS3cretPw");
    let denied = run_cmd(restage().args(["rules", "init", "--source", &url]));
    assert_eq!(denied.code, 3, "{}", denied.stderr);
    assert!(denied.stderr.contains("****"), "{}", denied.stderr);
    assert!(
        !denied.stderr.contains("Wr0ngS3cretPw"),
        "{}",
        denied.stderr
    );
    assert!(!denied.stdout.contains("Wr0ngS3cretPw"));
}

#[test]
fn rules_list_shows_every_builtin_rule() {
    let run = run_cmd(restage().args(["rules", "list"]));
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("RULE") && lines[0].contains("ACCEPTS"),
        "{}",
        run.stdout
    );
    let names: Vec<&str> = registry::all().iter().map(|r| r.spec().name).collect();
    assert!(names.contains(&"keep") && names.contains(&"null"));
    // One block per rule: its row (name, guarantees, types), then its summary, indented.
    let rows: Vec<&str> = lines[1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with(' '))
        .copied()
        .collect();
    let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let all = words(&run.stdout);
    for (row, rule) in rows.iter().zip(registry::all()) {
        let spec = rule.spec();
        assert!(row.starts_with(&format!("{} ", spec.name)), "{row}");
        assert!(all.contains(&words(spec.summary)), "{}", spec.name);
    }
    assert_eq!(rows.len(), names.len(), "{}", run.stdout);
    let keep = rows[names.iter().position(|n| *n == "keep").unwrap_or(0)];
    assert!(
        keep.contains(" any") && keep.contains("fits column"),
        "{keep}"
    );

    let json = run_cmd(restage().args(["rules", "list", "--json"]));
    json.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let listed: Vec<&str> = v
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(listed, names);
    let null = v
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == "null"))
        .expect("null listed");
    assert_eq!(null["may_produce_null"], true);
    assert_eq!(null["unique_preserving"], false);
}

#[test]
fn rules_explain_prints_the_declaration_and_refuses_unknown_names() {
    let Some(keep) = registry::lookup("keep") else {
        panic!("keep is built in");
    };
    let spec = keep.spec();
    let run = run_cmd(restage().args(["rules", "explain", "keep"]));
    run.assert_ok();
    assert!(
        run.stdout.starts_with(&format!("keep: {}", spec.summary)),
        "{}",
        run.stdout
    );
    for part in [
        "Parameters:",
        "Accepts: any",
        "Guarantees:",
        "Example:",
        spec.example,
    ] {
        assert!(run.stdout.contains(part), "{part} missing:\n{}", run.stdout);
    }

    let json = run_cmd(restage().args(["rules", "explain", "null", "--json"]));
    json.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["name"], "null");
    assert_eq!(v["may_produce_null"], true);
    assert!(v["params"].as_array().is_some());
    assert!(v["accepts"].as_array().is_some_and(|a| !a.is_empty()));

    let unknown = run_cmd(restage().args(["rules", "explain", "kep"]));
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown
            .stderr
            .contains("unknown rule \"kep\" (did you mean \"keep\"?)"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stdout.is_empty());

    let help = run_cmd(restage().args(["rules", "init", "--help"]));
    help.assert_ok();
    assert!(help.stdout.contains("Examples:"), "{}", help.stdout);
    assert!(help.stdout.contains("--sample"), "{}", help.stdout);
}
