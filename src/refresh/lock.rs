//! One refresh per environment at a time: a session-level advisory lock on the staging
//! server's admin connection. The server releases it when the session ends, so a killed
//! refresh (even SIGKILL) never leaves the environment locked.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

/// Who holds the lock, for the message of the refresh that did not get it.
#[derive(Debug, Clone)]
pub struct Holder {
    pub pid: i32,
    pub application_name: String,
    pub started: String,
    pub client: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} ({}, from {}, connected {})",
            self.pid, self.application_name, self.client, self.started
        )
    }
}

fn key_sql() -> &'static str {
    "hashtextextended('restage.refresh:' || $1, 0)"
}

/// Takes the lock of `environment`, polling up to `wait`. `Ok(None)`: taken; `Ok(Some(holder))`:
/// another session kept it for the whole wait.
pub async fn acquire(
    admin: &Client,
    environment: &str,
    wait: Duration,
) -> Result<Option<Option<Holder>>, tokio_postgres::Error> {
    let deadline = Instant::now() + wait;
    let sql = format!("SELECT pg_try_advisory_lock({})", key_sql());
    loop {
        let taken: bool = admin.query_one(&sql, &[&environment]).await?.get(0);
        if taken {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Ok(Some(holder(admin, environment).await?));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The session holding the lock (advisory locks on a bigint key show its halves as classid
/// and objid, with objsubid 1).
async fn holder(
    admin: &Client,
    environment: &str,
) -> Result<Option<Holder>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT a.pid, coalesce(a.application_name, ''), \
                coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '?'), \
                coalesce(host(a.client_addr), 'local socket') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND ((l.classid::int8 << 32) | l.objid::int8) = {}",
        key_sql()
    );
    let row = admin.query_opt(&sql, &[&environment]).await?;
    Ok(row.map(|r| Holder {
        pid: r.get(0),
        application_name: r.get(1),
        started: r.get(2),
        client: r.get(3),
    }))
}
