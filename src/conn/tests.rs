//! Parsing + resolution + printing, through the public API with a fixed environment.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn parse(input: &str, env: &FakeEnv) -> ConnSpec {
    match ConnSpec::parse_with(input, env) {
        Ok(s) => s,
        Err(e) => panic!("{input:?} should parse: {e}"),
    }
}

fn parse_err(input: &str, env: &FakeEnv) -> ConnError {
    match ConnSpec::parse_with(input, env) {
        Ok(s) => panic!("{input:?} should fail, got {s:?}"),
        Err(e) => e,
    }
}

fn env_map(spec: &ConnSpec) -> HashMap<String, String> {
    spec.libpq_env().into_iter().collect()
}

#[test]
fn defaults_when_nothing_is_given() {
    let s = parse("", &FakeEnv::new());
    assert_eq!(s.host(), &Host::Socket("/run/test-socket".into()));
    assert_eq!(s.port(), 5432);
    assert_eq!(s.user(), "osuser");
    assert_eq!(s.dbname(), "osuser", "dbname defaults to the user");
    assert_eq!(s.sslmode(), SslMode::Prefer);
    assert!(s.password().is_none());
    assert_eq!(s.connect_timeout(), None);
    assert_eq!(s.application_name(), None);
    assert_eq!(s.options(), None);
}

#[test]
fn default_host_can_be_tcp() {
    let env = FakeEnv {
        default_host: None,
        ..FakeEnv::new()
    };
    assert_eq!(parse("", &env).host(), &Host::Tcp("localhost".into()));
}

#[test]
fn dbname_defaults_to_the_resolved_user() {
    let s = parse("user=app", &FakeEnv::new());
    assert_eq!(s.dbname(), "app");
    let s = parse("", &FakeEnv::new().with("PGUSER", "envuser"));
    assert_eq!(s.dbname(), "envuser");
}

#[test]
fn missing_os_user_is_an_error_only_when_needed() {
    let env = FakeEnv {
        os_user: None,
        ..FakeEnv::new()
    };
    assert!(matches!(parse_err("host=h", &env), ConnError::NoUser));
    assert_eq!(parse("host=h user=u", &env).user(), "u");
}

#[test]
fn environment_fills_every_missing_option() {
    let env = FakeEnv::new()
        .with("PGHOST", "envhost")
        .with("PGPORT", "6000")
        .with("PGUSER", "envuser")
        .with("PGPASSWORD", "envpass")
        .with("PGDATABASE", "envdb")
        .with("PGSSLMODE", "require")
        .with("PGSSLROOTCERT", "/etc/root.pem")
        .with("PGSSLCERT", "/etc/client.pem")
        .with("PGSSLKEY", "/etc/client.key")
        .with("PGAPPNAME", "envapp")
        .with("PGCONNECT_TIMEOUT", "7")
        .with("PGOPTIONS", "-c statement_timeout=0");
    let s = parse("", &env);
    assert_eq!(s.host(), &Host::Tcp("envhost".into()));
    assert_eq!(s.port(), 6000);
    assert_eq!(s.user(), "envuser");
    assert_eq!(s.password().map(Secret::expose), Some("envpass"));
    assert_eq!(s.dbname(), "envdb");
    assert_eq!(s.sslmode(), SslMode::Require);
    assert_eq!(s.sslrootcert(), Some("/etc/root.pem"));
    assert_eq!(s.sslcert(), Some("/etc/client.pem"));
    assert_eq!(s.sslkey(), Some("/etc/client.key"));
    assert_eq!(s.application_name(), Some("envapp"));
    assert_eq!(s.connect_timeout(), Some(std::time::Duration::from_secs(7)));
    assert_eq!(s.options(), Some("-c statement_timeout=0"));
}

#[test]
fn connection_string_beats_environment() {
    let env = FakeEnv::new()
        .with("PGHOST", "envhost")
        .with("PGPORT", "6000")
        .with("PGUSER", "envuser")
        .with("PGPASSWORD", "envpass")
        .with("PGDATABASE", "envdb")
        .with("PGSSLMODE", "require");
    let s = parse("postgresql://u:p@h:7000/d?sslmode=disable", &env);
    assert_eq!(s.host(), &Host::Tcp("h".into()));
    assert_eq!(s.port(), 7000);
    assert_eq!(s.user(), "u");
    assert_eq!(s.password().map(Secret::expose), Some("p"));
    assert_eq!(s.dbname(), "d");
    assert_eq!(s.sslmode(), SslMode::Disable);
    // Only the parts that are missing come from the environment.
    let s = parse("host=h", &env);
    assert_eq!(s.port(), 6000);
    assert_eq!(s.user(), "envuser");
}

#[test]
fn explicit_empty_value_blocks_environment_and_uses_default() {
    let env = FakeEnv::new()
        .with("PGHOST", "envhost")
        .with("PGUSER", "envuser");
    let s = parse("host='' user=''", &env);
    assert_eq!(s.host(), &Host::Socket("/run/test-socket".into()));
    assert_eq!(s.user(), "osuser");
    // An empty URL path is "not given", so PGDATABASE still applies.
    let s = parse(
        "postgresql://h/",
        &FakeEnv::new().with("PGDATABASE", "envdb"),
    );
    assert_eq!(s.dbname(), "envdb");
}

#[test]
fn host_forms() {
    let env = FakeEnv::new();
    assert_eq!(
        parse("host=/var/run/postgresql", &env).host(),
        &Host::Socket("/var/run/postgresql".into())
    );
    assert_eq!(
        parse("postgresql://%2Ftmp%2Fpg/db", &env).host(),
        &Host::Socket("/tmp/pg".into())
    );
    assert_eq!(
        parse("postgresql://[::1]:5433/db", &env).host(),
        &Host::Tcp("::1".into())
    );
    assert_eq!(
        parse("host=10.0.0.1", &env).host(),
        &Host::Tcp("10.0.0.1".into())
    );
    assert!(matches!(
        parse_err("host=a,b", &env),
        ConnError::MultipleHosts { .. }
    ));
    assert!(matches!(
        parse_err("host=a port=1,2", &env),
        ConnError::MultipleHosts { .. }
    ));
}

#[test]
fn port_validation_names_the_source() {
    let e = parse_err("port=http", &FakeEnv::new());
    assert_eq!(
        e.to_string(),
        "invalid value \"http\" for port: not a port number (1-65535)"
    );
    let e = parse_err("", &FakeEnv::new().with("PGPORT", "70000"));
    assert!(e.to_string().contains("for PGPORT"), "{e}");
    assert!(ConnSpec::parse_with("port=0", &FakeEnv::new()).is_err());
}

#[test]
fn connect_timeout_follows_libpq() {
    let env = FakeEnv::new();
    let t = |s: &str| parse(s, &env).connect_timeout().map(|d| d.as_secs());
    assert_eq!(t("connect_timeout=10"), Some(10));
    assert_eq!(t("connect_timeout=1"), Some(2));
    assert_eq!(t("connect_timeout=0"), None);
    assert_eq!(t("connect_timeout=-5"), None);
    let e = parse_err("connect_timeout=5s", &env);
    assert!(e.to_string().contains("connect_timeout"), "{e}");
}

#[test]
fn sslmode_validation() {
    let env = FakeEnv::new();
    for (text, mode) in [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ] {
        assert_eq!(parse(&format!("sslmode={text}"), &env).sslmode(), mode);
        assert_eq!(mode.as_str(), text);
    }
    let e = parse_err("sslmode=true", &env);
    assert!(matches!(e, ConnError::InvalidSslMode { .. }));
    let msg = e.to_string();
    assert!(
        msg.contains("\"true\"") && msg.contains("verify-full"),
        "{msg}"
    );
    let e = parse_err("", &FakeEnv::new().with("PGSSLMODE", "Require"));
    assert!(e.to_string().contains("from PGSSLMODE"), "{e}");
}

#[test]
fn sslmode_defaults_follow_libpq() {
    let s = parse("", &FakeEnv::new().with("PGREQUIRESSL", "1"));
    assert_eq!(s.sslmode(), SslMode::Require);
    let s = parse(
        "",
        &FakeEnv::new()
            .with("PGREQUIRESSL", "1")
            .with("PGSSLMODE", "disable"),
    );
    assert_eq!(s.sslmode(), SslMode::Disable);
    // sslrootcert=system strengthens the default and refuses weaker explicit modes.
    let s = parse("sslrootcert=system", &FakeEnv::new());
    assert_eq!(s.sslmode(), SslMode::VerifyFull);
    let e = parse_err("sslrootcert=system sslmode=require", &FakeEnv::new());
    assert!(e.to_string().contains("verify-full"), "{e}");
}

fn passfile(dir: &tempfile::TempDir, name: &str, mode: u32, text: &str) -> String {
    let path = dir.path().join(name);
    let mut f = fs::File::create(&path).unwrap_or_else(|e| panic!("create: {e}"));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write: {e}"));
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    path.to_string_lossy().into_owned()
}

#[test]
fn password_file_is_consulted_after_environment() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = passfile(
        &dir,
        "pgpass",
        0o600,
        "db.example:5432:prod:app:from\\:file\n*:*:*:*:wildcard\n",
    );
    let env = FakeEnv::new().with("PGPASSFILE", &file);
    let s = parse("postgresql://app@db.example/prod", &env);
    assert_eq!(s.password().map(Secret::expose), Some("from:file"));
    // Matching uses the resolved values: the port default and the db from the env.
    let env2 = env.clone().with("PGDATABASE", "other");
    let s = parse("host=db.example user=app", &env2);
    assert_eq!(s.password().map(Secret::expose), Some("wildcard"));
    // PGPASSWORD wins over the file, the connection string over both.
    let s = parse(
        "host=db.example user=app dbname=prod",
        &env.clone().with("PGPASSWORD", "envpw"),
    );
    assert_eq!(s.password().map(Secret::expose), Some("envpw"));
    let s = parse("host=db.example user=app dbname=prod password=cs", &env);
    assert_eq!(s.password().map(Secret::expose), Some("cs"));
}

#[test]
fn password_file_location_precedence() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    fs::write(dir.path().join(".pgpass"), "*:*:*:*:fromhome\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    fs::set_permissions(
        dir.path().join(".pgpass"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap_or_else(|e| panic!("chmod: {e}"));
    let other = passfile(&dir, "other", 0o600, "*:*:*:*:fromother\n");
    let env = FakeEnv {
        home: Some(dir.path().to_path_buf()),
        ..FakeEnv::new()
    };
    let pw =
        |input: &str, env: &FakeEnv| parse(input, env).password().map(|s| s.expose().to_owned());
    assert_eq!(pw("host=h", &env).as_deref(), Some("fromhome"));
    let with_var = env.clone().with("PGPASSFILE", &other);
    assert_eq!(pw("host=h", &with_var).as_deref(), Some("fromother"));
    let kw = format!("host=h passfile={other}");
    assert_eq!(pw(&kw, &env).as_deref(), Some("fromother"));
}

#[test]
fn password_file_with_loose_permissions_is_ignored() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = passfile(&dir, "pgpass", 0o644, "*:*:*:*:leaked\n");
    let s = parse("host=h", &FakeEnv::new().with("PGPASSFILE", &file));
    assert!(s.password().is_none());
}

#[test]
fn password_file_matches_default_socket_as_localhost() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = passfile(&dir, "pgpass", 0o600, "localhost:5432:*:app:sockpw\n");
    let env = FakeEnv::new().with("PGPASSFILE", &file);
    let s = parse("host=/var/run/postgresql user=app", &env);
    assert_eq!(s.password().map(Secret::expose), Some("sockpw"));
    let s = parse("host=/srv/elsewhere user=app", &env);
    assert!(s.password().is_none());
}

const PASSWORD: &str = "Sup3r-s3cret pw";

fn assert_hidden(spec: &ConnSpec) {
    for shown in [
        spec.masked(),
        spec.to_string(),
        format!("{spec:?}"),
        format!("{spec:#?}"),
    ] {
        assert!(!shown.contains("Sup3r"), "password leaked: {shown}");
        assert!(!shown.contains("s3cret"), "password leaked: {shown}");
    }
    assert!(spec.masked().contains(":****@"), "{}", spec.masked());
}

#[test]
fn password_never_printed_for_keyword_value_input() {
    let s = parse(
        &format!("host=db user=app password='{PASSWORD}' dbname=prod"),
        &FakeEnv::new(),
    );
    assert_eq!(s.password().map(Secret::expose), Some(PASSWORD));
    assert_hidden(&s);
}

#[test]
fn password_never_printed_for_url_input() {
    let s = parse(
        "postgresql://app:Sup3r-s3cret%20pw@db/prod",
        &FakeEnv::new(),
    );
    assert_eq!(s.password().map(Secret::expose), Some(PASSWORD));
    assert_hidden(&s);
    let s = parse(
        "postgresql://app@db/prod?password=Sup3r-s3cret%20pw",
        &FakeEnv::new(),
    );
    assert_hidden(&s);
}

#[test]
fn password_never_printed_when_from_environment() {
    let s = parse("host=db", &FakeEnv::new().with("PGPASSWORD", PASSWORD));
    assert_hidden(&s);
}

#[test]
fn parse_errors_never_echo_the_password() {
    let env = FakeEnv::new();
    for input in [
        "user=app password=Sup3r s3cret",
        "postgresql://app:Sup3r%zz@h/db",
        "postgresql://app:Sup3r%00@h/db",
        "postgresql://app:Sup3r s3cret@h/db",
        "postgresql://app:Sup3r-s3cret@h:notaport/db",
    ] {
        let e = parse_err(input, &env);
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("Sup3r"), "{input}: {shown}");
    }
}

#[test]
fn masked_url_shapes() {
    let env = FakeEnv::new();
    assert_eq!(
        parse("postgresql://app:pw@db.example:5432/prod", &env).masked(),
        "postgresql://app:****@db.example:5432/prod"
    );
    assert_eq!(
        parse("host=db user=app dbname=prod", &env).masked(),
        "postgresql://app@db:5432/prod",
        "no password, no ':****'"
    );
    assert_eq!(
        parse(
            "host=::1 port=5433 user=app dbname=prod sslmode=verify-full",
            &env
        )
        .masked(),
        "postgresql://app@[::1]:5433/prod?sslmode=verify-full"
    );
    assert_eq!(
        parse("host=/var/run/postgresql user='a b' dbname='my db'", &env).masked(),
        "postgresql://a%20b@%2Fvar%2Frun%2Fpostgresql:5432/my%20db"
    );
}

#[test]
fn masked_url_parses_back_to_the_same_target() {
    let env = FakeEnv::new();
    for input in [
        "host=/var/run/postgresql port=5433 user='a@b' dbname='x/y?z' sslmode=disable",
        "host=::1 user=u dbname=d sslmode=verify-ca",
        "host=db.example user=üser dbname=prod",
    ] {
        let original = parse(input, &env);
        let again = parse(&original.masked(), &env);
        assert_eq!(again.host(), original.host());
        assert_eq!(again.port(), original.port());
        assert_eq!(again.user(), original.user());
        assert_eq!(again.dbname(), original.dbname());
        assert_eq!(again.sslmode(), original.sslmode());
    }
}

#[test]
fn libpq_env_contents() {
    let s = parse(
        "host=db port=6543 user=app password='p w' dbname=prod sslmode=verify-full \
         sslrootcert=/r.pem sslcert=/c.pem sslkey=/c.key application_name=nightly \
         connect_timeout=9 options='-c work_mem=64MB'",
        &FakeEnv::new(),
    );
    let vars = env_map(&s);
    let expect = [
        ("PGHOST", "db"),
        ("PGPORT", "6543"),
        ("PGUSER", "app"),
        ("PGPASSWORD", "p w"),
        ("PGDATABASE", "prod"),
        ("PGSSLMODE", "verify-full"),
        ("PGSSLROOTCERT", "/r.pem"),
        ("PGSSLCERT", "/c.pem"),
        ("PGSSLKEY", "/c.key"),
        ("PGAPPNAME", "nightly"),
        ("PGCONNECT_TIMEOUT", "9"),
        ("PGOPTIONS", "-c work_mem=64MB"),
    ];
    for (k, v) in expect {
        assert_eq!(vars.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(vars.len(), expect.len());
}

#[test]
fn libpq_env_omits_what_is_not_set() {
    let s = parse("host=/tmp user=app dbname=prod", &FakeEnv::new());
    let vars = env_map(&s);
    assert_eq!(vars.get("PGHOST").map(String::as_str), Some("/tmp"));
    assert_eq!(vars.get("PGSSLMODE").map(String::as_str), Some("prefer"));
    for absent in [
        "PGPASSWORD",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGAPPNAME",
        "PGCONNECT_TIMEOUT",
        "PGOPTIONS",
    ] {
        assert!(!vars.contains_key(absent), "{absent} should not be set");
    }
    // Every name is a libpq variable, so callers can env_remove the rest safely.
    assert!(vars.keys().all(|k| k.starts_with("PG")));
}

#[test]
fn with_dbname_and_with_user_keep_the_server() {
    let s = parse(
        "postgresql://app:pw@db:6000/prod?sslmode=require",
        &FakeEnv::new(),
    );
    let t = s.with_dbname("postgres");
    assert_eq!(t.dbname(), "postgres");
    assert_eq!(t.host(), s.host());
    assert_eq!(t.port(), 6000);
    assert_eq!(t.user(), "app");
    assert_eq!(t.password(), s.password());
    assert_eq!(t.sslmode(), SslMode::Require);
    assert_eq!(s.dbname(), "prod", "original unchanged");
    let u = s.with_user("staging_app", Some(Secret::new("new")));
    assert_eq!(u.user(), "staging_app");
    assert_eq!(u.password().map(Secret::expose), Some("new"));
    assert_eq!(u.dbname(), "prod");
}

#[test]
fn pg_config_is_built_from_the_fields() {
    let s = parse(
        "host=/var/run/postgresql port=5433 user=app password=pw dbname='my db' \
         options='-c a=b' connect_timeout=4",
        &FakeEnv::new(),
    );
    let c = s.pg_config("restage");
    assert_eq!(
        c.get_hosts(),
        &[tokio_postgres::config::Host::Unix(
            "/var/run/postgresql".into()
        )]
    );
    assert_eq!(c.get_ports(), &[5433]);
    assert_eq!(c.get_user(), Some("app"));
    assert_eq!(c.get_password(), Some(&b"pw"[..]));
    assert_eq!(c.get_dbname(), Some("my db"));
    assert_eq!(c.get_options(), Some("-c a=b"));
    assert_eq!(c.get_application_name(), Some("restage"));
    assert_eq!(
        c.get_connect_timeout(),
        Some(&std::time::Duration::from_secs(4))
    );
    // An application_name from the user wins over the caller's fallback.
    let s = parse("host=h application_name=ops", &FakeEnv::new());
    assert_eq!(s.pg_config("restage").get_application_name(), Some("ops"));
    assert_eq!(
        parse("host=h", &FakeEnv::new())
            .pg_config("")
            .get_application_name(),
        None
    );
}

#[test]
fn settings_come_after_the_given_options() {
    let plain = parse("host=db dbname=app", &FakeEnv::new());
    let with = plain.with_settings(&["enable_hashjoin=off"]);
    assert_eq!(with.options(), Some("-c enable_hashjoin=off"));
    assert_eq!(
        env_map(&with).get("PGOPTIONS").map(String::as_str),
        Some("-c enable_hashjoin=off")
    );
    assert_eq!(plain.with_settings(&[]).options(), None);
    let given = parse(
        "host=db dbname=app options='-c work_mem=64MB'",
        &FakeEnv::new(),
    );
    assert_eq!(
        given
            .with_settings(&["enable_hashjoin=off", "jit=off"])
            .options(),
        Some("-c work_mem=64MB -c enable_hashjoin=off -c jit=off")
    );
}

#[test]
fn a_setting_reads_back_from_the_options_the_last_one_winning() {
    let given = parse(
        "host=db dbname=app options='-c lock_timeout=5s --work_mem=64MB -cjit=off'",
        &FakeEnv::new(),
    );
    assert_eq!(given.setting("lock_timeout"), Some("5s"));
    assert_eq!(given.setting("work_mem"), Some("64MB"));
    assert_eq!(given.setting("jit"), Some("off"));
    assert_eq!(given.setting("statement_timeout"), None);
    let later = given.with_settings(&["lock_timeout=61000ms"]);
    assert_eq!(later.setting("lock_timeout"), Some("61000ms"));
    assert_eq!(parse("host=db", &FakeEnv::new()).setting("jit"), None);
}

#[test]
fn a_default_application_name_never_replaces_the_given_one() {
    let plain = parse("host=db dbname=app", &FakeEnv::new());
    let named = plain.with_default_application_name("restage");
    assert_eq!(named.application_name(), Some("restage"));
    assert_eq!(
        env_map(&named).get("PGAPPNAME").map(String::as_str),
        Some("restage")
    );
    let given = parse("host=db application_name=nightly", &FakeEnv::new());
    assert_eq!(
        given
            .with_default_application_name("restage")
            .application_name(),
        Some("nightly")
    );
}
