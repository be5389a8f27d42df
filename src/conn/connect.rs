//! Opening a tokio-postgres session for a [`ConnSpec`].

use std::time::Duration;

use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{find_rustls_error, ConnError};
use super::tls::{self, TlsPlan};
use super::{ConnSpec, Host};

impl ConnSpec {
    /// Connect and return the client; the connection driver runs on `tokio::spawn`, so
    /// call this inside a tokio runtime with I/O and time enabled.
    ///
    /// `application_name` is a fallback (libpq's `fallback_application_name`): an
    /// `application_name` from the connection string or `PGAPPNAME` wins, so operators
    /// can tag sessions. An empty string sends none.
    pub async fn connect(&self, application_name: &str) -> Result<Client, ConnError> {
        let target = self.masked();
        let plan = tls::plan(self).map_err(|message| ConnError::TlsSetup {
            target: target.clone(),
            message,
        })?;
        let config = self.pg_config(application_name);

        let attempt = async {
            match plan {
                TlsPlan::Plain => start(&config, PgSslMode::Disable, NoTls, &target).await,
                TlsPlan::Tls {
                    config: tls,
                    required,
                } => {
                    let mode = if required {
                        PgSslMode::Require
                    } else {
                        PgSslMode::Prefer
                    };
                    let result = start(&config, mode, MakeRustlsConnect::new(*tls), &target).await;
                    match result {
                        // libpq retries without TLS when a preferred handshake fails (old
                        // protocol versions, odd certificates); so do we.
                        Err(e) if !required && find_rustls_error(&e).is_some() => {
                            tracing::debug!(
                                "{target}: TLS handshake failed ({e}); retrying without TLS as sslmode={} allows",
                                self.sslmode
                            );
                            start(&config, PgSslMode::Disable, NoTls, &target).await
                        }
                        other => other,
                    }
                }
            }
        };

        let result = match self.connect_timeout {
            // tokio-postgres's own timeout covers only the TCP connect; libpq's covers the
            // whole startup (TLS, authentication) of a host, which is what users expect.
            Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), attempt).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ConnError::Timeout {
                        target,
                        seconds: secs,
                    })
                }
            },
            None => attempt.await,
        };
        result.map_err(|source| ConnError::Connect { target, source })
    }

    /// The tokio-postgres configuration, built field by field (never by re-serializing a
    /// string, which would need yet another round of quoting).
    pub(crate) fn pg_config(&self, application_name: &str) -> Config {
        let mut config = Config::new();
        match &self.host {
            Host::Tcp(h) => config.host(h),
            Host::Socket(dir) => config.host_path(dir),
        };
        config.port(self.port).user(&self.user).dbname(&self.dbname);
        if let Some(p) = &self.password {
            config.password(p.expose());
        }
        if let Some(o) = &self.options {
            config.options(o);
        }
        match self.application_name.as_deref() {
            Some(name) => {
                config.application_name(name);
            }
            None if !application_name.is_empty() => {
                config.application_name(application_name);
            }
            None => {}
        }
        if let Some(t) = self.connect_timeout {
            config.connect_timeout(Duration::from_secs(t));
        }
        config
    }
}

async fn start<T>(
    config: &Config,
    mode: PgSslMode,
    tls: T,
    target: &str,
) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket> + 'static,
    T::Stream: Send + 'static,
{
    let mut config = config.clone();
    config.ssl_mode(mode);
    let (client, connection) = config.connect(tls).await?;
    let target = target.to_owned();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("connection to {target} ended with an error: {e}");
        }
    });
    Ok(client)
}
