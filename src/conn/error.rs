//! Errors of connection-string parsing and connecting.
//!
//! Every message is one line and never contains a password: parse errors name the keyword
//! or URL part, connection errors name the masked target (`postgresql://app:****@…`).

use std::error::Error as StdError;
use std::io;

use tokio_postgres::error::SqlState;

/// The allowed `sslmode` values, in libpq's order (quoted in error messages).
pub const SSLMODE_VALUES: &str = "disable, allow, prefer, require, verify-ca, verify-full";

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Malformed connection string; the message says what and where.
    #[error("invalid connection string: {message}")]
    Syntax { message: String },

    #[error("invalid connection string: unknown option \"{keyword}\"")]
    UnknownKeyword { keyword: String },

    /// A libpq option restage cannot honour; ignoring it could silently weaken what the
    /// user asked for (channel binding, CRLs, …), so it is refused.
    #[error("invalid connection string: option \"{keyword}\" is not supported by restage")]
    UnsupportedKeyword { keyword: String },

    #[error("invalid sslmode \"{value}\" (from {origin}); allowed values: {SSLMODE_VALUES}")]
    InvalidSslMode { value: String, origin: String },

    /// `origin` is the keyword or environment variable the value came from.
    #[error("invalid value \"{value}\" for {origin}: {reason}")]
    InvalidValue {
        origin: String,
        value: String,
        reason: String,
    },

    #[error(
        "invalid connection string: several hosts ({hosts}) are not supported; give exactly one host"
    )]
    MultipleHosts { hosts: String },

    #[error(
        "no database user given (user=, PGUSER) and the operating-system user name cannot be determined"
    )]
    NoUser,

    /// TLS could not be set up before connecting (certificate files, key permissions).
    #[error("cannot connect to {target}: {message}")]
    TlsSetup { target: String, message: String },

    /// The connection attempt failed; `source` keeps the SQLSTATE.
    #[error("cannot connect to {target}: {}", describe(source))]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },

    /// `connect_timeout` elapsed before the session was established.
    #[error("cannot connect to {target}: timed out after {seconds} s (connect_timeout)")]
    Timeout { target: String, seconds: u64 },
}

impl ConnError {
    /// The underlying PostgreSQL error, if the server answered with one.
    pub fn pg_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            ConnError::Connect { source, .. } => Some(source),
            _ => None,
        }
    }

    /// SQLSTATE of the server's error response.
    pub fn code(&self) -> Option<&SqlState> {
        self.pg_error().and_then(tokio_postgres::Error::code)
    }

    /// Wrong password, no pg_hba.conf entry, role may not log in…
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self.code(),
            Some(c) if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        )
    }

    /// The server is there but the database is not (3D000).
    pub fn is_missing_database(&self) -> bool {
        self.code() == Some(&SqlState::INVALID_CATALOG_NAME)
    }

    /// Nothing usable answered: refused, unresolvable, network down, timed out.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ConnError::Timeout { .. } => true,
            ConnError::Connect { source, .. } => {
                source.as_db_error().is_none()
                    && find_rustls_error(source).is_none()
                    && chain(source).any(|e| e.is::<io::Error>())
            }
            _ => false,
        }
    }

    /// The TLS handshake failed (certificate rejected, server without TLS under `require`…).
    pub fn is_tls_failure(&self) -> bool {
        match self {
            ConnError::TlsSetup { .. } => true,
            ConnError::Connect { source, .. } => {
                find_rustls_error(source).is_some() || is_tls_kind(source)
            }
            _ => false,
        }
    }

    /// A problem with the connection string or environment, found before any network I/O.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            ConnError::Syntax { .. }
                | ConnError::UnknownKeyword { .. }
                | ConnError::UnsupportedKeyword { .. }
                | ConnError::InvalidSslMode { .. }
                | ConnError::InvalidValue { .. }
                | ConnError::MultipleHosts { .. }
                | ConnError::NoUser
        )
    }
}

/// The error itself and all its causes.
fn chain<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&e: &&'a (dyn StdError + 'static)| e.source())
}

/// tokio-rustls reports handshake failures as `io::Error` wrapping the `rustls::Error`;
/// `io::Error::source` skips the wrapped error, so look inside with `get_ref`.
pub(crate) fn find_rustls_error<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    chain(e).find_map(|e| {
        e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        })
    })
}

/// tokio-postgres's error kind is private; its Display is the only stable signal of a
/// TLS-stage failure that carries no rustls error ("server does not support TLS").
fn is_tls_kind(e: &tokio_postgres::Error) -> bool {
    e.to_string().starts_with("error performing TLS handshake")
}

/// One line: the server's message with its SQLSTATE, or the error and its causes.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    let text = if let Some(db) = e.as_db_error() {
        format!("{} (SQLSTATE {})", db.message(), db.code().code())
    } else {
        let mut parts: Vec<String> = Vec::new();
        for cause in chain(e) {
            let s = cause.to_string();
            // io::Error displays its wrapped error, which may then appear again as a source.
            if !s.is_empty() && parts.last() != Some(&s) {
                parts.push(s);
            }
        }
        let mut text = parts.join(": ");
        if let Some(hint) = find_rustls_error(e).and_then(tls_hint) {
            text.push_str(" (");
            text.push_str(hint);
            text.push(')');
        }
        text
    };
    one_line(&text)
}

fn tls_hint(e: &rustls::Error) -> Option<&'static str> {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => Some(
            "the server certificate is not signed by a trusted root; set sslrootcert to the CA certificate, or to the server certificate itself if it is self-signed",
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            Some("the server certificate does not name this host; connect by the name in the certificate, or use sslmode=verify-ca")
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            Some("the server certificate has expired")
        }
        _ => None,
    }
}

fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a\nb\r\n  c  \n"), "a b c");
    }

    #[test]
    fn rustls_error_is_found_inside_io_error() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, inner);
        let found = find_rustls_error(&io);
        assert!(matches!(
            found,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ));
        assert!(found.and_then(tls_hint).is_some());
    }

    #[test]
    fn config_errors_are_classified() {
        let e = ConnError::UnknownKeyword {
            keyword: "hots".into(),
        };
        assert!(e.is_config());
        assert!(!e.is_unreachable());
        assert!(!e.is_auth_failure());
        assert_eq!(
            e.to_string(),
            "invalid connection string: unknown option \"hots\""
        );
        let t = ConnError::Timeout {
            target: "postgresql://a@h:5432/d".into(),
            seconds: 3,
        };
        assert!(t.is_unreachable());
        assert_eq!(
            t.to_string(),
            "cannot connect to postgresql://a@h:5432/d: timed out after 3 s (connect_timeout)"
        );
    }

    #[test]
    fn sslmode_error_lists_allowed_values() {
        let e = ConnError::InvalidSslMode {
            value: "on".into(),
            origin: "sslmode".into(),
        };
        let msg = e.to_string();
        for v in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert!(msg.contains(v), "{msg}");
        }
        assert!(msg.contains("\"on\""));
    }
}
