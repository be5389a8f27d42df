//! A scripted PostgreSQL server for unit tests of `connect`: it speaks just enough of the
//! startup protocol (SSLRequest, TLS, StartupMessage, cleartext password, ErrorResponse) to
//! show what the client sent and how it reacts. Blocking I/O on a std thread.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

pub(crate) const CA: &str = include_str!("testdata/ca.pem");
pub(crate) const OTHER_CA: &str = include_str!("testdata/other-ca.pem");
pub(crate) const SERVER_CERT: &str = include_str!("testdata/server.pem");
pub(crate) const SERVER_KEY: &str = include_str!("testdata/server.key");
pub(crate) const SELF_SIGNED_CERT: &str = include_str!("testdata/selfsigned.pem");
pub(crate) const SELF_SIGNED_KEY: &str = include_str!("testdata/selfsigned.key");
pub(crate) const CLIENT_CERT: &str = include_str!("testdata/client.pem");
pub(crate) const CLIENT_KEY: &str = include_str!("testdata/client.key");

const SSL_REQUEST: u32 = 80_877_103;

/// How the server answers an SSLRequest.
#[derive(Clone)]
pub(crate) enum Tls {
    /// Answer 'N' (no TLS).
    Refuse,
    /// Answer 'S' and handshake with this certificate chain and key.
    Accept {
        cert_pem: &'static str,
        key_pem: &'static str,
        /// Require a client certificate signed by this CA.
        client_ca_pem: Option<&'static str>,
    },
    /// Answer 'S', then send bytes that are not TLS.
    Garbage,
}

/// What the server does after the startup message.
#[derive(Clone)]
pub(crate) enum Reply {
    /// Ask for a cleartext password, then accept the session.
    AcceptWithPassword,
    /// Accept without authentication.
    Accept,
    /// FATAL error with this SQLSTATE and message.
    Error(&'static str, &'static str),
    /// Say nothing for this long, then hang up.
    Silence(Duration),
}

/// What one connection showed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    pub ssl_requested: bool,
    pub tls: bool,
    pub alpn: Option<Vec<u8>>,
    pub client_cert: bool,
    pub params: HashMap<String, String>,
    pub password: Option<String>,
}

pub(crate) struct FakeServer {
    pub port: u16,
    handle: JoinHandle<Vec<Result<Seen, String>>>,
}

impl FakeServer {
    /// Serve one connection per script entry, in order, on 127.0.0.1.
    pub fn start(script: Vec<(Tls, Reply)>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"))
            .port();
        let handle = std::thread::spawn(move || {
            script
                .into_iter()
                .map(|(tls, reply)| {
                    let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .map_err(|e| e.to_string())?;
                    serve(stream, &tls, &reply).map_err(|e| e.to_string())
                })
                .collect()
        });
        FakeServer { port, handle }
    }

    /// What each connection showed; waits for the script to finish.
    pub async fn seen(self) -> Vec<Result<Seen, String>> {
        match tokio::task::spawn_blocking(move || self.handle.join()).await {
            Ok(Ok(v)) => v,
            _ => panic!("fake server thread failed"),
        }
    }
}

fn serve(mut tcp: TcpStream, tls: &Tls, reply: &Reply) -> io::Result<Seen> {
    let mut seen = Seen::default();
    let (len, code) = read_header(&mut tcp)?;
    if code != SSL_REQUEST {
        let body = read_body(&mut tcp, len.saturating_sub(8))?;
        return finish(tcp, seen, &body, reply);
    }
    seen.ssl_requested = true;
    match tls {
        Tls::Refuse => {
            tcp.write_all(b"N")?;
            let (len, _) = read_header(&mut tcp)?;
            let body = read_body(&mut tcp, len.saturating_sub(8))?;
            finish(tcp, seen, &body, reply)
        }
        Tls::Garbage => {
            tcp.write_all(b"S")?;
            tcp.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0xff, 0xff, 0x00, 0x00])?;
            // Let the client read the garbage before the socket goes away.
            let mut sink = [0u8; 512];
            let _ = tcp.read(&mut sink);
            Ok(seen)
        }
        Tls::Accept {
            cert_pem,
            key_pem,
            client_ca_pem,
        } => {
            tcp.write_all(b"S")?;
            let config = server_config(cert_pem, key_pem, *client_ca_pem);
            let conn = ServerConnection::new(Arc::new(config)).map_err(io::Error::other)?;
            let mut stream = StreamOwned::new(conn, tcp);
            let (len, _) = read_header(&mut stream)?;
            let body = read_body(&mut stream, len.saturating_sub(8))?;
            seen.tls = true;
            seen.alpn = stream.conn.alpn_protocol().map(<[u8]>::to_vec);
            seen.client_cert = stream
                .conn
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            finish(stream, seen, &body, reply)
        }
    }
}

fn finish<S: Read + Write>(
    mut s: S,
    mut seen: Seen,
    startup: &[u8],
    reply: &Reply,
) -> io::Result<Seen> {
    // Startup body after the protocol version (read with the header): key\0value\0…\0
    let mut fields = startup
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
        if k.is_empty() {
            break;
        }
        seen.params.insert(k, v);
    }
    match reply {
        Reply::Silence(d) => {
            std::thread::sleep(*d);
            return Ok(seen);
        }
        Reply::Error(code, message) => {
            let mut body = Vec::new();
            for (t, v) in [
                (b'S', "FATAL"),
                (b'V', "FATAL"),
                (b'C', code),
                (b'M', message),
            ] {
                body.push(t);
                body.extend_from_slice(v.as_bytes());
                body.push(0);
            }
            body.push(0);
            message_out(&mut s, b'E', &body)?;
        }
        Reply::AcceptWithPassword | Reply::Accept => {
            if matches!(reply, Reply::AcceptWithPassword) {
                message_out(&mut s, b'R', &3u32.to_be_bytes())?;
                let mut tag = [0u8; 1];
                s.read_exact(&mut tag)?;
                let mut len = [0u8; 4];
                s.read_exact(&mut len)?;
                let body = read_body(&mut s, u32::from_be_bytes(len).saturating_sub(4))?;
                let pw = body.strip_suffix(&[0]).unwrap_or(&body);
                seen.password = Some(String::from_utf8_lossy(pw).into_owned());
            }
            message_out(&mut s, b'R', &0u32.to_be_bytes())?;
            message_out(&mut s, b'Z', b"I")?;
        }
    }
    s.flush()?;
    Ok(seen)
}

fn read_header(s: &mut impl Read) -> io::Result<(u32, u32)> {
    let mut buf = [0u8; 8];
    s.read_exact(&mut buf)?;
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let code = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Ok((len, code))
}

/// `remaining` bytes: the message length minus what was already read of it.
fn read_body(s: &mut impl Read, remaining: u32) -> io::Result<Vec<u8>> {
    let mut body = vec![0u8; remaining as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

fn message_out(s: &mut impl Write, tag: u8, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len() + 4).map_err(io::Error::other)?;
    s.write_all(&[tag])?;
    s.write_all(&len.to_be_bytes())?;
    s.write_all(body)
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("test certificate: {e}"))
}

fn server_config(cert_pem: &str, key_pem: &str, client_ca_pem: Option<&str>) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key: PrivateKeyDer<'static> = match rustls_pemfile::private_key(&mut key_pem.as_bytes()) {
        Ok(Some(k)) => k,
        _ => panic!("test key"),
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("versions: {e}"));
    let builder = match client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(certs(ca));
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap_or_else(|e| panic!("client verifier: {e}"));
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs(cert_pem), key)
        .unwrap_or_else(|e| panic!("server cert: {e}"));
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    config
}
