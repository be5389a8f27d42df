//! Staging-database housekeeping around the copy: the same-database guard, `--clean`, the
//! INCOMPLETE marker, sequences, materialized views, counts and statistics.

use tokio_postgres::Client;

use crate::catalog::{quote_ident, MatView, Sequence, Table};
use crate::conn::ConnSpec;

/// Prefix of the database comment while a clone is running or after it failed.
pub const INCOMPLETE_MARK: &str = "restage: INCOMPLETE clone";
/// Prefix of the database comment after a successful clone.
pub const COMPLETE_MARK: &str = "restage: complete clone";
/// Follows `COMPLETE_MARK` when the clone copied a row subset (`--subset`, `where`,
/// `percent`): `verify` then needs the same subset to know which row counts to expect.
const SUBSET_NOTE: &str = " of a row subset";

/// The start of the database comment of a finished clone ("… from SOURCE at TIME" follows).
pub fn complete_mark(subset: bool) -> String {
    if subset {
        format!("{COMPLETE_MARK}{SUBSET_NOTE}")
    } else {
        COMPLETE_MARK.to_string()
    }
}

/// Whether a database comment records a finished clone of a row subset.
pub fn marks_subset(comment: &str) -> bool {
    comment.starts_with(&complete_mark(true))
}

/// Whether both clients are connected to the very same database. Advisory locks are scoped to
/// one database of one cluster, so a lock held by `source` that `target` cannot take proves
/// they are the same — without needing privileges to read `pg_control_system()`.
pub async fn is_same_database(
    source: &Client,
    target: &Client,
) -> Result<bool, tokio_postgres::Error> {
    let key: i64 = 0x7265_7374_6167_6500 | i64::from(std::process::id() & 0xff);
    source
        .query_one("SELECT pg_catalog.pg_advisory_lock($1)", &[&key])
        .await?;
    let got: bool = target
        .query_one("SELECT pg_catalog.pg_try_advisory_lock($1)", &[&key])
        .await?
        .get(0);
    if got {
        target
            .query_one("SELECT pg_catalog.pg_advisory_unlock($1)", &[&key])
            .await?;
    }
    source
        .query_one("SELECT pg_catalog.pg_advisory_unlock($1)", &[&key])
        .await?;
    Ok(!got)
}

/// Drops every user schema (and with it every table, type, function and extension in it), then
/// recreates `public` as a fresh database has it.
pub async fn clean(client: &Client, server_version_num: u32) -> Result<(), tokio_postgres::Error> {
    let schemas: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_catalog.pg_namespace \
             WHERE nspname NOT IN ('pg_catalog', 'information_schema') \
               AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut sql = String::from("BEGIN;");
    for schema in &schemas {
        sql.push_str(&format!("DROP SCHEMA {} CASCADE;", quote_ident(schema)));
    }
    // PostgreSQL 15 changed the default owner and privileges of `public`.
    if server_version_num >= 150000 {
        sql.push_str(
            "CREATE SCHEMA public AUTHORIZATION pg_database_owner; \
             GRANT USAGE ON SCHEMA public TO PUBLIC;",
        );
    } else {
        sql.push_str("CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO PUBLIC;");
    }
    sql.push_str("COMMENT ON SCHEMA public IS 'standard public schema'; COMMIT;");
    client.batch_execute(&sql).await
}

/// Connects to the target for housekeeping or post-data work. If restage dies, this
/// connection closes, but the server notices only when it next talks to the client: an index
/// build, ANALYZE or materialized view refresh would run to its end for a clone nobody waits
/// for. Where the server can (PostgreSQL 14+), it is told to check the socket every second
/// while it works. The error is one line, without the side's name.
pub async fn connect(conn: &ConnSpec, application_name: &str) -> Result<Client, String> {
    let client = conn
        .connect(application_name)
        .await
        .map_err(|e| e.to_string())?;
    client
        .batch_execute(
            "SELECT set_config('client_connection_check_interval', '1s', false) \
             WHERE current_setting('client_connection_check_interval', true) IS NOT NULL",
        )
        .await
        .map_err(|e| crate::pgerr::describe(&e))?;
    Ok(client)
}

/// Whether a database comment is one restage wrote (the database is restage's to replace).
pub fn is_restage_mark(comment: &str) -> bool {
    comment.starts_with(INCOMPLETE_MARK) || comment.starts_with(COMPLETE_MARK)
}

/// Sets the database comment (visible in `\l+`) to record the clone's state.
pub async fn mark(client: &Client, text: &str) -> Result<(), tokio_postgres::Error> {
    let db: String = client
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0);
    mark_database(client, &db, text).await
}

/// Sets the comment of database `db` (any database of the server).
pub async fn mark_database(
    client: &Client,
    db: &str,
    text: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS '{}'",
            quote_ident(db),
            text.replace('\'', "''")
        ))
        .await
}

/// User-defined types of the target as (oid, schema, name), to map embedded type OIDs.
pub async fn user_types(
    client: &Client,
) -> Result<Vec<(u32, String, String)>, tokio_postgres::Error> {
    Ok(client
        .query(
            "SELECT t.oid, n.nspname::text, t.typname::text FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.oid >= 16384",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Sets every sequence to the source's position.
pub async fn set_sequences(
    client: &Client,
    sequences: &[Sequence],
) -> Result<(), tokio_postgres::Error> {
    for seq in sequences {
        client
            .query_one(
                "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
                &[&seq.qualified(), &seq.last_value, &seq.is_called],
            )
            .await?;
    }
    Ok(())
}

/// Reads back sequence positions (verification).
pub async fn sequence_position(
    client: &Client,
    seq: &Sequence,
) -> Result<(i64, bool), tokio_postgres::Error> {
    let row = client
        .query_one(
            &format!("SELECT last_value, is_called FROM {}", seq.qualified()),
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Refreshes the materialized views that were populated on the source. A view may read
/// another one, so views that fail are retried after the others, until no progress is made.
pub async fn refresh_matviews(client: &Client, views: &[MatView]) -> Result<(), String> {
    let mut pending: Vec<&MatView> = views.iter().filter(|v| v.populated).collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_error = String::new();
        for view in &pending {
            let sql = format!("REFRESH MATERIALIZED VIEW {}", view.qualified());
            if let Err(e) = client.batch_execute(&sql).await {
                last_error = format!(
                    "{}.{}: {}",
                    view.schema,
                    view.name,
                    crate::pgerr::describe(&e)
                );
                failed.push(*view);
            }
        }
        if failed.len() == pending.len() {
            return Err(last_error);
        }
        pending = failed;
    }
    Ok(())
}

/// `count(*)` of exactly this table (not its children).
pub async fn count_rows(client: &Client, table: &Table) -> Result<u64, tokio_postgres::Error> {
    let n: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM ONLY {}", table.qualified()),
            &[],
        )
        .await?
        .get(0);
    Ok(n.max(0) as u64)
}

pub async fn analyze(client: &Client, relation: &str) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(&format!("ANALYZE {relation}")).await
}
