//! `connect` against the scripted server: what goes over the wire, sslmode semantics,
//! certificate checks, and how failures are reported.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::fake_server::{self, FakeServer, Reply, Seen, Tls};
use super::*;

fn spec(input: &str) -> ConnSpec {
    ConnSpec::parse_with(input, &FakeEnv::new()).unwrap_or_else(|e| panic!("{input}: {e}"))
}

fn tls_with(cert_pem: &'static str, key_pem: &'static str) -> Tls {
    Tls::Accept {
        cert_pem,
        key_pem,
        client_ca_pem: None,
    }
}

fn ca_signed() -> Tls {
    tls_with(fake_server::SERVER_CERT, fake_server::SERVER_KEY)
}

/// Write PEM text to a private file in `dir`.
fn pem_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("chmod {name}: {e}"));
    path.to_string_lossy().into_owned()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

async fn one(server: FakeServer) -> Seen {
    match server.seen().await.into_iter().next() {
        Some(Ok(seen)) => seen,
        other => panic!("server saw no clean connection: {other:?}"),
    }
}

#[tokio::test]
async fn plain_session_sends_identity_options_and_password() {
    let server = FakeServer::start(vec![(Tls::Refuse, Reply::AcceptWithPassword)]);
    let s = spec(&format!(
        "host=127.0.0.1 port={} user=app password='pa ss' dbname=prod sslmode=disable options='-c work_mem=1MB'",
        server.port
    ));
    let client = s.connect("restage-test").await;
    assert!(client.is_ok(), "{:?}", client.err());
    let seen = one(server).await;
    assert!(!seen.ssl_requested, "sslmode=disable must not ask for TLS");
    assert_eq!(seen.params.get("user").map(String::as_str), Some("app"));
    assert_eq!(
        seen.params.get("database").map(String::as_str),
        Some("prod")
    );
    assert_eq!(
        seen.params.get("application_name").map(String::as_str),
        Some("restage-test")
    );
    assert_eq!(
        seen.params.get("options").map(String::as_str),
        Some("-c work_mem=1MB")
    );
    assert_eq!(seen.password.as_deref(), Some("pa ss"));
}

#[tokio::test]
async fn auth_failure_is_one_masked_line_with_sqlstate() {
    let server = FakeServer::start(vec![(
        Tls::Refuse,
        Reply::Error("28P01", "password authentication failed for user \"app\""),
    )]);
    let port = server.port;
    let s = spec(&format!(
        "postgresql://app:Sup3rSecret@127.0.0.1:{port}/prod?sslmode=disable"
    ));
    let e = match s.connect("t").await {
        Ok(_) => panic!("must fail"),
        Err(e) => e,
    };
    assert_eq!(
        e.to_string(),
        format!("cannot connect to postgresql://app:****@127.0.0.1:{port}/prod?sslmode=disable: password authentication failed for user \"app\" (SQLSTATE 28P01)")
    );
    assert!(e.is_auth_failure());
    assert!(!e.is_missing_database());
    assert!(!e.is_unreachable());
    assert_eq!(e.code().map(|c| c.code()), Some("28P01"));
    assert!(!format!("{e:?}").contains("Sup3rSecret"));
    server.seen().await;
}

#[tokio::test]
async fn missing_database_is_classified() {
    let server = FakeServer::start(vec![(
        Tls::Refuse,
        Reply::Error("3D000", "database \"nope\" does not exist"),
    )]);
    let s = spec(&format!(
        "host=127.0.0.1 port={} dbname=nope sslmode=disable",
        server.port
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_missing_database());
    assert!(!e.is_auth_failure());
    assert!(
        e.to_string()
            .ends_with("database \"nope\" does not exist (SQLSTATE 3D000)"),
        "{e}"
    );
    server.seen().await;
}

#[tokio::test]
async fn refused_port_is_unreachable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
    };
    let s = spec(&format!("host=127.0.0.1 port={port} user=u dbname=d"));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_unreachable(), "{e}");
    assert!(!e.is_tls_failure());
    assert!(e.code().is_none());
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot connect to postgresql://u@127.0.0.1:{port}/d: "
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

#[tokio::test]
async fn connect_timeout_covers_a_silent_server() {
    let server = FakeServer::start(vec![(Tls::Refuse, Reply::Silence(Duration::from_secs(5)))]);
    let s = spec(&format!(
        "host=127.0.0.1 port={} sslmode=disable connect_timeout=1",
        server.port
    ));
    let started = Instant::now();
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must time out"));
    let took = started.elapsed();
    assert!(matches!(e, ConnError::Timeout { seconds: 2, .. }), "{e}");
    assert!(e.is_unreachable());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn prefer_falls_back_to_plain_when_server_has_no_tls() {
    let server = FakeServer::start(vec![(Tls::Refuse, Reply::Accept)]);
    let s = spec(&format!("host=127.0.0.1 port={}", server.port));
    assert_eq!(s.sslmode(), SslMode::Prefer);
    assert!(s.connect("t").await.is_ok());
    let seen = one(server).await;
    assert!(seen.ssl_requested);
    assert!(!seen.tls);
}

#[tokio::test]
async fn prefer_uses_tls_without_checking_the_certificate() {
    let server = FakeServer::start(vec![(
        tls_with(fake_server::SELF_SIGNED_CERT, fake_server::SELF_SIGNED_KEY),
        Reply::Accept,
    )]);
    let s = spec(&format!("host=127.0.0.1 port={}", server.port));
    assert!(s.connect("t").await.is_ok());
    let seen = one(server).await;
    assert!(seen.tls);
    assert_eq!(seen.alpn.as_deref(), Some(&b"postgresql"[..]));
}

#[tokio::test]
async fn prefer_retries_without_tls_after_a_failed_handshake() {
    let server = FakeServer::start(vec![
        (Tls::Garbage, Reply::Accept),
        (Tls::Refuse, Reply::Accept),
    ]);
    let s = spec(&format!("host=127.0.0.1 port={}", server.port));
    let r = s.connect("t").await;
    assert!(r.is_ok(), "{:?}", r.err());
    let seen = server.seen().await;
    assert_eq!(seen.len(), 2);
    assert!(matches!(&seen[1], Ok(s) if !s.tls));
}

#[tokio::test]
async fn require_fails_when_server_has_no_tls() {
    let server = FakeServer::start(vec![(Tls::Refuse, Reply::Accept)]);
    let s = spec(&format!(
        "host=127.0.0.1 port={} sslmode=require",
        server.port
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_tls_failure(), "{e}");
    assert!(!e.is_unreachable());
    assert!(e.to_string().contains("server does not support TLS"), "{e}");
}

#[tokio::test]
async fn require_accepts_any_certificate() {
    let server = FakeServer::start(vec![(ca_signed(), Reply::Accept)]);
    let s = spec(&format!(
        "host=127.0.0.1 port={} sslmode=require",
        server.port
    ));
    let r = s.connect("t").await;
    assert!(r.is_ok(), "{:?}", r.err());
    assert!(one(server).await.tls);
}

#[tokio::test]
async fn require_with_root_file_checks_the_chain() {
    let dir = tempdir();
    let other = pem_file(dir.path(), "other.pem", fake_server::OTHER_CA);
    let server = FakeServer::start(vec![(ca_signed(), Reply::Accept)]);
    let s = spec(&format!(
        "host=127.0.0.1 port={} sslmode=require sslrootcert={other}",
        server.port
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_tls_failure(), "{e}");
    let _ = server.seen().await;
}

#[tokio::test]
async fn verify_full_with_the_right_root_succeeds() {
    let dir = tempdir();
    let ca = pem_file(dir.path(), "ca.pem", fake_server::CA);
    let server = FakeServer::start(vec![(ca_signed(), Reply::Accept)]);
    let s = spec(&format!(
        "host=localhost port={} sslmode=verify-full sslrootcert={ca}",
        server.port
    ));
    let r = s.connect("t").await;
    assert!(r.is_ok(), "{:?}", r.err());
    assert!(one(server).await.tls);
}

#[tokio::test]
async fn verify_full_with_a_wrong_root_fails_clearly() {
    let dir = tempdir();
    let other = pem_file(dir.path(), "other.pem", fake_server::OTHER_CA);
    let server = FakeServer::start(vec![(ca_signed(), Reply::Accept)]);
    let s = spec(&format!(
        "host=localhost port={} sslmode=verify-full sslrootcert={other}",
        server.port
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_tls_failure(), "{e}");
    assert!(!e.is_unreachable());
    let msg = e.to_string();
    assert!(msg.contains("not signed by a trusted root"), "{msg}");
    assert!(msg.contains("?sslmode=verify-full"), "{msg}");
    let _ = server.seen().await;
}

#[tokio::test]
async fn verify_full_checks_the_host_name_but_verify_ca_does_not() {
    let dir = tempdir();
    let ca = pem_file(dir.path(), "ca.pem", fake_server::CA);
    // The certificate names "localhost"; dialling 127.0.0.1 does not match it.
    let server = FakeServer::start(vec![
        (ca_signed(), Reply::Accept),
        (ca_signed(), Reply::Accept),
    ]);
    let full = spec(&format!(
        "host=127.0.0.1 port={} sslmode=verify-full sslrootcert={ca}",
        server.port
    ));
    let e = full
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_tls_failure(), "{e}");
    assert!(e.to_string().contains("does not name this host"), "{e}");
    let ca_only = full.clone();
    let ca_only = ConnSpec {
        sslmode: SslMode::VerifyCa,
        ..ca_only
    };
    let r = ca_only.connect("t").await;
    assert!(r.is_ok(), "{:?}", r.err());
    let seen = server.seen().await;
    assert!(matches!(&seen[1], Ok(s) if s.tls));
}

#[tokio::test]
async fn verify_full_accepts_the_manuals_self_signed_certificate() {
    // `openssl req -x509` makes CA:TRUE certificates; libpq accepts one as the server
    // certificate when it is also the sslrootcert.
    let dir = tempdir();
    let own = pem_file(dir.path(), "server.crt", fake_server::SELF_SIGNED_CERT);
    let server = FakeServer::start(vec![
        (
            tls_with(fake_server::SELF_SIGNED_CERT, fake_server::SELF_SIGNED_KEY),
            Reply::Accept,
        ),
        (
            tls_with(fake_server::SELF_SIGNED_CERT, fake_server::SELF_SIGNED_KEY),
            Reply::Accept,
        ),
    ]);
    let s = spec(&format!(
        "host=localhost port={} sslmode=verify-full sslrootcert={own}",
        server.port
    ));
    let r = s.connect("t").await;
    assert!(r.is_ok(), "{:?}", r.err());
    // The pinned certificate still has to name the host under verify-full.
    let by_ip = spec(&format!(
        "host=127.0.0.1 port={} sslmode=verify-full sslrootcert={own}",
        server.port
    ));
    let e = by_ip
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_tls_failure(), "{e}");
    let _ = server.seen().await;
}

#[tokio::test]
async fn verify_full_rejects_a_self_signed_certificate_not_in_the_root_file() {
    let dir = tempdir();
    let ca = pem_file(dir.path(), "ca.pem", fake_server::CA);
    let server = FakeServer::start(vec![(
        tls_with(fake_server::SELF_SIGNED_CERT, fake_server::SELF_SIGNED_KEY),
        Reply::Accept,
    )]);
    let s = spec(&format!(
        "host=localhost port={} sslmode=verify-full sslrootcert={ca}",
        server.port
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.is_tls_failure(), "{e}");
    // Not webpki's opaque "CaUsedAsEndEntity", but what to do about it.
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    assert!(e.to_string().contains("self-signed"), "{e}");
    let _ = server.seen().await;
}

#[tokio::test]
async fn client_certificate_is_presented() {
    let dir = tempdir();
    let ca = pem_file(dir.path(), "ca.pem", fake_server::CA);
    let cert = pem_file(dir.path(), "client.pem", fake_server::CLIENT_CERT);
    let key = pem_file(dir.path(), "client.key", fake_server::CLIENT_KEY);
    let mtls = Tls::Accept {
        cert_pem: fake_server::SERVER_CERT,
        key_pem: fake_server::SERVER_KEY,
        client_ca_pem: Some(fake_server::CA),
    };
    let server = FakeServer::start(vec![(mtls.clone(), Reply::Accept), (mtls, Reply::Accept)]);
    let s = spec(&format!(
        "host=localhost port={} sslmode=verify-full sslrootcert={ca} sslcert={cert} sslkey={key}",
        server.port
    ));
    let r = s.connect("t").await;
    assert!(r.is_ok(), "{:?}", r.err());
    let without = spec(&format!(
        "host=localhost port={} sslmode=verify-full sslrootcert={ca}",
        server.port
    ));
    assert!(without.connect("t").await.is_err());
    let seen = server.seen().await;
    assert!(matches!(&seen[0], Ok(s) if s.client_cert));
}

#[tokio::test]
async fn tls_setup_errors_name_the_file() {
    let dir = tempdir();
    let missing = dir.path().join("nope.pem");
    let s = spec(&format!(
        "host=localhost sslmode=verify-full sslrootcert={}",
        missing.display()
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(matches!(e, ConnError::TlsSetup { .. }));
    assert!(
        e.to_string()
            .contains(&format!("\"{}\" does not exist", missing.display())),
        "{e}"
    );

    // No sslrootcert: verify-* look for ~/.postgresql/root.crt, and say so.
    let env = FakeEnv {
        home: Some(dir.path().to_path_buf()),
        ..FakeEnv::new()
    };
    let s = ConnSpec::parse_with("host=localhost sslmode=verify-ca", &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    let root = dir.path().join(".postgresql").join("root.crt");
    assert!(e.to_string().contains(&root.display().to_string()), "{e}");
    assert!(e.to_string().contains("sslrootcert=system"), "{e}");

    let not_pem = pem_file(dir.path(), "empty.pem", "not a certificate\n");
    let s = spec(&format!(
        "host=localhost sslmode=verify-ca sslrootcert={not_pem}"
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.to_string().contains("no PEM certificate"), "{e}");

    let ca = pem_file(dir.path(), "ca.pem", fake_server::CA);
    let cert = pem_file(dir.path(), "client.pem", fake_server::CLIENT_CERT);
    let key = pem_file(dir.path(), "client.key", fake_server::CLIENT_KEY);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    let s = spec(&format!(
        "host=localhost sslmode=verify-full sslrootcert={ca} sslcert={cert} sslkey={key}"
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("must fail"));
    assert!(e.to_string().contains("group or world access"), "{e}");
}

#[tokio::test]
async fn unix_socket_never_uses_tls() {
    // libpq ignores sslmode on Unix sockets; a server would answer 'N' there anyway.
    let dir = tempdir();
    let s = spec(&format!(
        "host={} port=5999 sslmode=verify-full sslrootcert=/nonexistent",
        dir.path().display()
    ));
    let e = s
        .connect("t")
        .await
        .err()
        .unwrap_or_else(|| panic!("no server there"));
    // Failed at the socket, not at TLS setup (the root file does not exist).
    assert!(e.is_unreachable(), "{e}");
}

#[test]
fn pinned_certificate_validity_is_read_from_der() {
    let der = rustls_pemfile::certs(&mut fake_server::SELF_SIGNED_CERT.as_bytes())
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("test cert"));
    let (not_before, not_after) =
        cert_validity::validity(der.as_ref()).unwrap_or_else(|| panic!("validity"));
    // 2000-01-01 (UTCTime) to 2100-01-01 (GeneralizedTime): both encodings are read.
    assert_eq!(not_before, 946_684_800);
    assert_eq!(not_after, 4_102_444_800);
}

#[test]
fn connect_future_and_errors_are_thread_safe() {
    // Callers may spawn the connect future or carry errors across threads (anyhow).
    fn send<T: Send>(_: &T) {}
    fn send_sync_static<T: Send + Sync + 'static>() {}
    let s = spec("host=localhost");
    let fut = s.connect("t");
    send(&fut);
    drop(fut);
    send_sync_static::<ConnError>();
    send_sync_static::<ConnSpec>();
}
