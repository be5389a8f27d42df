//! TLS to the server: a cluster with `ssl=on` and a self-signed certificate for `localhost`.
//! sslmode=require encrypts without verifying; verify-full checks the chain and the host name.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use restage::localpg::{Cluster, ClusterOptions};

struct TlsServer {
    cluster: Cluster,
    certs: tempfile::TempDir,
}

static SERVER: OnceLock<TlsServer> = OnceLock::new();

fn server() -> &'static TlsServer {
    SERVER.get_or_init(|| {
        let certs = tempfile::tempdir().expect("tempdir");
        make_cert(certs.path(), "server", "localhost");
        make_cert(certs.path(), "other", "localhost");
        let key = certs.path().join("server.key");
        let cert = certs.path().join("server.crt");
        // The server runs as `postgres` when the tests run as root: let it read its key.
        if unsafe { libc::geteuid() } == 0 {
            let ok = Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(certs.path())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "chown of the test certificates");
        }
        let options = ClusterOptions::new("tls")
            .setting("ssl", "on")
            .setting("ssl_cert_file", &cert.display().to_string())
            .setting("ssl_key_file", &key.display().to_string());
        TlsServer {
            cluster: start(options),
            certs,
        }
    })
}

fn make_cert(dir: &Path, name: &str, host: &str) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .arg("-subj")
        .arg(format!("/CN={host}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{host}"))
        .output()
        .expect("the openssl command line tool is needed for the TLS tests (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join(format!("{name}.key")),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod key");
}

fn url(server: &TlsServer, db: &str, params: &str) -> String {
    format!(
        "postgresql://postgres:{}@localhost:{}/{db}?{params}",
        server.cluster.password(),
        server.cluster.port()
    )
}

fn tls_clone(src: &str, dst: &str) -> Run {
    run_cmd(restage().args([
        "clone",
        "--no-rules",
        "--quiet",
        "--source",
        src,
        "--target",
        dst,
    ]))
}

#[test]
fn clone_over_tls_with_require_and_verify_full() {
    let s = server();
    let pg = &s.cluster;
    let src = loaded_db(pg, "tls_src", "northwind/northwind.sql");
    let dst = fresh_db(pg, "tls_dst");
    let root = s.certs.path().join("server.crt");
    let source = url(s, &src, "sslmode=require");
    let target = url(
        s,
        &dst,
        &format!("sslmode=verify-full&sslrootcert={}", root.display()),
    );
    tls_clone(&source, &target).assert_ok();
    assert_same_database(pg, &src, &dst);
}

#[test]
fn verify_full_with_the_wrong_root_certificate_fails_clearly() {
    let s = server();
    let pg = &s.cluster;
    let src = fresh_db(pg, "tls_wrong_src");
    let dst = fresh_db(pg, "tls_wrong_dst");
    let wrong_root = s.certs.path().join("other.crt");
    let source = url(
        s,
        &src,
        &format!("sslmode=verify-full&sslrootcert={}", wrong_root.display()),
    );
    let run = tls_clone(&source, &url(s, &dst, "sslmode=require"));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.starts_with("error: source: "), "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(pg.password()), "{}", run.stderr);
}

#[test]
fn require_really_encrypts_the_sessions() {
    let s = server();
    let pg = &s.cluster;
    let src = loaded_db(pg, "tls_enc_src", "northwind/northwind.sql");
    let dst = fresh_db(pg, "tls_enc_dst");
    // The server only accepts TLS for this role, so a plain-text fallback would fail.
    sql(
        pg,
        "postgres",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tls_only') \
         THEN CREATE ROLE tls_only LOGIN SUPERUSER PASSWORD 'tls-secret-pw'; END IF; END $$",
    );
    let hba = pg.datadir().join("pg_hba.conf");
    let mut text = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    if !text.contains("tls_only") {
        text = format!(
            "hostssl all tls_only 127.0.0.1/32 scram-sha-256\nhost all tls_only 127.0.0.1/32 reject\n{text}"
        );
        std::fs::write(&hba, text).expect("write pg_hba.conf");
        sql(pg, "postgres", "SELECT pg_reload_conf()");
    }
    let as_role = |db: &str, mode: &str| {
        format!(
            "postgresql://tls_only:tls-secret-pw@127.0.0.1:{}/{db}?sslmode={mode}",
            pg.port()
        )
    };
    let refused = tls_clone(&as_role(&src, "disable"), &as_role(&dst, "disable"));
    assert_eq!(
        refused.code, 3,
        "plain text must be rejected: {}",
        refused.stderr
    );
    tls_clone(&as_role(&src, "require"), &as_role(&dst, "require")).assert_ok();
    assert_same_database(pg, &src, &dst);
}
