//! Databases a refresh made and may drop: the shadow of a run that died, and previous live
//! databases beyond the number kept. A database is dropped only when both its name and its
//! comment say restage made it.

use tokio_postgres::Client;

use super::{comment_of, ident, names};

/// Previous live databases of `live`, newest first.
pub async fn previous(admin: &Client, live: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let prefix = names::previous_prefix(live);
    let rows = admin
        .query(
            "SELECT datname::text FROM pg_database \
             WHERE left(datname, length($1)) = $1 \
               AND left(coalesce(shobj_description(oid, 'pg_database'), ''), length($2)) = $2 \
             ORDER BY datname DESC",
            &[&prefix, &names::PREVIOUS_MARK],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Drops the previous databases beyond the newest `keep`; returns their names.
pub async fn prune(
    admin: &Client,
    live: &str,
    keep: usize,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let old: Vec<String> = previous(admin, live)
        .await?
        .into_iter()
        .skip(keep)
        .collect();
    for db in &old {
        drop_database(admin, db).await?;
    }
    Ok(old)
}

/// Whether `db` exists and carries one of `marks` at the start of its comment.
pub async fn is_marked(
    admin: &Client,
    db: &str,
    marks: &[&str],
) -> Result<Option<bool>, tokio_postgres::Error> {
    Ok(comment_of(admin, db).await?.map(|comment| {
        let comment = comment.unwrap_or_default();
        marks.iter().any(|m| comment.starts_with(m))
    }))
}

/// Drops `db`, ending its sessions first (`WITH (FORCE)` on PostgreSQL 13 and newer).
pub async fn drop_database(admin: &Client, db: &str) -> Result<(), tokio_postgres::Error> {
    let version: i32 = admin
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?
        .get(0);
    if version >= 130000 {
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                ident(db)
            ))
            .await
    } else {
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&db],
            )
            .await?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {}", ident(db)))
            .await
    }
}
