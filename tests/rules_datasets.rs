//! The shipped rules files (rules/chinook.toml, rules/northwind.toml) against their fixtures on
//! real PostgreSQL: they pass `rules check`, a sanitized clone is leak-free by `restage verify`,
//! keeps every row and every constraint valid, keeps joins on shared domains matching, really
//! changes the personal columns, and is deterministic under a key. A rules file missing a column
//! or naming an unknown rule is refused with the column or the place named.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;

const EXIT_USAGE: i32 = 2;
const EXIT_REFUSED: i32 = 4;
/// Under this key a list-drawn rule first draws a chinook customer's own first name ("Jack");
/// the rule redraws, so `verify` still finds no leak.
const KEY: &str = "restage-dataset-key-0123456789";
const OTHER_KEY: &str = "restage-dataset-other-key-9876543210";

/// How a sanitized column must differ from its source, compared through the row's key.
#[derive(Clone, Copy)]
enum Changed {
    /// No target value equals any source value of the column (large output spaces: emails,
    /// phones, streets, companies, free text, choices from values the source never uses).
    Disjoint,
    /// No row keeps its own source value (small output spaces: fake cities and first names
    /// come from lists, so a value may equal another row's original).
    RowWise,
    /// Like `Disjoint` against the source (a `choice` from values the source never uses), but
    /// from a handful of values, so two keys may pick alike.
    Picked,
    /// Every value is NULL on the target.
    Nulled,
}

struct Dataset {
    name: &'static str,
    fixture: &'static str,
    /// `rules check` summary.
    check: &'static str,
    /// `verify` summary.
    verify: &'static str,
    /// Tables holding sanitized columns; every other table is copied unchanged.
    sanitized_tables: &'static [&'static str],
    /// (table, key, column, how it must change).
    changed: &'static [(&'static str, &'static str, &'static str, Changed)],
    /// Queries counting rows whose shared-domain values match; equal on source and target.
    joins: &'static [&'static str],
    /// Queries listing pairs of rows of different entities whose shared-domain values match:
    /// every source pair still matches on the target. (Fake cities come from a short list, so
    /// unrelated rows may come to share one: the target may have more pairs.)
    pairs: &'static [&'static str],
}

use Changed::*;

const CHINOOK: Dataset = Dataset {
    name: "chinook",
    fixture: "chinook/Chinook_PostgreSql.sql",
    check: "rules ok: 11 tables, 64 columns decided (25 sanitized, 39 kept)",
    verify: "0 leaks in 22 scanned columns; 11 tables counted, 0 mismatches",
    sanitized_tables: &["Customer", "Employee", "Invoice"],
    changed: &[
        ("Customer", "CustomerId", "FirstName", RowWise),
        ("Customer", "CustomerId", "LastName", RowWise),
        ("Customer", "CustomerId", "Company", Disjoint),
        ("Customer", "CustomerId", "Address", Disjoint),
        ("Customer", "CustomerId", "City", RowWise),
        ("Customer", "CustomerId", "State", Picked),
        ("Customer", "CustomerId", "PostalCode", RowWise),
        ("Customer", "CustomerId", "Phone", Disjoint),
        ("Customer", "CustomerId", "Fax", Disjoint),
        ("Customer", "CustomerId", "Email", Disjoint),
        ("Employee", "EmployeeId", "FirstName", RowWise),
        ("Employee", "EmployeeId", "LastName", RowWise),
        ("Employee", "EmployeeId", "BirthDate", RowWise),
        ("Employee", "EmployeeId", "HireDate", RowWise),
        ("Employee", "EmployeeId", "Address", Disjoint),
        ("Employee", "EmployeeId", "City", RowWise),
        ("Employee", "EmployeeId", "State", Picked),
        ("Employee", "EmployeeId", "PostalCode", RowWise),
        ("Employee", "EmployeeId", "Phone", Disjoint),
        ("Employee", "EmployeeId", "Fax", Disjoint),
        ("Employee", "EmployeeId", "Email", Disjoint),
        ("Invoice", "InvoiceId", "BillingAddress", Disjoint),
        ("Invoice", "InvoiceId", "BillingCity", RowWise),
        ("Invoice", "InvoiceId", "BillingState", Picked),
        ("Invoice", "InvoiceId", "BillingPostalCode", RowWise),
    ],
    joins: &[
        r#"SELECT count(*) FROM "Invoice" i JOIN "Customer" c USING ("CustomerId") WHERE i."BillingCity" = c."City""#,
        r#"SELECT count(*) FROM "Invoice" i JOIN "Customer" c USING ("CustomerId") WHERE i."BillingAddress" = c."Address""#,
        r#"SELECT count(*) FROM "Invoice" i JOIN "Customer" c USING ("CustomerId") WHERE i."BillingState" = c."State""#,
        r#"SELECT count(*) FROM "Invoice" i JOIN "Customer" c USING ("CustomerId") WHERE i."BillingPostalCode" = c."PostalCode""#,
        r#"SELECT count(*) FROM "Customer" c JOIN "Employee" e ON e."EmployeeId" = c."SupportRepId""#,
        // Both dates of an employee move by the same shift: age at hiring is kept.
        r#"SELECT string_agg(("HireDate" - "BirthDate")::text, ',' ORDER BY "EmployeeId") FROM "Employee""#,
    ],
    pairs: &[
        r#"SELECT c."CustomerId", e."EmployeeId" FROM "Customer" c JOIN "Employee" e ON c."City" = e."City""#,
    ],
};

const NORTHWIND: Dataset = Dataset {
    name: "northwind",
    fixture: "northwind/northwind.sql",
    check: "rules ok: 14 tables, 92 columns decided (36 sanitized, 56 kept)",
    verify: "0 leaks in 32 scanned columns; 14 tables counted, 0 mismatches",
    sanitized_tables: &["customers", "employees", "orders", "shippers", "suppliers"],
    changed: &[
        ("customers", "customer_id", "company_name", Disjoint),
        ("customers", "customer_id", "contact_name", Disjoint),
        ("customers", "customer_id", "address", Disjoint),
        ("customers", "customer_id", "city", RowWise),
        ("customers", "customer_id", "region", Picked),
        ("customers", "customer_id", "postal_code", RowWise),
        ("customers", "customer_id", "phone", Disjoint),
        ("customers", "customer_id", "fax", Disjoint),
        ("employees", "employee_id", "first_name", RowWise),
        ("employees", "employee_id", "last_name", RowWise),
        ("employees", "employee_id", "birth_date", RowWise),
        ("employees", "employee_id", "hire_date", RowWise),
        ("employees", "employee_id", "address", Disjoint),
        ("employees", "employee_id", "city", RowWise),
        ("employees", "employee_id", "region", Picked),
        ("employees", "employee_id", "postal_code", RowWise),
        ("employees", "employee_id", "home_phone", Disjoint),
        ("employees", "employee_id", "extension", RowWise),
        ("employees", "employee_id", "photo", Nulled),
        ("employees", "employee_id", "notes", Disjoint),
        ("employees", "employee_id", "photo_path", Nulled),
        ("orders", "order_id", "ship_name", Disjoint),
        ("orders", "order_id", "ship_address", Disjoint),
        ("orders", "order_id", "ship_city", RowWise),
        ("orders", "order_id", "ship_region", Picked),
        ("orders", "order_id", "ship_postal_code", RowWise),
        ("shippers", "shipper_id", "phone", Disjoint),
        ("suppliers", "supplier_id", "company_name", Disjoint),
        ("suppliers", "supplier_id", "contact_name", Disjoint),
        ("suppliers", "supplier_id", "address", Disjoint),
        ("suppliers", "supplier_id", "city", RowWise),
        ("suppliers", "supplier_id", "region", Picked),
        ("suppliers", "supplier_id", "postal_code", RowWise),
        ("suppliers", "supplier_id", "phone", Disjoint),
        ("suppliers", "supplier_id", "fax", Disjoint),
        ("suppliers", "supplier_id", "homepage", Disjoint),
    ],
    joins: &[
        "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.ship_name = c.company_name",
        "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.ship_address = c.address",
        "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.ship_city = c.city",
        "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.ship_region = c.region",
        "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.ship_postal_code = c.postal_code",
        "SELECT count(*) FROM orders o JOIN employees e USING (employee_id) JOIN customers c USING (customer_id)",
        "SELECT string_agg((hire_date - birth_date)::text, ',' ORDER BY employee_id) FROM employees",
    ],
    pairs: &[
        "SELECT c.customer_id, s.supplier_id FROM customers c JOIN suppliers s USING (city)",
        "SELECT c.customer_id, e.employee_id FROM customers c JOIN employees e USING (city)",
        "SELECT c.customer_id, s.supplier_id FROM customers c JOIN suppliers s USING (postal_code)",
    ],
};

fn rules_file(dataset: &Dataset) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules")
        .join(format!("{}.toml", dataset.name))
}

/// The dataset's source database, loaded once per binary and only ever read.
fn source(dataset: &Dataset) -> &'static str {
    static CHINOOK_SRC: OnceLock<String> = OnceLock::new();
    static NORTHWIND_SRC: OnceLock<String> = OnceLock::new();
    let cell = match dataset.name {
        "chinook" => &CHINOOK_SRC,
        _ => &NORTHWIND_SRC,
    };
    cell.get_or_init(|| loaded_db(cluster(), &format!("{}_src", dataset.name), dataset.fixture))
}

fn sanitized_clone(src: &str, dst: &str, rules: &Path, key: &str) -> Run {
    let pg = cluster();
    run_cmd(
        restage()
            .env("RESTAGE_KEY", key)
            .args([
                "clone",
                "--quiet",
                "--source",
                &pg.url(src),
                "--target",
                &pg.url(dst),
                "--rules",
            ])
            .arg(rules),
    )
}

/// A fresh database holding a sanitized clone of the dataset under `key`.
fn cloned(dataset: &Dataset, key: &str, prefix: &str) -> String {
    let pg = cluster();
    let dst = fresh_db(pg, &format!("{}_{prefix}", dataset.name));
    sanitized_clone(source(dataset), &dst, &rules_file(dataset), key).assert_ok();
    dst
}

/// checksums.sql by relation: name → (row count, md5 of the rows).
fn fingerprint(db: &str) -> BTreeMap<String, (u64, String)> {
    checksums(cluster(), db)
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["table", schema, name, count, md5] => Some((
                    format!("{schema}.{name}"),
                    (count.parse().expect("row count"), md5.to_string()),
                )),
                _ => None,
            }
        })
        .collect()
}

/// `key → md5(value::text)` of the column's non-NULL values.
fn column_values(db: &str, table: &str, key: &str, column: &str) -> HashMap<String, String> {
    let q = format!(
        "SELECT \"{key}\"::text, md5(\"{column}\"::text) FROM public.\"{table}\" WHERE \"{column}\" IS NOT NULL"
    );
    sql(cluster(), db, &q)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once('|').expect("key|md5");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn rows_equal(a: &HashMap<String, String>, b: &HashMap<String, String>) -> usize {
    a.iter().filter(|(k, v)| b.get(*k) == Some(*v)).count()
}

#[track_caller]
fn assert_rules_check_passes(dataset: &Dataset) {
    let pg = cluster();
    let run = run_cmd(
        restage()
            .args([
                "rules",
                "check",
                "--source",
                &pg.url(source(dataset)),
                "--rules",
            ])
            .arg(rules_file(dataset)),
    );
    run.assert_ok();
    assert!(run.stdout.contains(dataset.check), "{}", run.stdout);
}

/// Clone with the dataset's rules, then: verify finds no leak, every table has its rows, every
/// constraint is there and valid, joins on shared domains match as in the source, personal
/// columns changed, and tables without personal data are identical.
fn assert_sanitized_clone_is_sound(dataset: &Dataset) {
    let pg = cluster();
    let src = source(dataset);
    let rules = rules_file(dataset);
    let dst = cloned(dataset, KEY, "dst");

    let verify = run_cmd(
        restage()
            .args([
                "verify",
                "--source",
                &pg.url(src),
                "--target",
                &pg.url(&dst),
                "--rules",
            ])
            .arg(&rules),
    );
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains(dataset.verify), "{}", verify.stdout);

    // Row counts: equal per table, and as recorded for the fixture.
    let a = fingerprint(src);
    let b = fingerprint(&dst);
    let counts = |f: &BTreeMap<String, (u64, String)>| -> Vec<(String, u64)> {
        f.iter().map(|(k, v)| (k.clone(), v.0)).collect()
    };
    assert_eq!(counts(&a), counts(&b), "row counts differ");
    let recorded = std::fs::read_to_string(fixture(&format!("{}/rowcounts.tsv", dataset.name)))
        .expect("rowcounts.tsv");
    let recorded: Vec<(String, u64)> = recorded
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((
                format!("{}.{}", f.first()?, f.get(1)?),
                f.get(2)?.parse().ok()?,
            ))
        })
        .collect();
    assert_eq!(counts(&b), recorded, "row counts differ from the fixture's");

    // Tables without personal data are copied unchanged; the others are not.
    for (table, (_, md5)) in &a {
        let name = table.trim_start_matches("public.");
        let same = b[table].1 == *md5;
        if dataset.sanitized_tables.contains(&name) {
            assert!(!same, "{table}: sanitized table identical to the source");
        } else {
            assert!(same, "{table}: table without personal data changed");
        }
    }

    // Constraints: all present with the same definitions, all validated.
    let constraints =
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) \
                       FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
                       ORDER BY conrelid::regclass::text COLLATE \"C\", conname COLLATE \"C\"";
    let on_source = sql(pg, src, constraints);
    assert_eq!(on_source, sql(pg, &dst, constraints), "constraints differ");
    let kinds =
        "SELECT count(*) FILTER (WHERE contype = 'p'), count(*) FILTER (WHERE contype = 'f') \
                 FROM pg_constraint WHERE connamespace = 'public'::regnamespace";
    let (on_target, on_source) = (sql(pg, &dst, kinds), sql(pg, src, kinds));
    assert_eq!(on_target, on_source, "primary and foreign key counts");
    assert!(
        !on_target.starts_with("0|") && !on_target.trim().ends_with("|0"),
        "{on_target}"
    );
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_constraint WHERE NOT convalidated"
        )
        .trim(),
        "0"
    );

    // Joins on shared domains match exactly where they did in production.
    for q in dataset.joins {
        let (s, t) = (sql(pg, src, q), sql(pg, &dst, q));
        assert_eq!(s, t, "{q}");
        assert_ne!(s.trim(), "0", "{q} matches nothing in the source");
    }

    for q in dataset.pairs {
        let on_target: HashSet<String> = sql(pg, &dst, q).lines().map(str::to_string).collect();
        let on_source = sql(pg, src, q);
        assert!(
            !on_source.trim().is_empty(),
            "{q} matches nothing in the source"
        );
        for pair in on_source.lines() {
            assert!(on_target.contains(pair), "{q}: {pair} no longer matches");
        }
    }

    // Personal columns really changed.
    for &(table, key, column, how) in dataset.changed {
        let before = column_values(src, table, key, column);
        let after = column_values(&dst, table, key, column);
        assert!(!before.is_empty(), "{table}.{column}: no source values");
        let place = format!("{table}.{column}");
        match how {
            Nulled => assert!(after.is_empty(), "{place}: {} values left", after.len()),
            Disjoint | Picked | RowWise => {
                assert_eq!(after.len(), before.len(), "{place}: non-NULL count changed");
                assert_eq!(
                    rows_equal(&before, &after),
                    0,
                    "{place}: rows kept their value"
                );
            }
        }
        if let Disjoint | Picked = how {
            let originals: HashSet<&String> = before.values().collect();
            let found = after.values().filter(|v| originals.contains(v)).count();
            assert_eq!(found, 0, "{place}: {found} production values on the target");
        }
    }
}

/// Same key: identical target. Other key: other values in every sanitized table, the same
/// catalogue.
fn assert_clones_are_deterministic_under_a_key(dataset: &Dataset) {
    let first = cloned(dataset, KEY, "same1");
    let second = cloned(dataset, KEY, "same2");
    let other = cloned(dataset, OTHER_KEY, "other");
    let (a, b, c) = (
        fingerprint(&first),
        fingerprint(&second),
        fingerprint(&other),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b, "two clones under the same key differ");
    for (table, (count, md5)) in &a {
        let name = table.trim_start_matches("public.");
        assert_eq!(c[table].0, *count, "{table}: row count");
        if dataset.sanitized_tables.contains(&name) {
            assert_ne!(c[table].1, *md5, "{table}: same values under another key");
        } else {
            assert_eq!(c[table].1, *md5, "{table}: catalogue changed with the key");
        }
    }
    // Row by row, another key redraws (nearly) every value: fake values come from finite lists
    // (company words, names, cities), so a few rows may draw alike under both keys.
    for &(table, key, column, how) in dataset.changed {
        if let Disjoint | RowWise = how {
            let x = column_values(&first, table, key, column);
            let y = column_values(&other, table, key, column);
            let alike = rows_equal(&x, &y);
            assert!(
                alike * 10 <= x.len(),
                "{table}.{column}: {alike} of {} rows alike under two keys",
                x.len()
            );
        }
    }
}

#[test]
fn chinook_rules_pass_check_and_give_a_sound_sanitized_clone() {
    assert_rules_check_passes(&CHINOOK);
    assert_sanitized_clone_is_sound(&CHINOOK);
}

#[test]
fn northwind_rules_pass_check_and_give_a_sound_sanitized_clone() {
    assert_rules_check_passes(&NORTHWIND);
    assert_sanitized_clone_is_sound(&NORTHWIND);
}

#[test]
fn chinook_clones_are_deterministic_under_a_key() {
    assert_clones_are_deterministic_under_a_key(&CHINOOK);
}

#[test]
fn northwind_clones_are_deterministic_under_a_key() {
    assert_clones_are_deterministic_under_a_key(&NORTHWIND);
}

/// `text` with the entry for `column` in the section of `table` taken out, or its line changed.
fn edit_entry(
    text: &str,
    table: &str,
    column: &str,
    edit: impl Fn(&str) -> Option<String>,
) -> String {
    let header = format!("[tables.\"{table}\".columns]");
    let mut in_table = false;
    let mut done = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_table = line == header;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        if in_table && !done && word == column {
            done = true;
            if let Some(l) = edit(line) {
                out.push(l);
            }
            continue;
        }
        out.push(line.to_string());
    }
    assert!(done, "no entry {table}.{column}");
    out.join("\n") + "\n"
}

#[test]
fn chinook_rules_missing_a_column_or_naming_an_unknown_rule_are_refused() {
    let pg = cluster();
    let src = source(&CHINOOK);
    let text = std::fs::read_to_string(rules_file(&CHINOOK)).expect("rules/chinook.toml");
    let dir = tempfile::tempdir().expect("temp dir");

    // One column left undecided: refused before anything is written, the column named.
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        edit_entry(&text, "public.Customer", "Fax", |_| None),
    )
    .unwrap();
    let dst = fresh_db(pg, "chinook_missing");
    let run = sanitized_clone(src, &dst, &missing, KEY);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("public.Customer.Fax (character varying(24))"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sql(
            pg,
            &dst,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        )
        .trim(),
        "0"
    );

    // A typo in a rule name: a usage error at its place in the file, with a suggestion.
    let typo = dir.path().join("typo.toml");
    let edited = edit_entry(&text, "public.Customer", "PostalCode", |l| {
        Some(l.replace("rule = \"postcode\"", "rule = \"postcod\""))
    });
    let (line, col) = edited
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("\"postcod\""))
        .map(|(i, l)| (i + 1, l.find('{').expect("inline table") + 1))
        .expect("edited line");
    std::fs::write(&typo, &edited).unwrap();
    let run = sanitized_clone(src, &dst, &typo, KEY);
    assert_eq!(run.code, EXIT_USAGE, "{}", run.stderr);
    let place = format!(
        "{}:{line}:{col}: public.Customer.PostalCode: unknown rule \"postcod\" (did you mean \"postcode\"?",
        typo.display()
    );
    assert!(run.stderr.contains(&place), "{place}\n{}", run.stderr);
}
