//! From explicit options to a complete [`ConnSpec`], with libpq's precedence: the
//! connection string, then the `PG*` variable, then (password only) the password file, then
//! the built-in default. An explicit empty value skips the variable but not the default.

use std::path::PathBuf;

use super::env::Environment;
use super::error::ConnError;
use super::parse::RawOptions;
use super::passfile::{self, Lookup};
use super::{ConnSpec, Host, SslMode};

/// A value and where it came from (keyword or variable), for error messages.
struct Given {
    value: String,
    origin: String,
}

/// The explicit value, else the environment variable. Empty counts as given, as in libpq.
fn pick(
    explicit: Option<String>,
    keyword: &str,
    var: &str,
    env: &dyn Environment,
) -> Option<Given> {
    match explicit {
        Some(value) => Some(Given {
            value,
            origin: keyword.to_owned(),
        }),
        None => env.var(var).map(|value| Given {
            value,
            origin: var.to_owned(),
        }),
    }
}

/// Like `pick`, but an empty value means "use the default".
fn pick_nonempty(
    explicit: Option<String>,
    keyword: &str,
    var: &str,
    env: &dyn Environment,
) -> Option<Given> {
    pick(explicit, keyword, var, env).filter(|g| !g.value.is_empty())
}

pub(crate) fn resolve(raw: RawOptions, env: &dyn Environment) -> Result<ConnSpec, ConnError> {
    let port = match pick_nonempty(raw.port, "port", "PGPORT", env) {
        Some(g) => parse_port(&g)?,
        None => 5432,
    };

    let host = match pick_nonempty(raw.host, "host", "PGHOST", env) {
        Some(g) if g.value.contains(',') => {
            return Err(ConnError::MultipleHosts { hosts: g.value });
        }
        Some(g) => g.value,
        None => env.default_host(port),
    };
    let host = Host::from_libpq(&host);

    let user = match pick_nonempty(raw.user, "user", "PGUSER", env) {
        Some(g) => g.value,
        None => env.os_user().ok_or(ConnError::NoUser)?,
    };
    let dbname = pick_nonempty(raw.dbname, "dbname", "PGDATABASE", env)
        .map_or_else(|| user.clone(), |g| g.value);

    let sslrootcert =
        pick_nonempty(raw.sslrootcert, "sslrootcert", "PGSSLROOTCERT", env).map(|g| g.value);
    let sslcert = pick_nonempty(raw.sslcert, "sslcert", "PGSSLCERT", env).map(|g| g.value);
    let sslkey = pick_nonempty(raw.sslkey, "sslkey", "PGSSLKEY", env).map(|g| g.value);
    let sslmode = resolve_sslmode(raw.sslmode, sslrootcert.as_deref(), env)?;

    let application_name =
        pick_nonempty(raw.application_name, "application_name", "PGAPPNAME", env).map(|g| g.value);
    let connect_timeout = match pick_nonempty(
        raw.connect_timeout,
        "connect_timeout",
        "PGCONNECT_TIMEOUT",
        env,
    ) {
        Some(g) => parse_timeout(&g)?,
        None => None,
    };
    let options = pick_nonempty(raw.options, "options", "PGOPTIONS", env).map(|g| g.value);

    let home = env.home_dir();
    let password = match pick_nonempty(raw.password, "password", "PGPASSWORD", env) {
        Some(g) => Some(super::Secret::new(g.value)),
        None => {
            let file = pick_nonempty(raw.passfile, "passfile", "PGPASSFILE", env)
                .map(|g| PathBuf::from(g.value))
                .or_else(|| home.as_ref().map(|h| h.join(".pgpass")));
            file.and_then(|path| {
                passfile::lookup_password(
                    &path,
                    Lookup {
                        host: host.as_str(),
                        port,
                        dbname: &dbname,
                        user: &user,
                    },
                )
            })
        }
    };

    Ok(ConnSpec {
        host,
        port,
        user,
        password,
        dbname,
        sslmode,
        sslrootcert,
        sslcert,
        sslkey,
        application_name,
        connect_timeout,
        options,
        pg_dir: home.map(|h| h.join(".postgresql")),
    })
}

/// Explicit, `PGSSLMODE`, legacy `PGREQUIRESSL=1`, then `verify-full` when
/// `sslrootcert=system` (libpq 16: the system store is only safe with host-name checks),
/// else `prefer`.
fn resolve_sslmode(
    explicit: Option<String>,
    sslrootcert: Option<&str>,
    env: &dyn Environment,
) -> Result<SslMode, ConnError> {
    let system_roots = sslrootcert == Some("system");
    let mode = match pick(explicit, "sslmode", "PGSSLMODE", env) {
        Some(g) => g
            .value
            .parse::<SslMode>()
            .map_err(|_| ConnError::InvalidSslMode {
                value: g.value.clone(),
                origin: g.origin.clone(),
            })?,
        None if env.var("PGREQUIRESSL").is_some_and(|v| v.starts_with('1')) => SslMode::Require,
        None if system_roots => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if system_roots && mode != SslMode::VerifyFull {
        return Err(ConnError::InvalidValue {
            origin: "sslmode".to_owned(),
            value: mode.as_str().to_owned(),
            reason: "sslrootcert=system requires sslmode=verify-full (anyone can get a publicly trusted certificate for a name they control)".to_owned(),
        });
    }
    Ok(mode)
}

fn parse_port(g: &Given) -> Result<u16, ConnError> {
    if g.value.contains(',') {
        return Err(ConnError::MultipleHosts {
            hosts: format!("ports {}", g.value),
        });
    }
    match g.value.trim().parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ConnError::InvalidValue {
            origin: g.origin.clone(),
            value: g.value.clone(),
            reason: "not a port number (1-65535)".to_owned(),
        }),
    }
}

/// libpq: an integer number of seconds; zero or negative waits forever; 1 becomes 2.
fn parse_timeout(g: &Given) -> Result<Option<u64>, ConnError> {
    match g.value.trim().parse::<i64>() {
        Ok(t) if t <= 0 => Ok(None),
        Ok(t) => Ok(Some(t.max(2).unsigned_abs())),
        Err(_) => Err(ConnError::InvalidValue {
            origin: g.origin.clone(),
            value: g.value.clone(),
            reason: "not a whole number of seconds".to_owned(),
        }),
    }
}
