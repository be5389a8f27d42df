//! The atomic swap: `live` becomes `retired` and `replacement` becomes `live` in one
//! transaction, so a connection by name reaches either the old database or the new one.
//!
//! `ALTER DATABASE … RENAME` takes an exclusive lock on the database object before it checks
//! for other sessions (`CountOtherDBBackends`, which waits up to 5 s for them to leave). A
//! connecting backend takes a row-exclusive lock on the database object and only then
//! advertises itself in the database (`InitPostgres`), re-reading the name after the lock. So
//! while the first rename holds its lock, no new session can get in: the sessions already
//! there are ended from a second connection meanwhile, the rename proceeds as soon as they are
//! gone, and backends that were connecting wait on the lock for the short rest of the
//! transaction. Ending sessions first and renaming afterwards would race new ones in between.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::ident;

/// What the swap did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Swapped {
    /// Sessions ended on the live (or replacement) database.
    pub terminated_sessions: Vec<i32>,
    /// How long new connections to the live name were held back (the transaction's length).
    pub blocked_seconds: f64,
}

/// Sessions connected to `db` other than restage's own admin sessions.
pub async fn sessions(admin: &Client, db: &str) -> Result<i64, tokio_postgres::Error> {
    Ok(admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .await?
        .get(0))
}

/// Waits up to `grace` for the sessions on `live` to leave on their own.
pub async fn wait_for_sessions(
    admin: &Client,
    live: &str,
    grace: Duration,
) -> Result<i64, tokio_postgres::Error> {
    let deadline = Instant::now() + grace;
    loop {
        let left = sessions(admin, live).await?;
        if left == 0 || Instant::now() >= deadline {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Renames in one transaction on `tx` (connected to neither database), running `extra`
/// (comments) in it too, while `killer` ends the sessions on both databases. Without
/// `retired` there is no live database yet: the replacement only takes its name.
/// `before_commit` runs inside the transaction, right before COMMIT (a test hook).
pub async fn swap(
    tx: &Client,
    killer: &Client,
    live: &str,
    replacement: &str,
    retired: Option<&str>,
    extra: &[String],
    before_commit: Option<impl FnOnce()>,
) -> Result<Swapped, tokio_postgres::Error> {
    let oids: Vec<u32> = killer
        .query(
            "SELECT oid FROM pg_database WHERE datname = $1 OR datname = $2",
            &[&live, &replacement],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut body = Vec::new();
    if let Some(retired) = retired {
        body.push(format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(live),
            ident(retired)
        ));
    }
    body.push(format!(
        "ALTER DATABASE {} RENAME TO {}",
        ident(replacement),
        ident(live)
    ));
    body.extend(extra.iter().cloned());
    let body = body.join(";\n");
    let started = Instant::now();
    tx.batch_execute("BEGIN").await?;
    let mut terminated = Vec::new();
    let renames = tx.batch_execute(&body);
    tokio::pin!(renames);
    let outcome = loop {
        tokio::select! {
            done = &mut renames => break done,
            ended = end_sessions(killer, &oids) => {
                terminated.extend(ended?);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    match outcome {
        Ok(()) => {
            if let Some(hook) = before_commit {
                hook();
            }
            tx.batch_execute("COMMIT").await?
        }
        Err(e) => {
            let _ = tx.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    }
    terminated.sort_unstable();
    terminated.dedup();
    Ok(Swapped {
        terminated_sessions: terminated,
        blocked_seconds: started.elapsed().as_secs_f64(),
    })
}

async fn end_sessions(killer: &Client, oids: &[u32]) -> Result<Vec<i32>, tokio_postgres::Error> {
    let rows = killer
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datid = ANY($1) AND pid <> pg_backend_pid() \
             AND pg_terminate_backend(pid)",
            &[&oids],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
