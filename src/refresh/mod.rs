//! `restage refresh` building blocks on the staging server's admin connection: the
//! per-environment lock, the shadow and rollback database names, the settings a live database
//! carries over, the atomic swap, retention, and the schema completeness check. Nothing here
//! copies data: `app::refresh` wires these around `clone`.
//!
//! - [`lock`]: a session advisory lock per environment, released by the server if we die;
//! - [`names`]: `<live>_restage_shadow`, `<live>_restage_prev_<UTC timestamp>` (≤ 63 bytes);
//! - [`carry`]: database-level settings, CONNECT grants, connection limit of the live database;
//! - [`swap`]: both renames in one transaction, sessions ended while new ones wait;
//! - [`retention`]: previous databases kept for `--rollback`, older ones dropped;
//! - [`completeness`]: every source constraint and index present and valid on the copy.

pub mod carry;
pub mod completeness;
pub mod lock;
pub mod names;
pub mod retention;
pub mod swap;

pub use crate::catalog::quote_ident as ident;

/// A single-quoted literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The comment of a database, if it exists.
pub async fn comment_of(
    admin: &tokio_postgres::Client,
    db: &str,
) -> Result<Option<Option<String>>, tokio_postgres::Error> {
    let row = admin
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&db],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}
