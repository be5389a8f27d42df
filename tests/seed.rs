//! `restage seed`: synthetic rows from a seed plan, into a cloned database and an empty one.

mod common;

use std::path::PathBuf;

use common::*;

fn plan_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("restage-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("plan directory");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing the plan");
    path
}

fn seed(
    cluster: &localpg_cluster::Cluster,
    db: &str,
    plan: &std::path::Path,
    extra: &[&str],
) -> Run {
    run_cmd(
        restage()
            .args(["seed", "--quiet", "--target"])
            .arg(cluster.url(db))
            .arg("--plan")
            .arg(plan)
            .args(extra),
    )
}

mod localpg_cluster {
    pub use restage::localpg::Cluster;
}

fn demo_plan() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/demo.toml")
}

const ACME: &str = "(SELECT id FROM tenants WHERE slug = 'acme-staging')";

/// The demo plan adds a tenant beside production's rows: counts, per-parent counts, keys from
/// the target's sequences, and the same rows for the same seed in another database.
#[test]
fn demo_plan_adds_a_tenant_to_a_cloned_database_deterministically() {
    let c = cluster();
    let prod = loaded_db(c, "seed_prod", "demo/app.sql");
    let mut fingerprints = Vec::new();
    for _ in 0..2 {
        let staging = fresh_db(c, "seed_staging");
        clone(c, &prod, &staging, &[]).assert_ok();
        let before = sql(c, &staging, "SELECT count(*) FROM users");
        seed(c, &staging, &demo_plan(), &[]).assert_ok();
        assert_eq!(
            sql(
                c,
                &staging,
                &format!("SELECT count(*) FROM tenants WHERE id = {ACME}")
            ),
            "1"
        );
        assert_eq!(
            sql(
                c,
                &staging,
                &format!("SELECT count(*) FROM users WHERE tenant_id = {ACME}")
            ),
            "20"
        );
        assert_eq!(
            sql(
                c,
                &staging,
                &format!("SELECT count(*) FROM products WHERE tenant_id = {ACME}")
            ),
            "50"
        );
        // Ten orders for every generated user, each for a product of the tenant.
        assert_eq!(
            sql(
                c,
                &staging,
                &format!(
                    "SELECT count(*), min(n), max(n) FROM (SELECT u.id, count(o.id) n FROM users u \
                     LEFT JOIN orders o ON o.user_id = u.id WHERE u.tenant_id = {ACME} \
                     GROUP BY u.id) s"
                )
            ),
            "20|10|10"
        );
        assert_eq!(
            sql(
                c,
                &staging,
                &format!(
                    "SELECT count(*) FROM orders o JOIN products p ON p.id = o.product_id \
                     JOIN users u ON u.id = o.user_id WHERE u.tenant_id = {ACME} AND p.tenant_id = {ACME}"
                )
            ),
            "200"
        );
        // Production's rows are untouched; new ids come after theirs.
        let prod_users: i64 = before.parse().expect("count");
        assert_eq!(
            sql(c, &staging, "SELECT count(*) FROM users"),
            (prod_users + 20).to_string()
        );
        assert_eq!(
            sql(
                c,
                &staging,
                &format!("SELECT min(id) > {prod_users} FROM users WHERE tenant_id = {ACME}")
            ),
            "t"
        );
        fingerprints.push(sql(
            c,
            &staging,
            &format!(
                "SELECT md5(string_agg(u::text, ',' ORDER BY u.id)) FROM users u WHERE tenant_id = {ACME}; \
                 SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o JOIN users u \
                 ON u.id = o.user_id WHERE u.tenant_id = {ACME}"
            ),
        ));
    }
    assert_eq!(
        fingerprints[0], fingerprints[1],
        "same plan and seed, other rows"
    );
}

/// Into an empty database whose schema comes from `--schema-from`; another seed gives
/// other rows; running the plan again adds rows whose unique values avoid the first run's.
#[test]
fn seeds_an_empty_database_and_unique_values_avoid_existing_rows() {
    let c = cluster();
    let src = loaded_db(c, "seed_schema_src", "demo/app.sql");
    let empty = fresh_db(c, "seed_empty");
    let plan = plan_file(
        "users.toml",
        "[tables.tenants]\nrows = 3\n[tables.tenants.columns]\nname = \"hash\"\nslug = \"hash\"\n\
         plan = { rule = \"choice\", values = [\"free\", \"team\"] }\n\
         [tables.users]\nper_parent = { table = \"tenants\", min = 3, max = 8 }\n",
    );
    let run = run_cmd(
        restage()
            .args(["seed", "--quiet", "--seed", "5", "--target"])
            .arg(c.url(&empty))
            .arg("--schema-from")
            .arg(c.url(&src))
            .arg("--plan")
            .arg(&plan),
    );
    run.assert_ok();
    assert_eq!(
        sql(c, &empty, "SELECT min(id), max(id) FROM tenants"),
        "1|3"
    );
    let per_tenant = sql(
        c,
        &empty,
        "SELECT bool_and(n BETWEEN 3 AND 8), count(*) FROM (SELECT tenant_id, count(*) n FROM users GROUP BY tenant_id) s",
    );
    assert_eq!(per_tenant, "t|3");
    let first = sql(
        c,
        &empty,
        "SELECT string_agg(email, ',' ORDER BY id) FROM users",
    );
    // The same plan and seed again: the same draws collide with the rows now there and are
    // drawn again, so the unique columns stay unique.
    seed(c, &empty, &plan, &["--seed", "5"]).assert_ok();
    assert_eq!(sql(c, &empty, "SELECT count(*) FROM tenants"), "6");
    assert_eq!(
        sql(
            c,
            &empty,
            "SELECT count(DISTINCT email) = count(*) FROM users"
        ),
        "t"
    );
    let other = fresh_db(c, "seed_other");
    c.psql(&other, "SELECT 1").expect("db");
    run_cmd(
        restage()
            .args(["seed", "--quiet", "--seed", "6", "--target"])
            .arg(c.url(&other))
            .arg("--schema-from")
            .arg(c.url(&src))
            .arg("--plan")
            .arg(&plan),
    )
    .assert_ok();
    let third = sql(
        c,
        &other,
        "SELECT string_agg(email, ',' ORDER BY id) FROM users",
    );
    assert_ne!(first, third, "another seed gives other rows");
}

/// Bad plans: each a clear error before anything is written.
#[test]
fn bad_plans_are_refused_before_any_row_is_written() {
    let c = cluster();
    let db = fresh_db(c, "seed_bad");
    c.psql(
        &db,
        "CREATE TABLE parent (id int PRIMARY KEY); \
         CREATE TABLE t (id serial PRIMARY KEY, small smallint NOT NULL UNIQUE, \
                         qty int NOT NULL CHECK (qty BETWEEN 1 AND 10), blob bytea NOT NULL, \
                         p int REFERENCES parent (id));",
    )
    .expect("schema");
    let cases: &[(&str, &str, i32, &str)] = &[
        ("[tables.nope]\nrows = 1\n", "plan.toml:1:9", 2, "no table public.nope"),
        (
            "[tables.t]\nrows = 1\n[tables.t.columns]\nqtty = { rule = \"int_range\", min = 1, max = 2 }\n",
            "public.t.qtty",
            2,
            "did you mean qty",
        ),
        (
            "[tables.t]\nrows = 1\n[tables.t.columns]\nblob = \"null\"\n",
            "blob",
            2,
            "",
        ),
        (
            "[tables.t]\nrows = 40000\n[tables.t.columns]\nblob = { rule = \"constant\", value = \"x\" }\n",
            "public.t.small",
            2,
            "more distinct values than smallint",
        ),
        (
            "[tables.t]\nrows = 5\n[tables.t.columns]\nblob = { rule = \"constant\", value = \"x\" }\n\
             p = { rule = \"reference\", table = \"parent\" }\n",
            "public.t.p",
            2,
            "no rows",
        ),
        (
            "[tables.t]\nrows = 5\n[tables.t.columns]\nblob = { rule = \"constant\", value = \"x\" }\n\
             qty = { rule = \"int_range\", min = 50, max = 60 }\n",
            "public.t",
            4,
            "check constraint",
        ),
        ("[tables.t]\nrows = 1\nrow = 2\n", "plan.toml:3:1", 2, "unknown key `row`"),
    ];
    for (text, place, code, message) in cases {
        let plan = plan_file("plan.toml", text);
        let run = seed(c, &db, &plan, &[]);
        assert_eq!(run.code, *code, "{text}\n{}", run.stderr);
        assert!(
            run.stderr.contains(place),
            "{text}: {place} missing in\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(message),
            "{text}: {message} missing in\n{}",
            run.stderr
        );
        assert_eq!(sql(c, &db, "SELECT count(*) FROM t"), "0", "{text}");
    }
    // The NOT NULL bytea column nothing can fill is named before any row is written.
    let plan = plan_file("plan.toml", "[tables.t]\nrows = 1\n");
    let run = seed(c, &db, &plan, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("column blob cannot be generated"),
        "{}",
        run.stderr
    );
}

/// A cycle through a nullable key is closed in a second pass; through NOT NULL keys it is
/// refused before anything is written.
#[test]
fn foreign_key_cycles() {
    let c = cluster();
    let db = fresh_db(c, "seed_cycle");
    c.psql(
        &db,
        "CREATE TABLE a (id int PRIMARY KEY, b_id int); \
         CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a (id)); \
         ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b (id);",
    )
    .expect("schema");
    let plan = plan_file("cycle.toml", "[tables.b]\nrows = 7\n[tables.a]\nrows = 3\n");
    seed(c, &db, &plan, &[]).assert_ok();
    assert_eq!(
        sql(
            c,
            &db,
            "SELECT count(*), count(b_id) FROM a; SELECT count(*) FROM b"
        ),
        "3|3\n7"
    );
    c.psql(&db, "TRUNCATE a, b; ALTER TABLE a ALTER b_id SET NOT NULL")
        .expect("alter");
    let run = seed(c, &db, &plan, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cycle through NOT NULL"),
        "{}",
        run.stderr
    );
    assert_eq!(
        sql(c, &db, "SELECT count(*) FROM a; SELECT count(*) FROM b"),
        "0\n0"
    );
}

const DEPARTMENTS: &str = "CREATE TABLE departments (id serial PRIMARY KEY, name text NOT NULL, \
                                                     manager_id int); \
     CREATE TABLE employees (id serial PRIMARY KEY, \
                             department_id int NOT NULL REFERENCES departments, \
                             manager_id int REFERENCES employees, \
                             mentor_id int REFERENCES employees, \
                             email text NOT NULL UNIQUE); \
     ALTER TABLE departments ADD FOREIGN KEY (manager_id) REFERENCES employees;";

/// departments.manager_id → employees and employees.department_id → departments, plus
/// self-references: the nullable keys closing the cycles point at generated rows after every
/// table is written, except where the plan says NULL; the same seed gives the same rows.
#[test]
fn cycles_through_nullable_keys_are_closed_in_a_second_pass() {
    let c = cluster();
    let plan = plan_file(
        "departments.toml",
        "[tables.departments]\nrows = 4\n[tables.departments.columns]\nname = \"company\"\n\
         [tables.employees]\nrows = 30\n[tables.employees.columns]\n\
         manager_id = { rule = \"reference\", table = \"employees\" }\nmentor_id = \"null\"\n",
    );
    let mut fingerprints = Vec::new();
    for _ in 0..2 {
        let db = fresh_db(c, "seed_departments");
        c.psql(&db, DEPARTMENTS).expect("schema");
        seed(c, &db, &plan, &["--seed", "11"]).assert_ok();
        assert_eq!(
            sql(
                c,
                &db,
                "SELECT count(*), count(manager_id) FROM departments; \
                 SELECT count(*), count(manager_id), count(mentor_id) FROM employees"
            ),
            "4|4\n30|30|0"
        );
        // The keys point at the rows generated here (the constraints hold them valid), and a
        // self-reference does not point a row at itself.
        assert_eq!(
            sql(
                c,
                &db,
                "SELECT count(*) FROM departments d JOIN employees e ON e.id = d.manager_id; \
                 SELECT count(*) FROM employees WHERE manager_id = id"
            ),
            "4\n0"
        );
        assert_eq!(
            sql(
                c,
                &db,
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"
            ),
            "4"
        );
        fingerprints.push(sql(
            c,
            &db,
            "SELECT md5(string_agg(d::text, ',' ORDER BY d.id)) FROM departments d; \
             SELECT md5(string_agg(e::text, ',' ORDER BY e.id)) FROM employees e",
        ));
    }
    assert_eq!(
        fingerprints[0], fingerprints[1],
        "same plan and seed, other rows"
    );
}

/// Both keys of a cycle nullable: every key is set all the same.
#[test]
fn a_cycle_of_nullable_keys_gets_every_key_set() {
    let c = cluster();
    let db = fresh_db(c, "seed_nullable_cycle");
    c.psql(
        &db,
        &format!("{DEPARTMENTS} ALTER TABLE employees ALTER department_id DROP NOT NULL;"),
    )
    .expect("schema");
    let plan = plan_file(
        "nullable_cycle.toml",
        "[tables.employees]\nrows = 12\n[tables.departments]\nrows = 3\n",
    );
    seed(c, &db, &plan, &[]).assert_ok();
    assert_eq!(
        sql(
            c,
            &db,
            "SELECT count(*), count(manager_id) FROM departments; \
             SELECT count(*), count(department_id), count(manager_id), count(mentor_id) FROM employees"
        ),
        "3|3\n12|12|12|12"
    );
}

/// Multi-column keys take every column from one parent row: generated parents, existing
/// ones (filtered), and a `MATCH SIMPLE` key with a nullable column.
#[test]
fn composite_foreign_keys_take_one_parent_row() {
    let c = cluster();
    let db = fresh_db(c, "seed_composite");
    c.psql(
        &db,
        "CREATE TABLE tenants (id int PRIMARY KEY); \
         CREATE TABLE orders (tenant_id int NOT NULL REFERENCES tenants, id int NOT NULL, \
                              PRIMARY KEY (tenant_id, id)); \
         CREATE TABLE coupons (tenant_id int NOT NULL REFERENCES tenants, code text NOT NULL, \
                               PRIMARY KEY (tenant_id, code)); \
         CREATE TABLE order_lines (id serial PRIMARY KEY, \
                                   tenant_id int NOT NULL REFERENCES tenants, \
                                   order_id int NOT NULL, coupon_code text, \
                                   FOREIGN KEY (tenant_id, order_id) REFERENCES orders, \
                                   FOREIGN KEY (tenant_id, coupon_code) REFERENCES coupons); \
         INSERT INTO tenants SELECT generate_series(1, 5); \
         INSERT INTO orders SELECT t, t * 100 + k FROM generate_series(1, 5) t, generate_series(1, 4) k;",
    )
    .expect("schema");
    let consistent = "SELECT count(*) FROM order_lines l JOIN orders o \
                      ON o.tenant_id = l.tenant_id AND o.id = l.order_id";
    // Parents generated by the plan.
    let plan = plan_file(
        "composite_generated.toml",
        "[tables.orders]\nrows = 10\n[tables.orders.columns]\nid = { rule = \"sequence\", start = 1000 }\n\
         [tables.order_lines]\nrows = 60\n",
    );
    seed(c, &db, &plan, &[]).assert_ok();
    assert_eq!(sql(c, &db, consistent), "60");
    assert_eq!(
        sql(
            c,
            &db,
            "SELECT count(*), count(coupon_code), bool_and(order_id >= 1000) FROM order_lines"
        ),
        "60|0|t"
    );
    // Existing parents, filtered.
    let plan = plan_file(
        "composite_existing.toml",
        "[tables.order_lines]\nrows = 40\n[tables.order_lines.columns]\n\
         order_id = { rule = \"reference\", table = \"orders\", existing = true, where = \"tenant_id = 3\" }\n",
    );
    c.psql(&db, "TRUNCATE order_lines").expect("truncate");
    seed(c, &db, &plan, &[]).assert_ok();
    assert_eq!(sql(c, &db, consistent), "40");
    assert_eq!(
        sql(
            c,
            &db,
            "SELECT count(*), count(DISTINCT order_id) > 1 FROM order_lines WHERE tenant_id = 3"
        ),
        "40|t"
    );
    // A MATCH SIMPLE key sharing its NOT NULL column with another key: its nullable column
    // stays NULL (the key references nothing) rather than taking another row's value.
    c.psql(
        &db,
        "TRUNCATE order_lines; INSERT INTO coupons SELECT t, 'c' || t FROM generate_series(1, 5) t",
    )
    .expect("coupons");
    let plan = plan_file("composite_simple.toml", "[tables.order_lines]\nrows = 40\n");
    seed(c, &db, &plan, &[]).assert_ok();
    assert_eq!(sql(c, &db, consistent), "40");
    // The key alone: it takes a coupon's tenant and code together.
    c.psql(
        &db,
        "TRUNCATE order_lines; ALTER TABLE order_lines DROP CONSTRAINT order_lines_tenant_id_order_id_fkey",
    )
    .expect("drop key");
    seed(c, &db, &plan, &[]).assert_ok();
    assert_eq!(
        sql(
            c,
            &db,
            "SELECT count(*) FROM order_lines l JOIN coupons k \
             ON k.tenant_id = l.tenant_id AND k.code = l.coupon_code"
        ),
        "40"
    );
}

/// `seed init` writes a plan every table of the schema is in that seeds as written.
#[test]
fn seed_init_writes_a_plan_that_runs() {
    let c = cluster();
    let src = loaded_db(c, "seed_init_src", "demo/app.sql");
    let out = run_cmd(
        restage()
            .args(["seed", "init", "--rows", "4", "--source"])
            .arg(c.url(&src)),
    );
    out.assert_ok();
    for expected in [
        "[tables.\"public.orders\"]",
        "email = { rule = \"email\" }  # text, by its name",
        "user_id = { rule = \"reference\", table = \"public.users\" }  # foreign key to public.users",
        "# status: has a default",
        "quantity = { rule = \"int_range\", min = 1, max = 1001 }",
        "plan = { rule = \"choice\", values = [\"free\", \"team\", \"enterprise\"] }",
        "# active: has a default",
        "slug = { rule = \"hash\", output = \"hex\" }  # CHECK pattern",
    ] {
        assert!(out.stdout.contains(expected), "{expected} missing in\n{}", out.stdout);
    }
    let empty = fresh_db(c, "seed_init_empty");
    let plan = plan_file("init.toml", &out.stdout);
    let run = run_cmd(
        restage()
            .args(["seed", "--quiet", "--target"])
            .arg(c.url(&empty))
            .arg("--schema-from")
            .arg(c.url(&src))
            .arg("--plan")
            .arg(&plan),
    );
    run.assert_ok();
    assert_eq!(sql(c, &empty, "SELECT count(*) FROM orders"), "4");
}

/// The shipped chinook plan: customers with invoices and lines for tracks already there.
#[test]
fn chinook_plan_seeds_customers_with_invoices_for_existing_tracks() {
    let c = cluster();
    let db = loaded_db(c, "seed_chinook", "chinook/Chinook_PostgreSql.sql");
    let before = sql(
        c,
        &db,
        "SELECT count(*), max(\"CustomerId\") FROM \"Customer\"",
    );
    let plan = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/chinook.toml");
    seed(c, &db, &plan, &[]).assert_ok();
    let (count, max) = before.split_once('|').expect("count|max");
    let count: i64 = count.parse().expect("count");
    let max: i64 = max.parse().expect("max");
    assert_eq!(
        sql(c, &db, "SELECT count(*) FROM \"Customer\""),
        (count + 100).to_string()
    );
    // Every generated customer has 2–6 invoices of 1–5 lines, each for an existing track.
    assert_eq!(
        sql(
            c,
            &db,
            &format!(
                "SELECT count(*), bool_and(n BETWEEN 2 AND 6) FROM (SELECT cu.\"CustomerId\", \
                 count(i.\"InvoiceId\") n FROM \"Customer\" cu LEFT JOIN \"Invoice\" i \
                 USING (\"CustomerId\") WHERE cu.\"CustomerId\" > {max} GROUP BY 1) s; \
                 SELECT bool_and(n BETWEEN 1 AND 5) FROM (SELECT count(*) n FROM \"InvoiceLine\" l \
                 JOIN \"Invoice\" i USING (\"InvoiceId\") WHERE i.\"CustomerId\" > {max} GROUP BY l.\"InvoiceId\") s"
            )
        ),
        "100|t\nt"
    );
}

/// A key closing a cycle is set through the primary key: one the plan leaves to the database
/// is named before anything is written; setting the key to "null" instead is accepted.
#[test]
fn closing_a_cycle_needs_a_generated_primary_key() {
    let c = cluster();
    let db = fresh_db(c, "seed_closing_key");
    c.psql(
        &db,
        "CREATE TABLE nodes (id text PRIMARY KEY DEFAULT md5(random()::text), \
                             parent_id text REFERENCES nodes);",
    )
    .expect("schema");
    let plan = plan_file("nodes.toml", "[tables.nodes]\nrows = 5\n");
    let run = seed(c, &db, &plan, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("(parent_id) closes a foreign-key cycle")
            && run.stderr.contains("left to the database"),
        "{}",
        run.stderr
    );
    assert_eq!(sql(c, &db, "SELECT count(*) FROM nodes"), "0");
    let plan = plan_file(
        "nodes_null.toml",
        "[tables.nodes]\nrows = 5\n[tables.nodes.columns]\nparent_id = \"null\"\n",
    );
    seed(c, &db, &plan, &[]).assert_ok();
    assert_eq!(
        sql(c, &db, "SELECT count(*), count(parent_id) FROM nodes"),
        "5|0"
    );
}

/// `seed --json` prints the run report every data command writes (docs/report.md): its steps,
/// one line per seeded table with the rows written, `synthetic` privacy; a plan whose rows break
/// a constraint writes a failed report naming the step.
#[test]
fn seed_writes_the_run_report() {
    let c = cluster();
    let db = fresh_db(c, "seed_report");
    c.psql(
        &db,
        "CREATE TABLE a (id int PRIMARY KEY, qty int CHECK (qty BETWEEN 1 AND 9)); \
         CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a (id));",
    )
    .expect("schema");
    let plan = plan_file(
        "report.toml",
        "[tables.a]\nrows = 4\n[tables.a.columns]\nqty = { rule = \"int_range\", min = 1, max = 9 }\n\
         [tables.b]\nrows = 6\n",
    );
    let run = run_cmd(
        restage()
            .args(["seed", "--json", "--target"])
            .arg(c.url(&db))
            .arg("--plan")
            .arg(&plan),
    );
    run.assert_ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("--json report");
    assert_run_report(&report, "seed");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["target_state"], "unmarked");
    assert_eq!(report["privacy"]["mode"], "synthetic");
    assert_eq!(report["totals"]["rows"], 10);
    let rows = |table: &str| {
        report["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|r| r["table"] == table))
            .map(|r| r["target_rows"].clone())
    };
    assert_eq!(rows("public.a"), Some(4.into()), "{report:#}");
    assert_eq!(rows("public.b"), Some(6.into()), "{report:#}");
    assert_eq!(sql(c, &db, "SELECT count(*) FROM b"), "6");

    let bad = plan_file(
        "report_bad.toml",
        "[tables.a]\nrows = 4\n[tables.a.columns]\nqty = { rule = \"int_range\", min = 50, max = 60 }\n",
    );
    let file = bad.with_extension("json");
    let run = run_cmd(
        restage()
            .args(["seed", "--quiet", "--report"])
            .arg(&file)
            .arg("--target")
            .arg(c.url(&db))
            .arg("--plan")
            .arg(&bad),
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("--report file"))
            .expect("report JSON");
    assert_run_report(&report, "seed");
    assert_eq!(report["status"], "failed");
    let last = report["steps"].as_array().and_then(|s| s.last()).cloned();
    assert_eq!(
        last.map(|s| (s["name"].clone(), s["outcome"].clone())),
        Some(("rows".into(), "failed".into()))
    );
}
