//! `restage provision` against a real PostgreSQL (started with `log_statement=all`): the
//! second run changes nothing, the app role logs in with the generated password through a
//! SCRAM verifier, the password never reaches the server log or any output, rotation,
//! guards, and concurrent runs serializing on the advisory lock.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use restage::conn::{ConnSpec, Secret};
use restage::localpg::{Cluster, ClusterOptions};
use restage::provision::deliver::dotenv;

const EXIT_DRIFT: i32 = 2;
const EXIT_REFUSED: i32 = 4;
const EXIT_PRIVILEGES: i32 = 9;

static LOGGED: OnceLock<Cluster> = OnceLock::new();

/// This binary's cluster logs every statement, so tests can prove no password is in it. It is the
/// system's PostgreSQL, or the major named by `RESTAGE_TEST_PROVISION_PG` (from restage's cache
/// of majors, `scripts/pg-versions.sh`): role options, predefined roles and the privileges on
/// `public` differ between majors.
fn pg() -> &'static Cluster {
    LOGGED.get_or_init(|| {
        let options = ClusterOptions::new("provision").setting("log_statement", "all");
        match std::env::var("RESTAGE_TEST_PROVISION_PG") {
            Ok(major) if !major.trim().is_empty() => {
                let major: u32 = major.trim().parse().unwrap_or_else(|_| {
                    panic!("RESTAGE_TEST_PROVISION_PG: {major:?} is not a major version")
                });
                let pg = start(options.bindir(&installed_bindir(major)));
                assert_eq!(pg.version().major, major);
                pg
            }
            _ => start(options),
        }
    })
}

struct Env {
    dir: tempfile::TempDir,
    prefix: String,
    prod_db: String,
}

impl Env {
    /// A production database with a table, and names unique to this test.
    fn new(prefix: &str) -> Env {
        let pg = pg();
        let prod_db = fresh_db(pg, &format!("{prefix}_prod"));
        sql(
            pg,
            &prod_db,
            "CREATE TABLE customers (id int primary key, email text)",
        );
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            prefix: prefix.to_owned(),
            prod_db,
        }
    }

    fn staging_db(&self) -> String {
        format!("{}_staging", self.prefix)
    }
    fn app(&self) -> String {
        format!("{}_app", self.prefix)
    }
    fn owner(&self) -> String {
        format!("{}_owner", self.prefix)
    }
    fn dotenv(&self) -> PathBuf {
        self.dir.path().join(".env.staging")
    }

    /// Writes a spec; `extra` is appended, `db` overrides the staging database name.
    fn spec(&self, db: &str, extra: &str) -> PathBuf {
        let text = format!(
            r#"
environment = "staging"
[source]
url_env = "TEST_PROD_URL"
keep_connect = ["postgres"]
[target]
admin_url_env = "TEST_ADMIN_URL"
[database]
name = "{db}"
owner = "{owner}"
app_role = "{app}"
password_secret = "db_password"
connection_limit = 10
extensions = ["pgcrypto"]
[secrets.db_password]
generate = {{ bytes = 24 }}
[secrets.database_url]
derive = "url"
[secrets.session]
generate = {{ bytes = 32, encoding = "hex" }}
[[delivery]]
kind = "dotenv"
path = ".env.staging"
keys = {{ DATABASE_URL = "database_url", DB_PASSWORD = "db_password", SESSION_SECRET = "session" }}
literals = {{ APP_ENV = "staging" }}
{extra}
"#,
            owner = self.owner(),
            app = self.app(),
        );
        let path = self.dir.path().join("env.toml");
        std::fs::write(&path, text).expect("writing the spec");
        path
    }

    fn run(&self, spec: &Path, extra: &[&str]) -> Run {
        run_cmd(&mut self.command(spec, extra))
    }

    fn command(&self, spec: &Path, extra: &[&str]) -> std::process::Command {
        let pg = pg();
        let mut cmd = restage();
        cmd.arg("provision")
            .arg("--env")
            .arg(spec)
            .args(extra)
            .env("TEST_ADMIN_URL", pg.url("postgres"))
            .env("TEST_PROD_URL", pg.url(&self.prod_db));
        cmd
    }

    fn password(&self) -> Secret {
        let text = std::fs::read_to_string(self.dotenv()).expect("the dotenv delivery");
        dotenv::parse(&text)
            .remove("DB_PASSWORD")
            .expect("DB_PASSWORD in the dotenv file")
    }

    /// Catalog rows that provisioning touches, with their xmin (a rewrite changes it).
    fn catalog(&self) -> String {
        let pg = pg();
        let admin = sql(
            pg,
            "postgres",
            &format!(
                "SELECT xmin, rolname, rolcanlogin, rolconnlimit FROM pg_authid WHERE rolname IN ('{a}','{o}') ORDER BY 2; \
                 SELECT xmin, datname, datdba, datacl FROM pg_database WHERE datname IN ('{s}', '{p}') ORDER BY 2",
                a = self.app(),
                o = self.owner(),
                s = self.staging_db(),
                p = self.prod_db
            ),
        );
        let inside = sql(
            pg,
            &self.staging_db(),
            "SELECT xmin, defaclobjtype, defaclacl FROM pg_default_acl ORDER BY 2; \
             SELECT xmin, nspname, nspacl FROM pg_namespace WHERE nspname = 'public'; \
             SELECT xmin, extname FROM pg_extension ORDER BY 2",
        );
        format!("{admin}\n{inside}")
    }
}

fn login(db: &str, user: &str, password: &Secret) -> Result<String, String> {
    as_login(db, user, password, "SELECT current_user::text")
}

#[track_caller]
fn assert_no_secret(run: &Run, secret: &Secret) {
    assert!(!secret.expose().is_empty());
    assert!(
        !run.stdout.contains(secret.expose()) && !run.stderr.contains(secret.expose()),
        "a secret value appeared in the output"
    );
}

#[test]
fn second_run_changes_nothing_and_the_app_role_logs_in() {
    let env = Env::new("twice");
    let spec = env.spec(&env.staging_db(), "");
    // A dry run plans everything and creates nothing.
    let dry = env.run(&spec, &["--dry-run"]);
    dry.assert_ok();
    assert!(dry.stdout.contains("dry run: "), "{}", dry.stdout);
    assert!(!env.dotenv().exists(), "a dry run wrote the dotenv file");
    let roles = format!(
        "SELECT count(*) FROM pg_roles WHERE rolname IN ('{}', '{}')",
        env.app(),
        env.owner()
    );
    assert_eq!(
        sql(pg(), "postgres", &roles),
        "0",
        "a dry run created roles"
    );
    let check = env.run(&spec, &["--check"]);
    assert_eq!(check.code, EXIT_DRIFT, "{}", check.stderr);

    let first = env.run(&spec, &[]);
    first.assert_ok();
    assert_eq!(sql(pg(), "postgres", &roles), "2");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.dotenv())
        .expect("dotenv")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the dotenv file is readable by others");
    assert!(first.stdout.contains("+ postgres"), "{}", first.stdout);
    assert!(
        first.stdout.contains(&format!("role {}", env.app())),
        "{}",
        first.stdout
    );
    let before = env.catalog();

    let second = env.run(&spec, &[]);
    second.assert_ok();
    let changed: Vec<&str> = second
        .stdout
        .lines()
        .filter(|l| l.starts_with(['+', '~']))
        .collect();
    assert!(
        changed.is_empty(),
        "second run changed something: {changed:?}"
    );
    assert!(
        second.stdout.contains("0 to create, 0 to change"),
        "{}",
        second.stdout
    );
    assert_eq!(
        before,
        env.catalog(),
        "catalog rows were rewritten by the second run"
    );

    // --check agrees: nothing pending.
    env.run(&spec, &["--check"]).assert_ok();

    let password = env.password();
    for run in [&first, &second] {
        assert_no_secret(run, &password);
    }
    assert_eq!(
        login(&env.staging_db(), &env.app(), &password).as_deref(),
        Ok(env.app().as_str())
    );
    let verifier = sql(
        pg(),
        "postgres",
        &format!(
            "SELECT rolpassword FROM pg_authid WHERE rolname = '{}'",
            env.app()
        ),
    );
    assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
    assert_eq!(
        sql(
            pg(),
            "postgres",
            &format!(
                "SELECT rolcanlogin FROM pg_authid WHERE rolname = '{}'",
                env.owner()
            )
        ),
        "f"
    );

    // The app role reads and writes tables the owner creates later (default privileges),
    // and cannot connect to production.
    sql(
        pg(),
        &env.staging_db(),
        &format!("SET ROLE {}; CREATE TABLE later (x int)", env.owner()),
    );
    let privs = sql(
        pg(),
        &env.staging_db(),
        &format!(
            "SELECT has_table_privilege('{a}', 'later', 'INSERT'), has_database_privilege('{a}', '{p}', 'CONNECT'), \
                    has_database_privilege('{a}', '{s}', 'CONNECT')",
            a = env.app(),
            p = env.prod_db,
            s = env.staging_db()
        ),
    );
    assert_eq!(privs, "t|f|t");
    assert!(login(&env.prod_db, &env.app(), &password).is_err());

    // Drift is detected: --check exits 2 and says what changes.
    sql(
        pg(),
        "postgres",
        &format!("ALTER ROLE {} CONNECTION LIMIT 3", env.app()),
    );
    let check = env.run(&spec, &["--check"]);
    assert_eq!(check.code, EXIT_DRIFT, "{}\n{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("connection limit 3 → 10"),
        "{}",
        check.stdout
    );
    let json = env.run(&spec, &["--check", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON plan");
    assert!(plan["lines"]
        .as_array()
        .is_some_and(|l| l.iter().any(|x| x["op"] == "change")));
    env.run(&spec, &[]).assert_ok();
    env.run(&spec, &["--check"]).assert_ok();

    // The server log saw every statement, never the password.
    let log = pg().log();
    assert!(
        log.contains("CREATE ROLE"),
        "log_statement=all is not in effect"
    );
    assert!(
        !log.contains(password.expose()),
        "the password is in the server log"
    );
}

#[test]
fn rotation_replaces_the_password_and_names_the_deliveries() {
    let env = Env::new("rotate");
    let spec = env.spec(&env.staging_db(), "");
    env.run(&spec, &[]).assert_ok();
    let old = env.password();
    let session_before =
        dotenv::parse(&std::fs::read_to_string(env.dotenv()).unwrap())["SESSION_SECRET"].clone();

    let run = env.run(&spec, &["--rotate", "db_password"]);
    run.assert_ok();
    let new = env.password();
    assert_ne!(old.expose(), new.expose());
    assert!(
        run.stdout.contains(
            "rotated db_password: changed in postgres (role password), dotenv(.env.staging)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("changed: DATABASE_URL, DB_PASSWORD"),
        "{}",
        run.stdout
    );
    assert_no_secret(&run, &old);
    assert_no_secret(&run, &new);
    assert!(
        login(&env.staging_db(), &env.app(), &old).is_err(),
        "the old password still works"
    );
    assert_eq!(
        login(&env.staging_db(), &env.app(), &new).as_deref(),
        Ok(env.app().as_str())
    );
    // The other secret was reused.
    let session_after =
        dotenv::parse(&std::fs::read_to_string(env.dotenv()).unwrap())["SESSION_SECRET"].clone();
    assert_eq!(session_before.expose(), session_after.expose());
    assert!(!pg().log().contains(new.expose()));

    let bad = env.run(&spec, &["--rotate", "database_url"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("not a generated secret"),
        "{}",
        bad.stderr
    );
}

#[test]
fn guards_refuse_production() {
    let env = Env::new("guard");
    // The staging database is production's.
    let spec = env.spec(&env.prod_db, "");
    let run = env.run(&spec, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("is the production database itself"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("system_identifier"), "{}", run.stderr);
    let roles = sql(
        pg(),
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
            env.app()
        ),
    );
    assert_eq!(roles, "0", "a refused run created roles");

    // A supplied key that is a live key, or production's own: refused, never printed.
    let extra = "[secrets.stripe]\nfrom_env = \"TEST_STRIPE\"\nmust_match = \"^sk_test_\"\nproduction_env = \"TEST_PROD_STRIPE\"\n";
    let spec = env.spec(&env.staging_db(), extra);
    let live = "sk_live_do_not_print_4242";
    let run = run_cmd(env.command(&spec, &[]).env("TEST_STRIPE", live));
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(
        run.stderr.contains("does not match the required pattern"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run, &Secret::new(live));
    let same = "sk_test_shared_with_production_77";
    let run = run_cmd(
        env.command(&spec, &[])
            .env("TEST_STRIPE", same)
            .env("TEST_PROD_STRIPE", same),
    );
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(
        run.stderr.contains("equals the production value"),
        "{}",
        run.stderr
    );
    assert_no_secret(&run, &Secret::new(same));

    // Shared instance without a way to close production to the staging roles.
    let spec = env.spec(&env.staging_db(), "");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("keep_connect = [\"postgres\"]\n", "");
    std::fs::write(&spec, text).unwrap();
    let run = env.run(&spec, &[]);
    assert_eq!(run.code, EXIT_REFUSED, "{}", run.stderr);
    assert!(run.stderr.contains("PUBLIC may connect"), "{}", run.stderr);
}

#[test]
fn concurrent_runs_serialize() {
    let env = Env::new("concurrent");
    let spec = env.spec(&env.staging_db(), "");
    let a = env
        .command(&spec, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let b = env
        .command(&spec, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let ra = Run::from(a.wait_with_output().expect("wait"));
    let rb = Run::from(b.wait_with_output().expect("wait"));
    ra.assert_ok();
    rb.assert_ok();
    // One run created everything; the other waited for the lock and found it in place.
    let creates = |r: &Run| r.stdout.lines().filter(|l| l.starts_with('+')).count();
    let (ca, cb) = (creates(&ra), creates(&rb));
    assert!(
        (ca > 0 && cb == 0) || (ca == 0 && cb > 0),
        "both runs created objects:\n{}\n---\n{}",
        ra.stdout,
        rb.stdout
    );
    let password = env.password();
    assert_eq!(
        login(&env.staging_db(), &env.app(), &password).as_deref(),
        Ok(env.app().as_str())
    );
}

#[test]
fn spec_errors_are_reported_together_with_positions() {
    let env = Env::new("badspec");
    let path = env.dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "environment = \"Staging!\"\n[target]\nadmin_url_env = \"X\"\n[database]\nname = \"Bad-Name\"\nowner = \"o\"\napp_role = \"a\"\npassword_secret = \"missing\"\n",
    )
    .unwrap();
    let run = env.run(&path, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("3 problems"), "{}", run.stderr);
    assert!(run.stderr.contains("bad.toml:1:15"), "{}", run.stderr);
    assert!(run.stderr.contains("bad.toml:5:8"), "{}", run.stderr);
    assert!(run.stderr.contains("bad.toml:8:19"), "{}", run.stderr);
}

#[test]
fn the_password_is_recovered_from_a_delivered_url() {
    let env = Env::new("fromurl");
    let spec = env.spec(&env.staging_db(), "");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("DB_PASSWORD = \"db_password\", ", "");
    std::fs::write(&spec, text).unwrap();
    env.run(&spec, &[]).assert_ok();
    let second = env.run(&spec, &["--check"]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
}

#[test]
fn gitops_with_sealed_secrets_and_a_state_file_is_stable() {
    let env = Env::new("gitops");
    let cert = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/envs/sealed-secrets-cert.pem");
    let extra = format!(
        r#"
[kubernetes]
namespace = "app-staging"
quota = {{ cpu = "4", memory = "8Gi" }}
network_policy = {{ egress = [{{ cidr = "10.0.0.0/8", ports = [5432] }}] }}
[[kubernetes.secrets]]
name = "app-database"
keys = {{ DATABASE_URL = "database_url" }}
[[delivery]]
kind = "gitops"
dir = "deploy"
secret_format = "sealed"
sealing_cert = "{cert}"
[[delivery]]
kind = "json"
path = "-"
"#,
        cert = cert.display()
    );
    let spec = env.spec(&env.staging_db(), &extra);
    // Keep generated values in a state file too, and drop the dotenv delivery: the
    // state file alone must carry the values across runs.
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "environment = \"staging\"\n",
        "environment = \"staging\"\nstate_file = \"state.json\"\n",
    );
    let start = text
        .find("[[delivery]]\nkind = \"dotenv\"")
        .expect("dotenv delivery");
    let end = start + text[start..].find("literals").expect("literals");
    let end = end + text[end..].find('\n').unwrap_or(0) + 1;
    let text = format!("{}{}", &text[..start], &text[end..]);
    std::fs::write(&spec, text).unwrap();

    let first = env.run(&spec, &[]);
    first.assert_ok();
    // The JSON delivery owns stdout; the plan went to stderr.
    let doc: serde_json::Value = serde_json::from_str(&first.stdout).expect("JSON on stdout");
    let url = doc["secrets"][0]["data"]["DATABASE_URL"]
        .as_str()
        .expect("DATABASE_URL")
        .to_owned();
    assert!(
        first.stderr.contains("+ gitops(deploy)"),
        "{}",
        first.stderr
    );
    let deploy = env.dir.path().join("deploy");
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .expect("deploy dir")
            .map(|e| {
                let p = e.expect("entry").path();
                (p.display().to_string(), std::fs::read(&p).expect("file"))
            })
            .collect();
        v.sort();
        v
    };
    let before = files(&deploy);
    assert!(before.len() >= 6, "{before:?}");
    for (name, content) in &before {
        let text = String::from_utf8_lossy(content);
        assert!(
            !text.contains("kind: Secret\n"),
            "{name} is a plaintext Secret"
        );
        assert!(!text.contains(&url), "{name} holds a value in clear");
    }
    use std::os::unix::fs::PermissionsExt;
    let state = env.dir.path().join("state.json");
    assert_eq!(
        std::fs::metadata(&state)
            .expect("state")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let second = env.run(&spec, &["--quiet"]);
    second.assert_ok();
    assert_eq!(before, files(&deploy), "a re-run churned the GitOps files");
    let again: serde_json::Value = serde_json::from_str(&second.stdout).expect("JSON");
    assert_eq!(
        again["secrets"][0]["data"]["DATABASE_URL"].as_str(),
        Some(url.as_str())
    );
    env.run(&spec, &["--check"]).assert_ok();

    // The refresh CronJob needs [refresh].
    let run = env.run(&spec, &["--print-cronjob"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no [refresh] section"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_separate_production_instance_needs_no_connect_changes() {
    // Production on its own server: the guards compare system identifiers, find two
    // instances, and touch nothing on production (not even with the same database name).
    let prod = start(ClusterOptions::new("provision-prod"));
    prod.create_database("sep_staging")
        .expect("production database");
    let env = Env::new("sep");
    let spec = env.spec(&env.staging_db(), "");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("keep_connect = [\"postgres\"]\n", "");
    std::fs::write(&spec, text).unwrap();
    let run = run_cmd(env.command(&spec, &[]).env(
        "TEST_PROD_URL",
        prod.url("sep_staging").replace("127.0.0.1", "localhost"),
    ));
    run.assert_ok();
    assert!(!run.stdout.contains("(production)"), "{}", run.stdout);
    let acl = prod.psql(
        "postgres",
        "SELECT datacl IS NULL FROM pg_database WHERE datname = 'sep_staging'",
    );
    assert_eq!(acl.expect("datacl"), "t", "production's ACL changed");
}

#[test]
fn a_non_superuser_admin_provisions_and_converges() {
    // Managed services give a CREATEROLE/CREATEDB role, not a superuser: pg_authid is out of
    // reach (the password is checked by logging in) and the admin must act for the owner.
    let env = Env::new("nonsuper");
    let admin = "nonsuper_admin";
    let admin_password = "admin-pw-for-tests-only";
    sql(
        pg(),
        "postgres",
        &format!("CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB PASSWORD '{admin_password}'"),
    );
    let spec = env.spec(&env.staging_db(), "");
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "[source]\nurl_env = \"TEST_PROD_URL\"\nkeep_connect = [\"postgres\"]\n",
        "",
    );
    std::fs::write(&spec, text).unwrap();
    let admin_url = format!(
        "postgresql://{admin}:{admin_password}@127.0.0.1:{}/postgres",
        pg().port()
    );
    let run = |extra: &[&str]| run_cmd(env.command(&spec, extra).env("TEST_ADMIN_URL", &admin_url));
    let first = run(&[]);
    first.assert_ok();
    let membership = format!("membership {}", env.owner());
    assert!(
        first
            .stdout
            .lines()
            .any(|l| l.starts_with("+ postgres") && l.contains(&membership)),
        "{}",
        first.stdout
    );
    let second = run(&["--check"]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let password = env.password();
    assert_eq!(
        login(&env.staging_db(), &env.app(), &password).as_deref(),
        Ok(env.app().as_str())
    );
    // A password changed behind restage's back is detected by logging in, and reset.
    sql(
        pg(),
        "postgres",
        &format!("ALTER ROLE {} PASSWORD 'changed-elsewhere'", env.app()),
    );
    let drift = run(&["--check"]);
    assert_eq!(drift.code, EXIT_DRIFT, "{}\n{}", drift.stdout, drift.stderr);
    assert!(drift.stdout.contains("password →"), "{}", drift.stdout);
    run(&[]).assert_ok();
    assert_eq!(
        login(&env.staging_db(), &env.app(), &password).as_deref(),
        Ok(env.app().as_str())
    );
}

/// Whether PUBLIC holds CONNECT on a database (`has_database_privilege` takes no PUBLIC).
fn public_may_connect(db: &str) -> String {
    sql(
        pg(),
        "postgres",
        &format!(
            "SELECT EXISTS (SELECT 1 FROM pg_database d, \
               aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
             WHERE d.datname = '{db}' AND a.grantee = 0 AND a.privilege_type = 'CONNECT')"
        ),
    )
}

#[test]
fn an_admin_that_does_not_own_production_says_what_the_owner_must_run() {
    // Managed services (RDS, Cloud SQL, Supabase): the admin has CREATEROLE and CREATEDB but
    // does not own the production database, so `REVOKE CONNECT … FROM PUBLIC` there only
    // draws a warning and changes nothing. Provisioning must not claim the change, must not
    // leave a staging role able to connect to production, and must say what to run as owner.
    let env = Env::new("notowner");
    let admin = "notowner_admin";
    let admin_password = "admin-pw-for-tests-only";
    sql(
        pg(),
        "postgres",
        &format!("CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB PASSWORD '{admin_password}'"),
    );
    let spec = env.spec(&env.staging_db(), "");
    let admin_url = format!(
        "postgresql://{admin}:{admin_password}@127.0.0.1:{}/postgres",
        pg().port()
    );
    let run = |extra: &[&str]| run_cmd(env.command(&spec, extra).env("TEST_ADMIN_URL", &admin_url));
    let revoke = format!(
        "REVOKE CONNECT ON DATABASE \"{}\" FROM PUBLIC;",
        env.prod_db
    );
    let roles = format!(
        "SELECT count(*) FROM pg_roles WHERE rolname IN ('{}', '{}')",
        env.app(),
        env.owner()
    );

    // The plan says the change cannot be made by this admin, in both planning modes.
    for mode in ["--dry-run", "--check"] {
        let planned = run(&[mode]);
        assert_eq!(
            planned.code, EXIT_PRIVILEGES,
            "{mode}\n{}\n{}",
            planned.stdout, planned.stderr
        );
        assert!(
            planned
                .stdout
                .lines()
                .any(|l| l.contains("(production)") && l.contains("cannot be made by this admin")),
            "{mode}: {}",
            planned.stdout
        );
        assert!(
            planned.stderr.contains(&revoke),
            "{mode}: {}",
            planned.stderr
        );
    }

    // The run fails before changing anything, names what the admin lacks and the owner.
    let first = run(&[]);
    assert_eq!(
        first.code, EXIT_PRIVILEGES,
        "{}\n{}",
        first.stdout, first.stderr
    );
    assert!(
        !first
            .stdout
            .lines()
            .any(|l| l.starts_with(['~', '+']) && l.contains("(production)")),
        "a change that did not happen was reported: {}",
        first.stdout
    );
    for needle in [
        revoke.as_str(),
        "GRANT CONNECT ON DATABASE",
        admin,
        "as postgres",
        "does not own",
    ] {
        assert!(
            first.stderr.contains(needle),
            "missing {needle:?} in: {}",
            first.stderr
        );
    }
    assert_eq!(public_may_connect(&env.prod_db), "t");
    assert_eq!(
        sql(pg(), "postgres", &roles),
        "0",
        "a refused run created the staging roles"
    );

    // The owner runs exactly what the message says; then provisioning converges.
    let fix: Vec<&str> = first
        .stderr
        .lines()
        .map(str::trim)
        .filter(|l| (l.starts_with("REVOKE ") || l.starts_with("GRANT ")) && l.ends_with(';'))
        .collect();
    assert!(!fix.is_empty(), "{}", first.stderr);
    sql(pg(), &env.prod_db, &fix.join("\n"));
    assert_eq!(public_may_connect(&env.prod_db), "f");

    let second = run(&[]);
    second.assert_ok();
    assert!(
        second.stdout.contains("closed to the staging roles"),
        "{}",
        second.stdout
    );
    let check = run(&["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
    let password = env.password();
    assert!(
        login(&env.prod_db, &env.app(), &password).is_err(),
        "the staging role connects to production"
    );
    assert_eq!(
        login(&env.staging_db(), &env.app(), &password).as_deref(),
        Ok(env.app().as_str())
    );
    assert_eq!(public_may_connect(&env.staging_db()), "f");
}

#[test]
fn a_connect_grant_on_staging_that_the_owner_cannot_revoke_is_reported() {
    // Another role holding the grant option gave PUBLIC CONNECT on the staging database: a
    // REVOKE by the owner (or a superuser) does not reach that grant, PostgreSQL only warns,
    // and every role could connect to staging while the plan claimed otherwise.
    let env = Env::new("foreign");
    let spec = env.spec(&env.staging_db(), "");
    env.run(&spec, &[]).assert_ok();
    let staging = env.staging_db();
    let granter = "foreign_granter";
    sql(
        pg(),
        "postgres",
        &format!(
            "CREATE ROLE {granter}; \
             GRANT CONNECT ON DATABASE {staging} TO {granter} WITH GRANT OPTION; \
             SET ROLE {granter}; GRANT CONNECT ON DATABASE {staging} TO PUBLIC"
        ),
    );
    assert_eq!(public_may_connect(&staging), "t");

    let mut fix = Vec::new();
    for extra in [&["--check"][..], &[]] {
        let r = env.run(&spec, extra);
        assert_eq!(
            r.code, EXIT_PRIVILEGES,
            "{extra:?}\n{}\n{}",
            r.stdout, r.stderr
        );
        assert!(
            r.stderr.contains(&format!("Run as {granter}")),
            "{extra:?}: {}",
            r.stderr
        );
        fix = r
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("REVOKE ") && l.ends_with(';'))
            .map(str::to_owned)
            .collect();
    }
    assert!(!fix.is_empty());
    sql(
        pg(),
        "postgres",
        &format!("SET ROLE {granter}; {}", fix.join("\n")),
    );
    assert_eq!(public_may_connect(&staging), "f");
    let check = env.run(&spec, &["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

/// A CREATEROLE CREATEDB login that is not a superuser (what managed services hand out);
/// its connection URL.
fn managed_admin(name: &str) -> String {
    let password = "admin-pw-for-tests-only";
    sql(
        pg(),
        "postgres",
        &format!("CREATE ROLE {name} LOGIN CREATEROLE CREATEDB PASSWORD '{password}'"),
    );
    format!(
        "postgresql://{name}:{password}@127.0.0.1:{}/postgres",
        pg().port()
    )
}

/// `env`'s spec without production (a separate instance), with `schemas`.
fn spec_without_source(env: &Env, schemas: &str) -> PathBuf {
    let spec = env.spec(&env.staging_db(), "");
    let text = std::fs::read_to_string(&spec)
        .expect("the spec")
        .replace(
            "[source]\nurl_env = \"TEST_PROD_URL\"\nkeep_connect = [\"postgres\"]\n",
            "",
        )
        .replace(
            "connection_limit = 10\n",
            &format!("connection_limit = 10\nschemas = {schemas}\n"),
        );
    std::fs::write(&spec, text).expect("writing the spec");
    spec
}

#[test]
fn tables_the_admin_cannot_grant_on_are_named_before_anything_changes() {
    // A table in the staging schema owned by a role the managed-service admin does not act
    // for: `GRANT … ON ALL TABLES` would only warn for it, so the plan says so up front and
    // gives the grant to run as its owner.
    let env = Env::new("legacy");
    let admin_url = managed_admin("legacy_admin");
    let spec = spec_without_source(&env, "[\"public\"]");
    let run = |extra: &[&str]| run_cmd(env.command(&spec, extra).env("TEST_ADMIN_URL", &admin_url));
    run(&[]).assert_ok();
    let staging = env.staging_db();
    sql(
        pg(),
        &staging,
        "CREATE ROLE legacy_loader; CREATE TABLE legacy (id int); \
         ALTER TABLE legacy OWNER TO legacy_loader; GRANT SELECT ON legacy TO PUBLIC",
    );
    let grant = format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.legacy TO \"{}\";",
        env.app()
    );
    for mode in [&["--dry-run"][..], &["--check"], &[]] {
        let r = run(mode);
        assert_eq!(
            r.code, EXIT_PRIVILEGES,
            "{mode:?}\n{}\n{}",
            r.stdout, r.stderr
        );
        assert!(
            r.stderr.contains(&format!(
                "Run as legacy_loader connected to the database {staging}"
            )),
            "{mode:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(&grant), "{mode:?}: {}", r.stderr);
    }
    let insert = format!(
        "SELECT has_table_privilege('{}', 'legacy', 'INSERT')",
        env.app()
    );
    assert_eq!(sql(pg(), &staging, &insert), "f");
    sql(pg(), &staging, &format!("SET ROLE legacy_loader; {grant}"));
    assert_eq!(sql(pg(), &staging, &insert), "t");
    let check = run(&["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

#[test]
fn a_schema_the_admin_cannot_grant_on_is_named_before_anything_changes() {
    // A schema someone else created and lets the admin use without the grant option: the
    // admin's `GRANT USAGE` would only draw a warning, so the plan says so up front.
    let env = Env::new("preset");
    let admin_url = managed_admin("preset_admin");
    let spec = spec_without_source(&env, "[\"public\"]");
    let run = |spec: &Path, extra: &[&str]| {
        run_cmd(env.command(spec, extra).env("TEST_ADMIN_URL", &admin_url))
    };
    run(&spec, &[]).assert_ok();
    let staging = env.staging_db();
    sql(
        pg(),
        &staging,
        "CREATE ROLE preset_dba; CREATE SCHEMA app AUTHORIZATION preset_dba; \
         GRANT USAGE ON SCHEMA app TO preset_admin",
    );
    let spec = spec_without_source(&env, "[\"public\", \"app\"]");
    let usage = format!("GRANT USAGE ON SCHEMA \"app\" TO \"{}\";", env.app());
    for mode in [&["--dry-run"][..], &[]] {
        let r = run(&spec, mode);
        assert_eq!(
            r.code, EXIT_PRIVILEGES,
            "{mode:?}\n{}\n{}",
            r.stdout, r.stderr
        );
        for needle in [
            format!("Run as preset_dba connected to the database {staging}"),
            usage.clone(),
        ] {
            assert!(
                r.stderr.contains(&needle),
                "missing {needle:?}: {}",
                r.stderr
            );
        }
    }
    sql(pg(), &staging, &format!("SET ROLE preset_dba; {usage}"));
    run(&spec, &[]).assert_ok();
    let check = run(&spec, &["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

#[test]
fn a_revoke_that_only_warned_is_read_back_and_stops_the_run() {
    // A NOINHERIT admin is a member of the owner (enough to create the database for it) but
    // does not use the owner's privileges, so its `REVOKE CONNECT … FROM PUBLIC` on the new
    // staging database only draws a warning. The read-back catches it: the run stops there,
    // saying what is still the case, what to run and what it had already changed, instead
    // of reporting a staging database closed to PUBLIC.
    let env = Env::new("noinherit");
    let admin = "noinherit_admin";
    let admin_url = managed_admin(admin);
    sql(pg(), "postgres", &format!("ALTER ROLE {admin} NOINHERIT"));
    let spec = spec_without_source(&env, "[\"public\"]");
    let run = |extra: &[&str]| run_cmd(env.command(&spec, extra).env("TEST_ADMIN_URL", &admin_url));
    let r = run(&[]);
    assert_eq!(r.code, EXIT_PRIVILEGES, "{}\n{}", r.stdout, r.stderr);
    let staging = env.staging_db();
    for needle in [
        format!("PUBLIC (every role) may still connect to {staging}"),
        "although its statements ran".to_owned(),
        format!("REVOKE CONNECT ON DATABASE \"{staging}\" FROM PUBLIC;"),
        format!("Already changed in this run: role {}", env.owner()),
    ] {
        assert!(
            r.stderr.contains(&needle),
            "missing {needle:?}: {}",
            r.stderr
        );
    }
    assert_eq!(public_may_connect(&staging), "t");

    // An admin that uses the owner's privileges converges. From PostgreSQL 16 on, whether a
    // membership passes on privileges is an option of each grant, set when it was made: the
    // role attribute alone no longer changes an existing membership.
    sql(pg(), "postgres", &format!("ALTER ROLE {admin} INHERIT"));
    if pg().version().major >= 16 {
        sql(
            pg(),
            "postgres",
            &format!("GRANT {} TO {admin} WITH INHERIT TRUE", env.owner()),
        );
    }
    run(&[]).assert_ok();
    assert_eq!(public_may_connect(&staging), "f");
    let check = run(&["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

#[test]
fn a_staging_role_inheriting_connect_to_production_is_refused() {
    // Closing production to PUBLIC is not enough when a staging role inherits CONNECT from a
    // production role it was made a member of.
    let env = Env::new("inherit");
    let spec = env.spec(&env.staging_db(), "");
    env.run(&spec, &[]).assert_ok();
    let password = env.password();
    assert!(login(&env.prod_db, &env.app(), &password).is_err());
    sql(
        pg(),
        &env.prod_db,
        &format!(
            "CREATE ROLE inherit_reader; GRANT CONNECT ON DATABASE {p} TO inherit_reader; \
             GRANT inherit_reader TO {a}",
            p = env.prod_db,
            a = env.app()
        ),
    );
    assert!(login(&env.prod_db, &env.app(), &password).is_ok());
    for mode in [&["--check"][..], &[]] {
        let r = env.run(&spec, mode);
        assert_eq!(r.code, EXIT_REFUSED, "{mode:?}\n{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "the staging role {} holds CONNECT on the production database {} (granted to inherit_reader)",
                env.app(),
                env.prod_db
            )),
            "{mode:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_platform_database_keeps_its_owner_and_its_other_schemas() {
    // Supabase-style: the admin's own database already holds the platform's schemas; the
    // application gets its own schema inside it, owned by the application's owner role,
    // while the database's owner and who may connect to it stay as they are.
    let env = Env::new("plat");
    let admin_url = managed_admin("plat_admin");
    let platform_db = "plat_platform";
    sql(
        pg(),
        "postgres",
        &format!("CREATE DATABASE {platform_db} OWNER plat_admin"),
    );
    sql(
        pg(),
        platform_db,
        "CREATE ROLE plat_auth_admin; CREATE SCHEMA auth AUTHORIZATION plat_auth_admin; \
         CREATE SCHEMA storage AUTHORIZATION plat_auth_admin",
    );
    let spec = spec_without_source(&env, "[\"app\"]");
    let text = std::fs::read_to_string(&spec).expect("the spec").replace(
        &format!("name = \"{}\"", env.staging_db()),
        &format!("name = \"{platform_db}\"\nplatform = true"),
    );
    std::fs::write(&spec, text).expect("writing the spec");
    let run = |extra: &[&str]| run_cmd(env.command(&spec, extra).env("TEST_ADMIN_URL", &admin_url));
    let first = run(&[]);
    first.assert_ok();
    assert!(
        first
            .stdout
            .contains("owner plat_admin (the platform's, kept)"),
        "{}",
        first.stdout
    );
    let owner = sql(
        pg(),
        "postgres",
        &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{platform_db}'"),
    );
    assert_eq!(owner, "plat_admin", "the platform database changed hands");
    assert_eq!(public_may_connect(platform_db), "t", "PUBLIC lost CONNECT");
    let schemas = sql(
        pg(),
        platform_db,
        "SELECT string_agg(nspname || ':' || pg_get_userbyid(nspowner), ',' ORDER BY nspname) \
         FROM pg_namespace WHERE nspname IN ('app', 'auth', 'storage')",
    );
    assert_eq!(
        schemas,
        format!(
            "app:{},auth:plat_auth_admin,storage:plat_auth_admin",
            env.owner()
        )
    );
    assert_eq!(
        login(platform_db, &env.app(), &env.password()).as_deref(),
        Ok(env.app().as_str())
    );
    let check = run(&["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

#[test]
fn a_platform_database_that_does_not_exist_is_refused() {
    let env = Env::new("platmissing");
    let spec = spec_without_source(&env, "[\"app\"]");
    let text = std::fs::read_to_string(&spec).expect("the spec").replace(
        "connection_limit = 10\n",
        "connection_limit = 10\nplatform = true\n",
    );
    std::fs::write(&spec, text).expect("writing the spec");
    let r = env.run(&spec, &[]);
    assert_eq!(r.code, EXIT_REFUSED, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("never creates it"), "{}", r.stderr);
}

#[test]
fn the_admin_role_or_a_superuser_as_owner_or_app_role_is_refused() {
    // Naming the admin (Supabase's `postgres`) as the owner would make it NOLOGIN, as the app
    // role would replace its password: refused before anything changes.
    let env = Env::new("selfowner");
    let admin_url = managed_admin("selfowner_admin");
    let spec = spec_without_source(&env, "[\"public\"]");
    let text = std::fs::read_to_string(&spec).expect("the spec");
    let run = |text: String| {
        std::fs::write(&spec, text).expect("writing the spec");
        run_cmd(env.command(&spec, &[]).env("TEST_ADMIN_URL", &admin_url))
    };
    let as_owner = run(text.replace(
        &format!("owner = \"{}\"", env.owner()),
        "owner = \"selfowner_admin\"",
    ));
    assert_eq!(
        as_owner.code, EXIT_REFUSED,
        "{}\n{}",
        as_owner.stdout, as_owner.stderr
    );
    assert!(
        as_owner
            .stderr
            .contains("the admin role this run connects as"),
        "{}",
        as_owner.stderr
    );
    let as_app = run(text.replace(
        &format!("app_role = \"{}\"", env.app()),
        "app_role = \"postgres\"",
    ));
    assert_eq!(
        as_app.code, EXIT_REFUSED,
        "{}\n{}",
        as_app.stdout, as_app.stderr
    );
    assert!(as_app.stderr.contains("a superuser"), "{}", as_app.stderr);
    assert_eq!(
        sql(
            pg(),
            "postgres",
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'selfowner_admin'"
        ),
        "t"
    );
    assert_eq!(
        sql(
            pg(),
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                env.staging_db()
            )
        ),
        "0"
    );
}

#[test]
fn a_platform_database_with_the_application_in_public_converges() {
    // examples/envs/supabase.toml: the application's tables live in the platform database's
    // `public` schema, which the platform's admin owns; the app role gets its grants there.
    let env = Env::new("platpub");
    let admin_url = managed_admin("platpub_admin");
    let platform_db = "platpub_platform";
    sql(
        pg(),
        "postgres",
        &format!("CREATE DATABASE {platform_db} OWNER platpub_admin"),
    );
    sql(
        pg(),
        platform_db,
        "CREATE ROLE platpub_auth; CREATE SCHEMA auth AUTHORIZATION platpub_auth; \
         ALTER SCHEMA public OWNER TO platpub_admin",
    );
    let spec = spec_without_source(&env, "[\"public\"]");
    let text = std::fs::read_to_string(&spec).expect("the spec").replace(
        &format!("name = \"{}\"", env.staging_db()),
        &format!("name = \"{platform_db}\"\nplatform = true"),
    );
    std::fs::write(&spec, text).expect("writing the spec");
    let run = |extra: &[&str]| run_cmd(env.command(&spec, extra).env("TEST_ADMIN_URL", &admin_url));
    run(&[]).assert_ok();
    assert_eq!(
        sql(
            pg(),
            platform_db,
            &format!(
                "SELECT has_schema_privilege('{}', 'public', 'USAGE')",
                env.app()
            )
        ),
        "t"
    );
    assert_eq!(
        sql(
            pg(),
            platform_db,
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        ),
        "platpub_admin",
        "the platform's public schema changed hands"
    );
    let check = run(&["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

/// Runs `statements` in `db` as a LOGIN role: the first value of the last statement's first
/// row (empty when it returns none), or the error's message.
fn as_login(db: &str, user: &str, password: &Secret, statements: &str) -> Result<String, String> {
    let url = format!("postgresql://{user}@127.0.0.1:{}/{db}", pg().port());
    let spec = ConnSpec::parse(&url)
        .map_err(|e| e.to_string())?
        .with_user(user, Some(password.clone()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = spec.connect("test").await.map_err(|e| e.to_string())?;
        let messages = client.simple_query(statements).await.map_err(|e| {
            e.as_db_error()
                .map(|d| d.message().to_owned())
                .unwrap_or_else(|| e.to_string())
        })?;
        let first = messages.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_owned()),
            _ => None,
        });
        Ok(first.unwrap_or_default())
    })
}

/// `env`'s spec with a migrations role whose password the dotenv file carries.
fn spec_with_migrations(env: &Env, source: bool) -> PathBuf {
    let spec = env.spec(&env.staging_db(), "");
    let mut text = std::fs::read_to_string(&spec)
        .expect("the spec")
        .replace(
            "connection_limit = 10\n",
            &format!(
                "connection_limit = 10\nmigrations_role = \"{}_migrate\"\nmigrations_password_secret = \"migrations_password\"\n",
                env.prefix
            ),
        )
        .replace(
            "[secrets.session]",
            "[secrets.migrations_password]\ngenerate = { bytes = 24 }\n[secrets.migrations_url]\nderive = \"migrations_url\"\n[secrets.session]",
        )
        .replace(
            "SESSION_SECRET = \"session\" }",
            "SESSION_SECRET = \"session\", MIGRATIONS_URL = \"migrations_url\" }",
        );
    if !source {
        text = text.replace(
            "[source]\nurl_env = \"TEST_PROD_URL\"\nkeep_connect = [\"postgres\"]\n",
            "",
        );
    }
    std::fs::write(&spec, text).expect("writing the spec");
    spec
}

/// The migrations role creates and alters tables (owned by the owner, granted to the app role
/// by the owner's default privileges); the app role can do neither. `admin_url`: who provisions
/// (`superuser`: whether it is one).
fn migrations_role_migrates(env: &Env, spec: &Path, admin_url: &str, superuser: bool) {
    let db = env.staging_db();
    let owner = env.owner();
    let migrate = format!("{}_migrate", env.prefix);
    let run = |extra: &[&str]| run_cmd(env.command(spec, extra).env("TEST_ADMIN_URL", admin_url));
    run(&[]).assert_ok();
    // A table from an earlier clone, owned by the owner role.
    sql(
        pg(),
        &db,
        &format!("CREATE TABLE jobs (id int PRIMARY KEY); ALTER TABLE jobs OWNER TO {owner}"),
    );
    let first = run(&[]);
    first.assert_ok();
    assert!(
        first
            .stdout
            .lines()
            .any(|l| l.contains(&format!("migrations {migrate}"))),
        "{}",
        first.stdout
    );
    let check = run(&["--check"]);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);

    // Only the migrations role's URL is delivered: re-runs find its password in it (the
    // `--check` above would otherwise see a new one).
    let dotenv_values = dotenv::parse(&std::fs::read_to_string(env.dotenv()).expect("dotenv"));
    let url = dotenv_values
        .get("MIGRATIONS_URL")
        .expect("MIGRATIONS_URL in the dotenv file")
        .expose()
        .to_owned();
    let prefix = format!("postgresql://{migrate}:");
    let suffix = format!("@127.0.0.1:{}/{db}", pg().port());
    let migrations_password = Secret::new(
        url.strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(&suffix))
            .unwrap_or_else(|| panic!("not the migrations role's URL: {prefix}…{suffix}")),
    );
    let app_password = env.password();
    assert_no_secret(&first, &migrations_password);

    // What a migration does: new tables, new columns and indexes on existing ones.
    as_login(
        &db,
        &migrate,
        &migrations_password,
        "CREATE TABLE accounts (id bigserial PRIMARY KEY, name text); \
         ALTER TABLE jobs ADD COLUMN note text; \
         CREATE INDEX jobs_note ON jobs (note)",
    )
    .unwrap_or_else(|e| panic!("the migrations role cannot migrate: {e}"));
    let owners = sql(
        pg(),
        &db,
        "SELECT string_agg(DISTINCT tableowner::text, ',') FROM pg_tables \
         WHERE tablename IN ('accounts', 'jobs')",
    );
    assert_eq!(
        owners, owner,
        "migrated tables must belong to the owner role"
    );
    // The app role uses what the migration made, through the owner's default privileges.
    as_login(
        &db,
        &env.app(),
        &app_password,
        "INSERT INTO accounts (name) VALUES ('a'); INSERT INTO jobs VALUES (1, 'n'); \
         UPDATE accounts SET name = 'b'; SELECT * FROM jobs",
    )
    .unwrap_or_else(|e| panic!("the app role cannot use the migrated tables: {e}"));
    // The app role migrates nothing.
    let create = as_login(&db, &env.app(), &app_password, "CREATE TABLE mine (id int)");
    match &create {
        Err(e) => assert!(e.contains("permission denied for schema public"), "{e}"),
        // PostgreSQL 14 and older let PUBLIC create in `public`; an admin that does not own
        // the schema cannot change that, and the plan says what its owner must run.
        Ok(_) => assert!(
            first
                .stdout
                .contains("REVOKE CREATE ON SCHEMA \"public\" FROM PUBLIC")
                && !superuser,
            "the app role created a table:\n{}",
            first.stdout
        ),
    }
    let alter = as_login(
        &db,
        &env.app(),
        &app_password,
        "ALTER TABLE jobs ADD COLUMN other text",
    );
    assert!(
        alter
            .as_ref()
            .is_err_and(|e| e.contains("must be owner of table jobs")),
        "{alter:?}"
    );
}

#[test]
fn the_migrations_role_creates_and_alters_tables_and_the_app_role_cannot() {
    let env = Env::new("migr");
    let spec = spec_with_migrations(&env, true);
    migrations_role_migrates(&env, &spec, &pg().url("postgres"), true);
    // The migrations role never reaches production.
    let migrate = format!("{}_migrate", env.prefix);
    let prod_connect = sql(
        pg(),
        "postgres",
        &format!(
            "SELECT has_database_privilege('{migrate}', '{}', 'CONNECT')",
            env.prod_db
        ),
    );
    assert_eq!(prod_connect, "f");
}

#[test]
fn a_non_superuser_admin_provisions_a_migrations_role() {
    let env = Env::new("migrns");
    let admin_url = managed_admin("migrns_admin");
    let spec = spec_with_migrations(&env, false);
    migrations_role_migrates(&env, &spec, &admin_url, false);
}
