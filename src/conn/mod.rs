//! PostgreSQL connection strings the way every PostgreSQL user has them.
//!
//! [`ConnSpec::parse`] reads `postgresql://` URLs and libpq `keyword=value` strings, fills in
//! what is missing from the `PG*` variables, the password file and libpq's defaults, and
//! yields a fully resolved, owned spec. [`ConnSpec::connect`] opens a tokio-postgres session
//! with libpq's `sslmode` semantics; [`ConnSpec::libpq_env`] lets `pg_dump`/`pg_restore`
//! reach the same server without a password on their command line. The password lives in a
//! [`Secret`]; every printed form of a spec ([`ConnSpec::masked`], `Display`, `Debug`)
//! shows `****` instead.

mod cert_validity;
mod connect;
mod env;
mod error;
mod parse;
mod passfile;
mod resolve;
pub mod secret;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use env::{Environment, SystemEnvironment, DEFAULT_SOCKET_DIRS};
pub use error::{ConnError, SSLMODE_VALUES};
pub use secret::{Secret, REDACTED};

#[cfg(test)]
pub(crate) use env::FakeEnv;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name or an IP address (IPv6 without brackets).
    Tcp(String),
    /// A directory holding the server's Unix socket (`.s.PGSQL.<port>`).
    Socket(String),
}

impl Host {
    /// libpq's rule: a host starting with `/` is a socket directory.
    pub fn from_libpq(host: &str) -> Host {
        if host.starts_with('/') {
            Host::Socket(host.to_owned())
        } else {
            Host::Tcp(host.to_owned())
        }
    }

    /// The value as libpq's `host` keyword / `PGHOST` spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Host::Tcp(h) | Host::Socket(h) => h,
        }
    }

    pub fn is_socket(&self) -> bool {
        matches!(self, Host::Socket(_))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the server certificate must chain to a trusted root.
    pub fn verifies_chain(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl FromStr for SslMode {
    type Err = ConnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(ConnError::InvalidSslMode {
                    value: s.to_owned(),
                    origin: "sslmode".to_owned(),
                })
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed and fully resolved connection target. `Debug` and `Display` never show the
/// password (`Display` is [`ConnSpec::masked`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSpec {
    host: Host,
    port: u16,
    user: String,
    password: Option<Secret>,
    dbname: String,
    sslmode: SslMode,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    application_name: Option<String>,
    connect_timeout: Option<u64>,
    options: Option<String>,
    /// `~/.postgresql`, where libpq looks for `root.crt`, `postgresql.crt` and
    /// `postgresql.key` when the corresponding option is not given.
    pg_dir: Option<PathBuf>,
}

impl ConnSpec {
    /// Parse a URL or `keyword=value` string, with fallbacks from the real environment.
    pub fn parse(input: &str) -> Result<ConnSpec, ConnError> {
        Self::parse_with(input, &SystemEnvironment)
    }

    /// Parse with fallbacks from `env` (tests pass a fixed environment).
    pub fn parse_with(input: &str, env: &dyn Environment) -> Result<ConnSpec, ConnError> {
        let raw = parse::parse_conn_string(input)?;
        resolve::resolve(raw, env)
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    pub fn sslmode(&self) -> SslMode {
        self.sslmode
    }

    pub fn sslrootcert(&self) -> Option<&str> {
        self.sslrootcert.as_deref()
    }

    pub fn sslcert(&self) -> Option<&str> {
        self.sslcert.as_deref()
    }

    pub fn sslkey(&self) -> Option<&str> {
        self.sslkey.as_deref()
    }

    pub fn application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }

    /// libpq-normalized: `None` means wait forever; values below 2 s are raised to 2 s.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout.map(Duration::from_secs)
    }

    /// Server options sent at startup (`-c name=value …`).
    pub fn options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// The same connection with run-time parameters (`name=value`) set in its session, after
    /// any given in `options` (so they win). Reaches both restage's own connections and the
    /// libpq programs it runs (through `PGOPTIONS`).
    pub fn with_settings(&self, settings: &[&str]) -> ConnSpec {
        let mut options = self.options.clone().unwrap_or_default();
        for s in settings {
            if !options.is_empty() {
                options.push(' ');
            }
            options.push_str("-c ");
            options.push_str(s);
        }
        ConnSpec {
            options: (!options.is_empty()).then_some(options),
            ..self.clone()
        }
    }

    /// The value a run-time parameter gets from `options` (`-c name=value`, the last one
    /// wins), e.g. a setting added by [`ConnSpec::with_settings`].
    pub fn setting(&self, name: &str) -> Option<&str> {
        let mut words = self.options.as_deref()?.split_whitespace();
        let mut found = None;
        while let Some(word) = words.next() {
            let pair = match word {
                "-c" => words.next(),
                w => w.strip_prefix("-c").or_else(|| w.strip_prefix("--")),
            };
            if let Some((key, value)) = pair.and_then(|p| p.split_once('=')) {
                if key == name {
                    found = Some(value);
                }
            }
        }
        found
    }

    /// The same connection, with `name` as its application_name unless one was given: then
    /// the libpq programs restage runs carry it too, and the run's sessions can be told apart
    /// from everybody else's on the server.
    pub fn with_default_application_name(&self, name: &str) -> ConnSpec {
        ConnSpec {
            application_name: Some(
                self.application_name
                    .clone()
                    .unwrap_or_else(|| name.to_owned()),
            ),
            ..self.clone()
        }
    }

    /// The same server, reached the same way, but another database.
    pub fn with_dbname(&self, dbname: &str) -> ConnSpec {
        ConnSpec {
            dbname: dbname.to_owned(),
            ..self.clone()
        }
    }

    /// The same server and database as another role (e.g. one just provisioned).
    pub fn with_user(&self, user: &str, password: Option<Secret>) -> ConnSpec {
        ConnSpec {
            user: user.to_owned(),
            password,
            ..self.clone()
        }
    }

    /// A URL for logs and error messages: the password, if any, is `****`. Socket
    /// directories are percent-encoded into the host part; `sslmode` is appended when it
    /// is not the default.
    pub fn masked(&self) -> String {
        let mut s = String::from("postgresql://");
        s.push_str(&parse::encode(&self.user));
        if self.password.is_some() {
            s.push(':');
            s.push_str(REDACTED);
        }
        s.push('@');
        match &self.host {
            Host::Tcp(h) if h.contains(':') => {
                s.push('[');
                s.push_str(h);
                s.push(']');
            }
            h => s.push_str(&parse::encode(h.as_str())),
        }
        s.push(':');
        s.push_str(&self.port.to_string());
        s.push('/');
        s.push_str(&parse::encode(&self.dbname));
        if self.sslmode != SslMode::Prefer {
            s.push_str("?sslmode=");
            s.push_str(self.sslmode.as_str());
        }
        s
    }

    /// Variables that make a libpq program (`pg_dump`, `pg_restore`, `psql`) connect to
    /// the same server the same way. The password travels here rather than on the command
    /// line, where `ps` would show it. Callers should also `env_remove` every other
    /// inherited `PG*` variable. Never log the result: it contains the password.
    pub fn libpq_env(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("PGHOST", self.host.as_str().to_owned()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", self.user.clone()),
            ("PGDATABASE", self.dbname.clone()),
        ];
        if let Some(p) = &self.password {
            vars.push(("PGPASSWORD", p.expose().to_owned()));
        }
        vars.push(("PGSSLMODE", self.sslmode.as_str().to_owned()));
        let optional = [
            ("PGSSLROOTCERT", &self.sslrootcert),
            ("PGSSLCERT", &self.sslcert),
            ("PGSSLKEY", &self.sslkey),
            ("PGAPPNAME", &self.application_name),
            ("PGOPTIONS", &self.options),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                vars.push((name, v.clone()));
            }
        }
        if let Some(t) = self.connect_timeout {
            vars.push(("PGCONNECT_TIMEOUT", t.to_string()));
        }
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

impl fmt::Display for ConnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests;
