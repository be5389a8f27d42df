//! Whole databases on a server: reaching the server past the database at stake, and ending
//! sessions and dropping databases for `reset` and `restore --as-template`.

use tokio_postgres::Client;

use super::{pg_failure, Failure};
use crate::catalog::quote_ident;
use crate::conn::ConnSpec;
use crate::exit;

/// A connection to the server through a database other than `avoid` (which is about to be
/// dropped or copied): the URL's own, or `postgres`.
pub(crate) fn admin_conn(server: &ConnSpec, avoid: &str) -> ConnSpec {
    if server.dbname() == avoid {
        server.with_dbname("postgres")
    } else {
        server.clone()
    }
}

pub(crate) async fn database_exists(
    client: &Client,
    name: &str,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await?
        .is_some())
}

/// Ends every other session connected to `db`, saying so on stderr.
pub(crate) fn terminate(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    db: &str,
) -> Result<(), Failure> {
    let rows = rt
        .block_on(client.query(
            "SELECT pid, coalesce(usename::text, ''), coalesce(application_name, ''), \
                    pg_catalog.pg_terminate_backend(pid) \
             FROM pg_catalog.pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
            &[&db],
        ))
        .map_err(|e| {
            pg_failure(
                exit::FAILURE,
                &format!("target: terminating sessions connected to {db}"),
                &e,
            )
        })?;
    for row in &rows {
        let pid: i32 = row.get(0);
        let user: String = row.get(1);
        let app: String = row.get(2);
        let ok: bool = row.get(3);
        let app = if app.is_empty() {
            String::new()
        } else {
            format!(", application {app:?}")
        };
        if ok {
            eprintln!("terminated session {pid} (user {user}{app}) connected to {db}");
        } else {
            eprintln!("could not terminate session {pid} (user {user}{app}) connected to {db}");
        }
    }
    Ok(())
}

/// Drops `db` if it exists, terminating its sessions first (and, on PostgreSQL 13+, any that
/// arrive meanwhile, with FORCE).
pub(crate) fn drop_database(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    db: &str,
) -> Result<(), Failure> {
    let exists = rt
        .block_on(database_exists(client, db))
        .map_err(|e| pg_failure(exit::FAILURE, "target", &e))?;
    if !exists {
        return Ok(());
    }
    terminate(rt, client, db)?;
    let version: i32 = rt
        .block_on(client.query_one("SELECT current_setting('server_version_num')::int", &[]))
        .map_err(|e| pg_failure(exit::FAILURE, "target", &e))?
        .get(0);
    let force = if version >= 130000 {
        " WITH (FORCE)"
    } else {
        ""
    };
    rt.block_on(client.batch_execute(&format!(
        "DROP DATABASE IF EXISTS {}{force}",
        quote_ident(db)
    )))
    .map_err(|e| pg_failure(exit::FAILURE, &format!("target: DROP DATABASE {db}"), &e))
}
