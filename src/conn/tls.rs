//! TLS per libpq's `sslmode`, on rustls with the ring provider.
//!
//! | sslmode       | certificate chain                               | host name |
//! |---------------|-------------------------------------------------|-----------|
//! | allow, prefer | not checked                                     | no        |
//! | require       | checked only if a root file is given or present | no        |
//! | verify-ca     | checked                                         | no        |
//! | verify-full   | checked                                         | yes       |
//!
//! "Checked" means: leads to a root in `sslrootcert` (or `~/.postgresql/root.crt`, or the
//! system store for `sslrootcert=system`) and is within its validity period, or is itself
//! one of the certificates in the root file (a pinned self-signed server certificate).
//!
//! Handshake signatures are verified in every mode: skipping the chain check must not also
//! let a peer finish the handshake without the certificate's private key.

use std::fs;
use std::io::{self, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::cert_validity;
use super::{ConnSpec, SslMode};

/// How a connection negotiates encryption.
pub(crate) enum TlsPlan {
    /// No TLS: `sslmode=disable`, or a Unix socket (libpq never uses TLS there).
    Plain,
    /// TLS. If `required` is false the server may decline it and the session continues
    /// unencrypted (`allow`/`prefer`).
    Tls {
        config: Box<ClientConfig>,
        required: bool,
    },
}

/// Build the TLS plan for `spec`. Errors are one-line messages naming the file involved.
pub(crate) fn plan(spec: &ConnSpec) -> Result<TlsPlan, String> {
    if spec.sslmode == SslMode::Disable || spec.host.is_socket() {
        return Ok(TlsPlan::Plain);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = trusted_roots(spec)?;
    let verifier: Arc<dyn ServerCertVerifier> = Arc::new(CertificateCheck {
        roots,
        check_name: spec.sslmode == SslMode::VerifyFull,
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(spec)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("unusable client certificate or key: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    // PostgreSQL 17+ checks ALPN when the client sends it; libpq 17+ always does.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsPlan::Tls {
        config: Box::new(config),
        required: matches!(
            spec.sslmode,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        ),
    })
}

/// What the server certificate is checked against.
#[derive(Debug)]
struct Roots {
    store: RootCertStore,
    /// The certificates of the root file themselves. A server certificate identical to one
    /// of them is trusted as is: that is the self-signed setup the PostgreSQL manual
    /// describes (server.crt copied to root.crt), which OpenSSL accepts even though such
    /// certificates usually carry `CA:TRUE`, which webpki refuses for a server.
    pinned: Vec<CertificateDer<'static>>,
}

/// The roots the server chain must lead to, or `None` for "do not check the chain".
fn trusted_roots(spec: &ConnSpec) -> Result<Option<Roots>, String> {
    let default_file = spec.pg_dir.as_ref().map(|d| d.join("root.crt"));
    match spec.sslmode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer => Ok(None),
        SslMode::Require => match spec.sslrootcert.as_deref() {
            Some(path) => load_root_file(Path::new(path)).map(Some),
            // libpq: with require, an existing ~/.postgresql/root.crt turns on verify-ca.
            None => match default_file.filter(|p| p.exists()) {
                Some(path) => load_root_file(&path).map(Some),
                None => Ok(None),
            },
        },
        SslMode::VerifyCa | SslMode::VerifyFull => match spec.sslrootcert.as_deref() {
            Some("system") => system_roots().map(Some),
            Some(path) => load_root_file(Path::new(path)).map(Some),
            None => match default_file {
                Some(path) if path.exists() => load_root_file(&path).map(Some),
                Some(path) => Err(format!(
                    "root certificate file \"{}\" does not exist; set sslrootcert to the CA certificate, use sslrootcert=system for the system's trusted roots, or use an sslmode that does not verify the server",
                    path.display()
                )),
                None => Err(format!(
                    "sslmode={} needs sslrootcert (the home directory, where root.crt would be, is unknown)",
                    spec.sslmode
                )),
            },
        },
    }
}

fn load_root_file(path: &Path) -> Result<Roots, String> {
    let pinned = read_certs(path, "root certificate")?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(pinned.iter().cloned());
    if added == 0 {
        return Err(format!(
            "root certificate file \"{}\" holds no usable certificate",
            path.display()
        ));
    }
    Ok(Roots { store, pinned })
}

fn system_roots() -> Result<Roots, String> {
    let result = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(result.certs);
    if added == 0 {
        let why = result
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(format!(
            "sslrootcert=system: no trusted root certificates found in the system store{why}"
        ));
    }
    Ok(Roots {
        store,
        pinned: Vec::new(),
    })
}

/// PEM certificates from `path`; at least one.
fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = fs::File::open(path).map_err(|e| cannot_read(what, path, &e))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<_, _>>()
        .map_err(|e| cannot_read(what, path, &e))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} file \"{}\" contains no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

fn cannot_read(what: &str, path: &Path, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound {
        format!("{what} file \"{}\" does not exist", path.display())
    } else {
        format!("cannot read {what} file \"{}\": {e}", path.display())
    }
}

/// The client certificate chain and key: `sslcert`/`sslkey`, else libpq's defaults
/// `~/.postgresql/postgresql.crt` / `.key` when the certificate file exists.
fn client_identity(
    spec: &ConnSpec,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
    let default = |name: &str| spec.pg_dir.as_ref().map(|d| d.join(name));
    let cert_path = match spec.sslcert.as_deref() {
        Some(p) => PathBuf::from(p),
        None => match default("postgresql.crt").filter(|p| p.exists()) {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let chain = read_certs(&cert_path, "client certificate")?;
    let key_path = match spec.sslkey.as_deref() {
        Some(p) => PathBuf::from(p),
        None => default("postgresql.key").ok_or_else(|| {
            format!(
                "client certificate \"{}\" given but no sslkey",
                cert_path.display()
            )
        })?,
    };
    let key = read_key(&key_path)?;
    Ok(Some((chain, key)))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let what = "private key";
    let meta = fs::metadata(path).map_err(|e| cannot_read(what, path, &e))?;
    if !meta.is_file() {
        return Err(format!(
            "private key file \"{}\" is not a regular file",
            path.display()
        ));
    }
    check_key_permissions(path, meta.uid(), meta.permissions().mode(), current_euid())?;
    let file = fs::File::open(path).map_err(|e| cannot_read(what, path, &e))?;
    match rustls_pemfile::private_key(&mut BufReader::new(file)) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(format!(
            "private key file \"{}\" contains no unencrypted PEM private key",
            path.display()
        )),
        Err(e) => Err(cannot_read(what, path, &e)),
    }
}

fn current_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// libpq's rule: a key owned by the current user must not be accessible to group or
/// others; a root-owned key (shared through a group) may be group-readable.
fn check_key_permissions(path: &Path, owner: u32, mode: u32, euid: u32) -> Result<(), String> {
    let too_open = if owner == euid {
        mode & 0o077 != 0
    } else if owner == 0 {
        mode & 0o037 != 0
    } else {
        false
    };
    if too_open {
        return Err(format!(
            "private key file \"{}\" has group or world access; permissions must be u=rw (0600) or less if owned by the current user, or u=rw,g=r (0640) or less if owned by root",
            path.display()
        ));
    }
    Ok(())
}

/// How the server's certificate is checked. Without roots (`allow`/`prefer`/`require` without
/// a root file) any certificate is accepted, but the handshake must still be signed by the key
/// in the certificate presented. With roots (`verify-ca`/`verify-full`, and `require` with a
/// root file) the chain must lead to a trusted root and be valid now; with `check_name` the
/// certificate must also name the host we dialled (DNS name or IP address).
#[derive(Debug)]
struct CertificateCheck {
    roots: Option<Roots>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CertificateCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        let cert = ParsedCertificate::try_from(end_entity)?;
        if roots
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            check_validity(end_entity, now)?;
        } else {
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                &roots.store,
                intermediates,
                now,
                self.algorithms.all,
            )
            .map_err(untrusted_ca_as_unknown_issuer)?;
        }
        if self.check_name {
            verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// webpki refuses a `CA:TRUE` server certificate before looking for its issuer and reports
/// it as an opaque "Other(CaUsedAsEndEntity)". Such a certificate is only acceptable when
/// pinned, so for the user the problem is the same as an unknown issuer: say that.
fn untrusted_ca_as_unknown_issuer(e: rustls::Error) -> rustls::Error {
    match &e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other))
            if other.0.to_string().contains("CaUsedAsEndEntity") =>
        {
            CertificateError::UnknownIssuer.into()
        }
        _ => e,
    }
}

/// A pinned certificate is trusted by identity, but an expired one is still refused.
fn check_validity(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let Some((not_before, not_after)) = cert_validity::validity(cert.as_ref()) else {
        return Err(CertificateError::BadEncoding.into());
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now < not_before {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > not_after {
        return Err(CertificateError::Expired.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_permissions_follow_libpq() {
        let p = Path::new("/k");
        let me = 1000;
        assert!(check_key_permissions(p, me, 0o600, me).is_ok());
        assert!(check_key_permissions(p, me, 0o400, me).is_ok());
        assert!(check_key_permissions(p, me, 0o640, me).is_err());
        assert!(check_key_permissions(p, me, 0o604, me).is_err());
        // Root-owned keys may be group-readable (shared via a group), nothing more.
        assert!(check_key_permissions(p, 0, 0o640, me).is_ok());
        assert!(check_key_permissions(p, 0, 0o660, me).is_err());
        assert!(check_key_permissions(p, 0, 0o644, me).is_err());
        // Running as root, root's own key gets the strict rule.
        assert!(check_key_permissions(p, 0, 0o640, 0).is_err());
        let e = check_key_permissions(p, me, 0o644, me)
            .err()
            .unwrap_or_default();
        assert!(e.contains("\"/k\"") && e.contains("0600"), "{e}");
    }
}
