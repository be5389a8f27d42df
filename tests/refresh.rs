//! `restage refresh` on real PostgreSQL: an application polling the live database through a
//! refresh sees old or new data and at most its connection ended at the swap; a refresh killed
//! at any step, or failing verification, leaves the live database unchanged and serving;
//! `--rollback` brings the previous data back; the app role can use every table afterwards;
//! a second refresh refuses while one holds the environment's lock and names it.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use restage::provision::deliver::dotenv;

const KEY: &str = "restage-refresh-test-key-0123456789";
const EXIT_REFUSED: i32 = 4;
const EXIT_VERIFY_FAILED: i32 = 6;
const EXIT_PRIVILEGES: i32 = 9;

const RULES: &str = r#"
[tables."public.customers".columns]
id = "keep"
email = { rule = "email" }
gen = "keep"
[tables."public.orders".columns]
id = "keep"
customer_id = "keep"
total = "keep"
"#;

/// Production at generation `gen`: `rows` customers, each with two orders, all marked `gen`.
fn production_sql(gen: i32, rows: i32) -> String {
    format!(
        "DROP TABLE IF EXISTS orders, customers;
         CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, gen int NOT NULL);
         CREATE TABLE orders (id serial PRIMARY KEY,
                              customer_id int NOT NULL REFERENCES customers,
                              total numeric(10,2) CHECK (total >= 0));
         CREATE INDEX orders_customer ON orders (customer_id);
         INSERT INTO customers (email, gen)
           SELECT 'person' || g || '@example.org', {gen} FROM generate_series(1, {rows}) g;
         INSERT INTO orders (customer_id, total)
           SELECT c.id, k * 10 FROM customers c, generate_series(1, 2) k;"
    )
}

struct Env {
    dir: tempfile::TempDir,
    prefix: String,
    prod: String,
    /// The staging server's admin (`[target] admin_url_env`).
    admin_url: String,
}

impl Env {
    /// Production at generation 1 (100 customers), a provisioned staging environment.
    fn new(prefix: &str) -> Env {
        Env::with_admin(prefix, cluster().url("postgres"))
    }

    fn with_admin(prefix: &str, admin_url: String) -> Env {
        let pg = cluster();
        let prod = fresh_db(pg, &format!("{prefix}_prod"));
        sql(pg, &prod, &production_sql(1, 100));
        if admin_url != pg.url("postgres") {
            // What provision asks production's owner to run when its admin cannot (staging
            // shares production's instance here).
            sql(
                pg,
                "postgres",
                &format!(
                    "REVOKE CONNECT ON DATABASE {prod} FROM PUBLIC; \
                     GRANT CONNECT ON DATABASE {prod} TO postgres"
                ),
            );
        }
        let env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
            prefix: prefix.to_owned(),
            prod,
            admin_url,
        };
        std::fs::write(env.dir.path().join("rules.toml"), RULES).expect("rules");
        env.write_spec("");
        run_cmd(
            restage()
                .arg("provision")
                .arg("--env")
                .arg(env.spec())
                .arg("--quiet")
                .env("TEST_ADMIN_URL", &env.admin_url)
                .env("TEST_PROD_URL", pg.url(&env.prod)),
        )
        .assert_ok();
        env
    }

    fn live(&self) -> String {
        format!("{}_staging", self.prefix)
    }
    fn app(&self) -> String {
        format!("{}_app", self.prefix)
    }
    fn spec(&self) -> PathBuf {
        self.dir.path().join("env.toml")
    }

    fn write_spec(&self, refresh_extra: &str) {
        let text = format!(
            r#"
environment = "{environment}"
[source]
url_env = "TEST_PROD_URL"
keep_connect = ["postgres"]
[target]
admin_url_env = "TEST_ADMIN_URL"
[database]
name = "{prefix}_staging"
owner = "{prefix}_owner"
app_role = "{prefix}_app"
password_secret = "db_password"
connection_limit = 20
[secrets.db_password]
generate = {{ bytes = 24 }}
[[delivery]]
kind = "dotenv"
path = ".env.staging"
keys = {{ DB_PASSWORD = "db_password" }}
[refresh]
rules = "rules.toml"
key_env = "TEST_KEY"
grace = "0s"
{refresh_extra}
"#,
            prefix = self.prefix,
            environment = self.prefix.replace('_', "-")
        );
        std::fs::write(self.spec(), text).expect("spec");
    }

    fn refresh_command(&self, extra: &[&str]) -> std::process::Command {
        let pg = cluster();
        let mut cmd = restage();
        cmd.arg("refresh")
            .arg("--env")
            .arg(self.spec())
            .args(["--quiet", "--report"])
            .arg(self.report_path())
            .args(extra)
            .env("TEST_ADMIN_URL", &self.admin_url)
            .env("TEST_PROD_URL", pg.url(&self.prod))
            .env("TEST_KEY", KEY);
        cmd
    }

    fn refresh(&self, extra: &[&str]) -> Run {
        run_cmd(&mut self.refresh_command(extra))
    }

    fn report_path(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }

    fn report(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.report_path()).expect("the report");
        serde_json::from_str(&text).expect("report JSON")
    }

    /// The app role's URL for a database of the environment.
    fn app_url(&self, db: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(".env.staging")).expect("dotenv");
        let password = dotenv::parse(&text)
            .remove("DB_PASSWORD")
            .expect("DB_PASSWORD");
        format!(
            "postgresql://{}:{}@127.0.0.1:{}/{db}",
            self.app(),
            urlencode(password.expose()),
            cluster().port()
        )
    }

    /// `count, min(gen), max(gen)` of the live database's customers.
    fn generation(&self) -> String {
        scalar(
            &self.live(),
            "SELECT count(*) || ',' || min(gen) || ',' || max(gen) FROM customers",
        )
    }

    fn databases(&self) -> Vec<String> {
        scalar(
            "postgres",
            &format!(
                "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database \
                 WHERE datname LIKE '{}\\_staging%'",
                self.prefix
            ),
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    }

    fn update_production(&self, gen: i32, rows: i32) {
        sql(cluster(), &self.prod, &production_sql(gen, rows));
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn scalar(db: &str, query: &str) -> String {
    sql(cluster(), db, query).trim().to_owned()
}

/// The app role reads and writes every table (and its sequences) of `db`.
fn assert_app_can_use(env: &Env, db: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&env.app_url(db), tokio_postgres::NoTls)
            .await
            .expect("the app role connects");
        tokio::spawn(conn);
        client
            .batch_execute(
                "BEGIN;
                 INSERT INTO customers (email, gen) VALUES ('new@example.test', 0);
                 UPDATE customers SET gen = gen WHERE email = 'new@example.test';
                 INSERT INTO orders (customer_id, total)
                   SELECT id, 1 FROM customers WHERE email = 'new@example.test';
                 DELETE FROM orders WHERE total = 1;
                 DELETE FROM customers WHERE email = 'new@example.test';
                 SELECT count(*) FROM orders;
                 ROLLBACK;",
            )
            .await
            .unwrap_or_else(|e| panic!("the app role cannot use {db}: {e:?}"));
    });
}

/// What an application polling the live database saw.
#[derive(Default)]
struct Seen {
    results: Vec<String>,
    errors: Vec<String>,
    /// Longest time between two successful queries, in seconds.
    longest_gap: f64,
}

/// Polls `count, min(gen), max(gen)` every 50 ms over the live database's name as the app
/// role, reconnecting after any error, until `stop`.
fn poll(url: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut client: Option<tokio_postgres::Client> = None;
        let mut last_ok = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            if client.is_none() {
                match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                    Ok((c, conn)) => {
                        tokio::spawn(conn);
                        client = Some(c);
                    }
                    Err(e) => {
                        record_error(&seen, &e);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                }
            }
            let Some(c) = &client else { continue };
            match c
                .query_one(
                    "SELECT count(*)::text || ',' || min(gen) || ',' || max(gen) FROM customers",
                    &[],
                )
                .await
            {
                Ok(row) => {
                    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                    s.results.push(row.get(0));
                    s.longest_gap = s.longest_gap.max(last_ok.elapsed().as_secs_f64());
                    last_ok = Instant::now();
                }
                Err(e) => {
                    record_error(&seen, &e);
                    client = None;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

fn record_error(seen: &Mutex<Seen>, e: &tokio_postgres::Error) {
    let text = match e.as_db_error() {
        Some(db) => format!(
            "{} {} {}",
            db.code().code(),
            db.message(),
            db.detail().unwrap_or("")
        ),
        None => format!("closed: {e}"),
    };
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .errors
        .push(text);
}

/// An error the application may see at the swap: its session ended (57P01, or the socket
/// closing under it), or a reconnection made during the swap's transaction finding that the
/// database it looked up was renamed meanwhile (3D000, "just been dropped or renamed").
fn is_swap_interruption(error: &str) -> bool {
    error.starts_with("57P01")
        || error.starts_with("closed")
        || (error.starts_with("3D000") && error.contains("renamed"))
}

#[test]
fn the_application_sees_old_or_new_data_through_a_refresh_and_a_rollback() {
    let env = Env::new("refresh_poll");
    env.refresh(&[]).assert_ok();
    assert_eq!(env.generation(), "100,1,1");
    assert_app_can_use(&env, &env.live());
    // Nothing is owned by anyone but the environment's owner role.
    assert_eq!(
        scalar(
            &env.live(),
            "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public'"
        ),
        format!("{}_owner", env.prefix)
    );
    // Database-level settings, grants and the connection limit carry over to the new live.
    sql(
        cluster(),
        "postgres",
        &format!(
            "ALTER DATABASE {live} SET statement_timeout = '77s';
             ALTER DATABASE {live} SET search_path = \"$user\", public;
             ALTER DATABASE {live} CONNECTION LIMIT 17",
            live = env.live()
        ),
    );

    env.update_production(2, 150);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let poller = {
        let (url, stop, seen) = (env.app_url(&env.live()), stop.clone(), seen.clone());
        std::thread::spawn(move || poll(url, stop, seen))
    };
    std::thread::sleep(Duration::from_millis(300));
    let run = env.refresh(&[]);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    poller.join().expect("poller");
    run.assert_ok();

    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    let old = "100,1,1";
    let new = "150,2,2";
    assert!(
        seen.results.iter().all(|r| r == old || r == new),
        "a query saw something other than the old or the new data: {:?}",
        seen.results
    );
    let first_new = seen.results.iter().position(|r| r == new);
    let first_new =
        first_new.unwrap_or_else(|| panic!("never saw the new data: {:?}", seen.results));
    assert!(first_new > 0, "never saw the old data");
    assert!(
        seen.results[first_new..].iter().all(|r| r == new),
        "old data after new: {:?}",
        seen.results
    );
    assert!(
        seen.errors.iter().all(|e| is_swap_interruption(e)),
        "the application saw other errors: {:?}",
        seen.errors
    );
    eprintln!(
        "application during the swap: {} queries, errors {:?}, longest gap between answers {:.3}s",
        seen.results.len(),
        seen.errors,
        seen.longest_gap
    );

    let report = env.report();
    assert_eq!(report["status"], "ok");
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        steps,
        [
            "lock",
            "roles",
            "shadow",
            "clone",
            "verify",
            "swap",
            "retention"
        ]
    );
    assert_eq!(report["rows"], 450);
    assert!(report["rules_digest"]
        .as_str()
        .is_some_and(|d| d.len() == 64));
    assert_eq!(env.generation(), new);
    assert_app_can_use(&env, &env.live());
    assert_eq!(
        scalar(
            "postgres",
            &format!(
                "SELECT datconnlimit || ' ' || (SELECT array_to_string(setconfig, ' ') \
                 FROM pg_db_role_setting WHERE setdatabase = d.oid AND setrole = 0) \
                 FROM pg_database d WHERE datname = '{}'",
                env.live()
            )
        ),
        "17 statement_timeout=77s search_path=\"$user\", public"
    );
    // keep_previous = 1: exactly the replaced database is kept, with the old data.
    let previous = report["previous"].as_str().expect("previous").to_owned();
    assert_eq!(
        env.databases(),
        vec![env.live(), previous.clone()],
        "the live database and one previous one"
    );
    assert_eq!(
        scalar(
            &previous,
            "SELECT count(*) || ',' || min(gen) FROM customers"
        ),
        "100,1"
    );

    env.refresh(&["--rollback"]).assert_ok();
    assert_eq!(env.generation(), old);
    assert_app_can_use(&env, &env.live());
    assert_eq!(env.databases().len(), 2);
}

/// Starts a refresh that pauses before `step`, and kills it (SIGKILL) there.
fn kill_at(env: &Env, step: &str) {
    let (mut child, _) = paused_at(env, step);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

/// A refresh waiting before `step`, and the rest of its stderr.
fn paused_at(env: &Env, step: &str) -> (Child, std::io::Lines<BufReader<ChildStderr>>) {
    let mut child = env
        .refresh_command(&[])
        .env("RESTAGE_TEST_PAUSE_AT", step)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning restage");
    let lines = wait_for_pause(&mut child, step);
    (child, lines)
}

fn wait_for_pause(child: &mut Child, step: &str) -> std::io::Lines<BufReader<ChildStderr>> {
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let wanted = format!("paused at {step}");
    loop {
        match lines.next() {
            Some(Ok(line)) if line == wanted => return lines,
            Some(Ok(_)) => {}
            _ => {
                let _ = child.kill();
                panic!("the refresh ended before pausing at {step}");
            }
        }
    }
}

#[test]
fn a_refresh_killed_at_any_step_leaves_live_serving_and_holds_no_lock() {
    let env = Env::new("refresh_kill");
    env.refresh(&[]).assert_ok();
    env.update_production(2, 150);
    for step in [
        "lock",
        "roles",
        "shadow",
        "clone",
        "verify",
        "swap",
        "swap-commit",
    ] {
        kill_at(&env, step);
        assert_eq!(env.generation(), "100,1,1", "killed at {step}");
        assert_app_can_use(&env, &env.live());
    }
    // The next refresh takes the lock, drops the killed run's shadow and swaps.
    env.refresh(&[]).assert_ok();
    assert_eq!(env.generation(), "150,2,2");
    assert!(!env.databases().iter().any(|d| d.ends_with("_shadow")));
}

#[test]
fn a_refresh_stopped_by_sigterm_drops_its_shadow_and_leaves_live_serving() {
    // What Kubernetes does at a CronJob's deadline or a node drain: SIGTERM, then SIGKILL.
    let env = Env::new("refresh_term");
    env.refresh(&[]).assert_ok();
    env.update_production(2, 150);
    for step in ["clone", "verify", "swap"] {
        let (mut child, lines) = paused_at(&env, step);
        assert!(
            env.databases().iter().any(|d| d.ends_with("_shadow")),
            "no shadow at {step}: {:?}",
            env.databases()
        );
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill has no memory effects; the child is ours and not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(143), "at {step}: {rest:?}");
        let said = rest.join("\n");
        assert!(
            said.contains("interrupted by SIGTERM") && said.contains("dropped the shadow"),
            "at {step}: {said}"
        );
        assert_eq!(env.generation(), "100,1,1", "live changed at {step}");
        assert_app_can_use(&env, &env.live());
        assert!(
            !env.databases().iter().any(|d| d.ends_with("_shadow")),
            "the shadow survived SIGTERM at {step}: {:?}",
            env.databases()
        );
    }
    // Nothing is left holding the lock: the next refresh runs.
    env.refresh(&[]).assert_ok();
    assert_eq!(env.generation(), "150,2,2");
}

#[test]
fn a_platform_database_is_never_swapped() {
    // `platform = true`: the database holds the platform's schemas beside the application's;
    // renaming it away would take those too.
    let env = Env::new("refresh_plat");
    let spec = std::fs::read_to_string(env.spec()).expect("spec");
    std::fs::write(
        env.spec(),
        spec.replace(
            "connection_limit = 20\n",
            "connection_limit = 20\nplatform = true\n",
        ),
    )
    .expect("spec");
    let run = env.refresh(&[]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("platform = true"), "{}", run.stderr);
    assert!(run.stderr.contains("clone --schema"), "{}", run.stderr);
    assert!(!env.databases().iter().any(|d| d.ends_with("_shadow")));
}

#[test]
fn a_second_refresh_refuses_while_one_holds_the_lock_and_says_which() {
    let env = Env::new("refresh_lock");
    let mut first = env
        .refresh_command(&[])
        .env("RESTAGE_TEST_PAUSE_AT", "roles")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning restage");
    wait_for_pause(&mut first, "roles");
    let second = env.refresh(&["--lock-wait", "1s"]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.code, EXIT_REFUSED, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("another refresh of environment refresh-lock is running: pid")
            && second.stderr.contains("restage refresh refresh-lock"),
        "{}",
        second.stderr
    );
    assert_eq!(env.report()["failed_step"], "lock");
    // The killed holder's lock went with its session.
    env.refresh(&[]).assert_ok();
}

#[test]
fn a_refresh_failing_verification_leaves_live_untouched_and_drops_the_shadow() {
    let env = Env::new("refresh_verify");
    env.refresh(&[]).assert_ok();
    env.update_production(2, 150);
    // The seed breaks what production has: the shadow is incomplete, so it never goes live.
    std::fs::write(
        env.dir.path().join("seed.sql"),
        "ALTER TABLE orders DROP CONSTRAINT orders_total_check;",
    )
    .expect("seed");
    env.write_spec("seed_sql = \"seed.sql\"");
    let run = env.refresh(&[]);
    assert_eq!(run.code, EXIT_VERIFY_FAILED, "{}", run.stderr);
    assert!(
        run.stderr.contains("orders_total_check is missing"),
        "{}",
        run.stderr
    );
    let report = env.report();
    assert_eq!(report["failed_step"], "seed");
    assert_eq!(report["shadow_state"], "dropped");
    assert_eq!(env.generation(), "100,1,1");
    assert!(!env.databases().iter().any(|d| d.ends_with("_shadow")));

    let run = env.refresh(&["--keep-failed"]);
    assert_eq!(run.code, EXIT_VERIFY_FAILED, "{}", run.stderr);
    assert_eq!(env.report()["shadow_state"], "kept");
    assert!(env.databases().iter().any(|d| d.ends_with("_shadow")));
    assert_eq!(env.generation(), "100,1,1");

    // A seed that keeps the schema complete goes live with its rows.
    std::fs::write(
        env.dir.path().join("seed.sql"),
        "INSERT INTO customers (email, gen) VALUES ('qa@staging.test', 2);",
    )
    .expect("seed");
    env.refresh(&[]).assert_ok();
    assert_eq!(env.generation(), "151,2,2");
}

#[test]
fn verification_failures_before_the_seed_are_verify_failures() {
    let env = Env::new("refresh_leak");
    env.refresh(&[]).assert_ok();
    // A table that keeps production emails the rules sanitize elsewhere: verify's sweep finds
    // them in the shadow.
    sql(
        cluster(),
        &env.prod,
        "CREATE TABLE audit (id int PRIMARY KEY, who text);
         INSERT INTO audit SELECT id, email FROM customers;",
    );
    std::fs::write(
        env.dir.path().join("rules.toml"),
        format!("{RULES}[tables.\"public.audit\".columns]\nid = \"keep\"\nwho = \"keep\"\n"),
    )
    .expect("rules");
    let run = env.refresh(&[]);
    assert_eq!(run.code, EXIT_VERIFY_FAILED, "{}", run.stderr);
    assert_eq!(env.report()["failed_step"], "verify");
    assert_eq!(env.generation(), "100,1,1");
    assert!(!env.databases().iter().any(|d| d.ends_with("_shadow")));
}

/// `restage` with the environment's production and admin URLs and key.
fn command_for(env: &Env, args: &[&str]) -> std::process::Command {
    let mut cmd = restage();
    cmd.args(args)
        .env("RESTAGE_SOURCE", cluster().url(&env.prod))
        .env("RESTAGE_KEY", KEY);
    cmd
}

#[test]
fn clone_restore_and_reset_with_owner_give_the_app_role_a_usable_database() {
    let env = Env::new("owner_cmds");
    let owner = format!("{}_owner", env.prefix);
    let live_url = cluster().url(&env.live());
    let rules = env.dir.path().join("rules.toml");
    let rules = rules.to_str().expect("path");
    let owners = |db: &str| {
        scalar(
            db,
            "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public'",
        )
    };

    // Into the provisioned database, then again with --clean (which drops the schema and the
    // default privileges in it).
    for extra in [&[][..], &["--clean"][..]] {
        let mut args = vec!["clone", "--quiet", "--target", &live_url, "--rules", rules];
        args.extend(["--owner", &owner]);
        args.extend(extra);
        run_cmd(&mut command_for(&env, &args)).assert_ok();
        assert_eq!(owners(&env.live()), owner, "clone {extra:?}");
        assert_app_can_use(&env, &env.live());
    }

    let snap = env.dir.path().join("snap");
    let snap = snap.to_str().expect("path");
    run_cmd(&mut command_for(
        &env,
        &["snapshot", "--quiet", "--rules", rules, "--out", snap],
    ))
    .assert_ok();
    run_cmd(&mut command_for(
        &env,
        &[
            "restore", snap, "--quiet", "--clean", "--target", &live_url, "--owner", &owner,
        ],
    ))
    .assert_ok();
    assert_eq!(owners(&env.live()), owner);
    assert_app_can_use(&env, &env.live());

    let template = format!("{}_fixture", env.prefix);
    run_cmd(&mut command_for(
        &env,
        &[
            "restore",
            snap,
            "--quiet",
            "--target",
            &live_url,
            "--as-template",
            &template,
            "--owner",
            &owner,
        ],
    ))
    .assert_ok();
    run_cmd(&mut command_for(
        &env,
        &[
            "reset",
            &template,
            "--target-db",
            &env.live(),
            "--force",
            "--target",
            &cluster().url("postgres"),
        ],
    ))
    .assert_ok();
    assert_eq!(owners(&env.live()), owner);
    assert_app_can_use(&env, &env.live());
}

#[test]
fn a_non_superuser_admin_refreshes_once_it_may_end_the_applications_sessions() {
    // Managed services give a CREATEROLE/CREATEDB admin, not a superuser.
    let admin = "refresh_nonsuper_admin";
    sql(
        cluster(),
        "postgres",
        &format!("CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB PASSWORD 'admin-pw-for-tests'"),
    );
    let admin_url = format!(
        "postgresql://{admin}:admin-pw-for-tests@127.0.0.1:{}/postgres",
        cluster().port()
    );
    let env = Env::with_admin("refresh_nonsuper", admin_url);
    let run = env.refresh(&[]);
    assert_eq!(run.code, EXIT_PRIVILEGES, "{}", run.stderr);
    assert!(run.stderr.contains("pg_signal_backend"), "{}", run.stderr);
    assert!(!env.databases().iter().any(|d| d.ends_with("_shadow")));

    sql(
        cluster(),
        "postgres",
        &format!("GRANT pg_signal_backend TO {admin}"),
    );
    env.refresh(&[]).assert_ok();
    assert_app_can_use(&env, &env.live());
    // An application session on the live database is ended at the next swap.
    env.update_production(2, 150);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (client, conn) = rt
        .block_on(tokio_postgres::connect(
            &env.app_url(&env.live()),
            tokio_postgres::NoTls,
        ))
        .expect("the app role connects");
    let connection = rt.spawn(conn);
    env.refresh(&[]).assert_ok();
    assert_eq!(env.generation(), "150,2,2");
    let ended = env.report()["swap"]["terminated_sessions"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(ended, 1);
    assert!(rt.block_on(client.simple_query("SELECT 1")).is_err());
    drop(connection);
}

/// Staging's test accounts: generated next to the sanitized copy, the same ones every month.
const SEED_PLAN: &str = r#"seed = 7
[tables."public.customers"]
rows = 5
[tables."public.customers".columns]
email = { rule = "email", mail_domain = "qa.staging.test" }
gen = { rule = "constant", value = "0" }
[tables."public.orders"]
per_parent = { table = "public.customers", min = 2, max = 2 }
[tables."public.orders".columns]
customer_id = { rule = "reference", table = "public.customers" }
total = { rule = "decimal_range", min = 1, max = 99, scale = 2 }
"#;

#[test]
fn a_seed_plan_runs_in_the_shadow_and_comes_back_after_every_refresh() {
    let env = Env::new("refresh_plan");
    std::fs::create_dir_all(env.dir.path().join("seeds")).expect("seeds dir");
    std::fs::write(env.dir.path().join("seeds/staging.toml"), SEED_PLAN).expect("plan");
    std::fs::write(
        env.dir.path().join("seed.sql"),
        "INSERT INTO customers (email, gen) VALUES ('admin@staging.test', 0);",
    )
    .expect("seed");
    env.write_spec("seed_sql = \"seed.sql\"\nseed_plan = \"seeds/staging.toml\"");
    let seeded = |env: &Env| {
        scalar(
            &env.live(),
            "SELECT string_agg(c.email || ':' || (SELECT count(*) FROM orders o \
                    WHERE o.customer_id = c.id), ',' ORDER BY c.email) \
             FROM customers c WHERE gen = 0",
        )
    };
    env.refresh(&[]).assert_ok();
    // The sanitized clone and the plan's rows (with the SQL file's) together in the new live
    // database.
    assert_eq!(env.generation(), "106,0,1");
    let first = seeded(&env);
    assert!(first.contains("admin@staging.test:0"), "{first}");
    assert_eq!(first.matches("@qa.staging.test:2").count(), 5, "{first}");
    let step = env.report()["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == "seed")
        .cloned()
        .expect("a seed step");
    let detail = step["detail"].as_str().expect("detail");
    assert!(
        detail.contains("public.customers 5 rows") && detail.contains("public.orders 10 rows"),
        "{detail}"
    );

    // Next month: production is new, the test accounts are the same ones.
    env.update_production(2, 120);
    env.refresh(&[]).assert_ok();
    assert_eq!(env.generation(), "126,0,2");
    assert_eq!(seeded(&env), first);
}

#[test]
fn a_bad_seed_plan_refuses_before_the_shadow_exists() {
    let env = Env::new("refresh_badplan");
    env.refresh(&[]).assert_ok();
    env.update_production(2, 150);
    std::fs::write(
        env.dir.path().join("plan.toml"),
        "[tables.\"public.customers\"]\nrows = 1\nrow = 2\n",
    )
    .expect("plan");
    env.write_spec("seed_plan = \"plan.toml\"");
    let run = env.refresh(&["--keep-failed"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("plan.toml:3:1"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown key `row`"), "{}", run.stderr);
    assert_eq!(env.report()["steps"].as_array().map(Vec::len), Some(0));
    assert!(!env.databases().iter().any(|d| d.ends_with("_shadow")));
    assert_eq!(env.generation(), "100,1,1");
}

/// A rules file with `where`/`percent`: the shadow holds a subset, and the refresh's
/// verification compares it with the rows that subset selects, not with whole tables.
#[test]
fn a_refresh_with_a_filtered_rules_file_verifies_its_subset() {
    let env = Env::new("refresh_subset");
    std::fs::write(
        env.dir.path().join("rules.toml"),
        format!("{RULES}[tables.\"public.customers\"]\nwhere = \"id <= 40\"\n"),
    )
    .expect("rules");
    let run = env.refresh(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.generation(), "40,1,1");
    assert_eq!(scalar(&env.live(), "SELECT count(*) FROM orders"), "80");
}
