//! Guards that refuse to provision onto production: the same server (by
//! `system_identifier`, or host and port) and the same database, or staging secrets equal to
//! production's. Values are compared, never printed.

use tokio_postgres::Client;

use super::secrets::{same_value, Values};
use crate::conn::ConnSpec;

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("the target database {database} is the production database itself ({reason}); refusing to provision")]
    SameDatabase { database: String, reason: String },
    #[error("secret {name} equals the production connection's password; staging must never reuse production credentials")]
    ProductionPassword { name: String },
    #[error("cannot read {what}: {message}")]
    Query { what: String, message: String },
}

/// What a server says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// `pg_control_system().system_identifier`, when the role may read it.
    pub system_identifier: Option<i64>,
    pub database: String,
}

pub async fn identify(client: &Client) -> Result<ServerIdentity, GuardError> {
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .map_err(|e| GuardError::Query {
            what: "current_database()".into(),
            message: crate::pgerr::describe(&e),
        })?
        .get(0);
    // Managed services may not grant pg_control_system(); host and port still count.
    let system_identifier = client
        .query_one("SELECT system_identifier FROM pg_control_system()", &[])
        .await
        .ok()
        .map(|r| r.get::<_, i64>(0));
    Ok(ServerIdentity {
        system_identifier,
        database,
    })
}

/// Whether two connections reach the same PostgreSQL instance.
pub fn same_instance(
    source: &ConnSpec,
    source_id: &ServerIdentity,
    target: &ConnSpec,
    target_id: &ServerIdentity,
) -> bool {
    match (source_id.system_identifier, target_id.system_identifier) {
        (Some(a), Some(b)) => a == b,
        _ => source.host() == target.host() && source.port() == target.port(),
    }
}

/// Refuses when the staging database would be production's.
pub fn check_target(
    source: &ConnSpec,
    source_id: &ServerIdentity,
    target: &ConnSpec,
    target_id: &ServerIdentity,
    staging_db: &str,
) -> Result<(), GuardError> {
    if staging_db == source_id.database && same_instance(source, source_id, target, target_id) {
        let reason = match (source_id.system_identifier, target_id.system_identifier) {
            (Some(_), Some(_)) => "same system_identifier and database name".to_owned(),
            _ => format!(
                "same host {}:{} and database name",
                target.host(),
                target.port()
            ),
        };
        return Err(GuardError::SameDatabase {
            database: staging_db.to_owned(),
            reason,
        });
    }
    if source.host() == target.host()
        && source.port() == target.port()
        && source.dbname() == staging_db
    {
        return Err(GuardError::SameDatabase {
            database: staging_db.to_owned(),
            reason: "same host, port and database in the connection strings".to_owned(),
        });
    }
    Ok(())
}

/// No staging value may equal the production connection's password.
pub fn check_values_against_source(source: &ConnSpec, values: &Values) -> Result<(), GuardError> {
    let Some(prod) = source.password() else {
        return Ok(());
    };
    for (name, v) in &values.values {
        if same_value(v, prod) {
            return Err(GuardError::ProductionPassword { name: name.clone() });
        }
    }
    Ok(())
}
