//! Bounded lock waits, with the blocker named.
//!
//! A table locked by another session (an `ALTER TABLE` or `LOCK TABLE` left in an open
//! transaction on production, an application reading staging while post-data alters it) would
//! make a run wait for as long as that session lives, silently. PostgreSQL's `lock_timeout`
//! bounds restage's own sessions, but pg_dump and pg_restore set it to 0 in theirs, and its
//! error names neither the table nor the session in the way. So one extra session per side
//! watches: every poll it looks for sessions of this run (same application_name) that have
//! waited longer than the limit for a lock held (or queued for) by a session that is not the
//! run's, records which table, for how long and behind whom (pid, application_name, user, how
//! long its transaction has been open, the modes it holds), and cancels the waiting statement,
//! which fails the run where it stands. Waits among the run's own sessions are left alone: the
//! run orders its work so those end on their own.
//!
//! This module owns one thread (with its own small tokio runtime), like the pipeline's lanes,
//! because it must poll while the caller blocks on pg_dump, pg_restore or a long query.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_postgres::Client;

use crate::conn::ConnSpec;

/// One database the run waits on.
pub struct Side {
    /// `source` or `target`, for messages.
    pub name: &'static str,
    pub conn: ConnSpec,
}

/// A running watch; stops when dropped.
pub struct LockWatch {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    found: Arc<Mutex<Option<String>>>,
}

impl LockWatch {
    /// Watches the run's sessions on each side, those with the side's application_name (see
    /// [`ConnSpec::with_default_application_name`]); a lock wait longer than `limit` is
    /// ended. Sides that cannot be reached are skipped with a warning (the sessions' own
    /// `lock_timeout` still bounds restage's own statements there).
    pub fn start(sides: Vec<Side>, limit: Duration) -> LockWatch {
        let found = Arc::new(Mutex::new(None));
        let (stop, stopped) = oneshot::channel();
        let record = found.clone();
        let handle = std::thread::Builder::new()
            .name("lock-watch".into())
            .spawn(move || watch(sides, limit, stopped, &record))
            .map_err(|e| tracing::warn!("cannot start the lock watch: {e}"))
            .ok();
        LockWatch {
            stop: Some(stop),
            handle,
            found,
        }
    }

    /// The first lock wait the watch ended, described, if any.
    pub fn tripped(&self) -> Option<String> {
        self.found.lock().ok().and_then(|f| f.clone())
    }
}

impl Drop for LockWatch {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// `conn` as a run uses it: its sessions recognisable by `application_name` (unless the user
/// named them) and restage's own lock waits bounded by `lock_timeout` a little past `limit`
/// (0: unbounded), the backstop for a side the watch cannot see.
pub fn bounded(conn: &ConnSpec, application_name: &str, limit: Duration) -> ConnSpec {
    let conn = conn.with_default_application_name(application_name);
    if limit.is_zero() {
        return conn;
    }
    let setting = format!("lock_timeout={}ms", backstop(limit).as_millis());
    conn.with_settings(&[setting.as_str()])
}

/// How often to look: often enough that a wait ends close to the limit, rarely enough that
/// the watch costs nothing (the query reads pg_locks, which the server builds under its
/// lock-manager locks).
fn poll_interval(limit: Duration) -> Duration {
    (limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// The grace past the limit before the sessions' own `lock_timeout` (the backstop when the
/// watch cannot see a side) fires, so that the watch, which names the blocker, acts first.
pub fn backstop(limit: Duration) -> Duration {
    limit + 2 * poll_interval(limit) + Duration::from_secs(1)
}

fn watch(
    sides: Vec<Side>,
    limit: Duration,
    mut stopped: oneshot::Receiver<()>,
    found: &Mutex<Option<String>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::warn!("lock watch: cannot start a runtime: {e}");
            return;
        }
    };
    rt.block_on(async {
        let mut watched = Vec::new();
        for side in &sides {
            match open(side).await {
                Ok(w) => watched.push(w),
                Err(e) => tracing::warn!(
                    "lock watch: cannot watch the {} ({e}); lock waits there end with \
                     lock_timeout only",
                    side.name
                ),
            }
        }
        loop {
            for w in &watched {
                match w.check(limit).await {
                    Ok(Some((waiter, text))) => {
                        tracing::info!("{text}");
                        // Recorded before the cancel, so the failure it causes finds it.
                        if let Ok(mut f) = found.lock() {
                            f.get_or_insert(text);
                        }
                        if let Err(e) = w.cancel(waiter).await {
                            tracing::warn!("lock watch: cannot cancel pid {waiter}: {e}");
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::debug!("lock watch on the {}: {e}", w.side),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(poll_interval(limit)) => {}
                _ = &mut stopped => break,
            }
        }
    });
}

struct Watched {
    side: &'static str,
    application_name: String,
    client: Client,
    query: String,
}

async fn open(side: &Side) -> Result<Watched, String> {
    let application_name = side.conn.application_name().unwrap_or_default();
    if application_name.is_empty() {
        return Err("no application_name tells the run's sessions apart".into());
    }
    let client = side
        .conn
        .connect(application_name)
        .await
        .map_err(|e| e.to_string())?;
    // Schema-qualified table names in messages.
    client
        .batch_execute("SELECT pg_catalog.set_config('search_path', '', false)")
        .await
        .map_err(|e| crate::pgerr::describe(&e))?;
    let version: i32 = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(|e| crate::pgerr::describe(&e))?
        .get(0);
    Ok(Watched {
        side: side.name,
        application_name: application_name.to_owned(),
        client,
        query: waits_query(version),
    })
}

/// Waits of the run's sessions (`$1`: application_name) longer than `$2` seconds, one row per
/// blocking session that is not the run's. `pg_locks.waitstart` exists from PostgreSQL 14;
/// before, the statement's start bounds the wait from above. Blockers are looked up only for
/// waits already over the limit (`pg_blocking_pids` is not free).
fn waits_query(server_version_num: i32) -> String {
    let since = if server_version_num >= 140000 {
        "COALESCE(l.waitstart, w.query_start)"
    } else {
        "w.query_start"
    };
    format!(
        "WITH waits AS (
            SELECT w.pid, COALESCE(l.relation::regclass::text, l.locktype) AS what, l.mode,
                   l.locktype, l.relation, l.database,
                   EXTRACT(epoch FROM clock_timestamp() - {since})::float8 AS waited
            FROM pg_catalog.pg_locks l
            JOIN pg_catalog.pg_stat_activity w ON w.pid = l.pid
            WHERE NOT l.granted AND w.datname = current_database()
              AND w.application_name = $1
              AND clock_timestamp() - {since} > make_interval(secs => $2))
        SELECT waits.pid, waits.what, waits.mode, waits.waited,
               b.pid, COALESCE(b.application_name, ''), COALESCE(b.usename::text, ''),
               EXTRACT(epoch FROM clock_timestamp() - b.xact_start)::float8,
               (SELECT string_agg(DISTINCT h.mode, ', ') FROM pg_catalog.pg_locks h
                WHERE h.pid = b.pid AND h.locktype = waits.locktype
                  AND h.relation IS NOT DISTINCT FROM waits.relation
                  AND h.database IS NOT DISTINCT FROM waits.database),
               EXISTS (SELECT 1 FROM pg_catalog.pg_locks h WHERE h.pid = b.pid
                  AND h.locktype = waits.locktype AND NOT h.granted
                  AND h.relation IS NOT DISTINCT FROM waits.relation)
        FROM waits
        CROSS JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(waits.pid)) AS blocking(pid)
        JOIN pg_catalog.pg_stat_activity b ON b.pid = blocking.pid
        WHERE b.application_name IS DISTINCT FROM $1
        ORDER BY waits.waited DESC, b.pid"
    )
}

/// One session in the way of one of the run's.
struct Blocker {
    pid: i32,
    application_name: String,
    user: String,
    open_seconds: Option<f64>,
    modes: Option<String>,
    queued: bool,
}

impl Watched {
    /// The longest wait over the limit, if any: the waiting session's pid and a description.
    async fn check(&self, limit: Duration) -> Result<Option<(i32, String)>, String> {
        let rows = self
            .client
            .query(&self.query, &[&self.application_name, &limit.as_secs_f64()])
            .await
            .map_err(|e| crate::pgerr::describe(&e))?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let waiter: i32 = first.get(0);
        let what: String = first.get(1);
        let mode: String = first.get(2);
        let waited: f64 = first.get(3);
        let blockers: Vec<Blocker> = rows
            .iter()
            .filter(|r| r.get::<_, i32>(0) == waiter)
            .map(|r| Blocker {
                pid: r.get(4),
                application_name: r.get(5),
                user: r.get(6),
                open_seconds: r.get(7),
                modes: r.get(8),
                queued: r.get(9),
            })
            .collect();
        let text = describe(self.side, &what, &mode, waited, limit, &blockers);
        Ok(Some((waiter, text)))
    }

    /// Cancelling the statement (not the session) lets the run report and clean up as for any
    /// failed statement.
    async fn cancel(&self, pid: i32) -> Result<(), String> {
        self.client
            .execute("SELECT pg_catalog.pg_cancel_backend($1)", &[&pid])
            .await
            .map(|_| ())
            .map_err(|e| crate::pgerr::describe(&e))
    }
}

fn describe(
    side: &str,
    what: &str,
    mode: &str,
    waited: f64,
    limit: Duration,
    blockers: &[Blocker],
) -> String {
    let who: Vec<String> = blockers.iter().map(Blocker::describe).collect();
    format!(
        "{side}: waited {waited:.1} s for {mode} on {what}, longer than --lock-timeout {}; \
         blocked by {}",
        humantime::format_duration(limit),
        who.join("; ")
    )
}

impl Blocker {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.push(if self.application_name.is_empty() {
            "application_name unset".to_string()
        } else {
            format!("application_name {:?}", self.application_name)
        });
        if !self.user.is_empty() {
            parts.push(format!("user {:?}", self.user));
        }
        match &self.modes {
            Some(m) if self.queued => parts.push(format!("holding {m} and queued for more")),
            Some(m) => parts.push(format!("holding {m}")),
            None if self.queued => parts.push("queued ahead for a conflicting lock".into()),
            None => {}
        }
        match self.open_seconds {
            Some(s) => parts.push(format!("in a transaction open for {s:.1} s")),
            None => parts.push("transaction age not visible to this role".into()),
        }
        format!("pid {} ({})", self.pid, parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_often_enough_and_the_backstop_comes_after_the_watch() {
        assert_eq!(
            poll_interval(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(
            poll_interval(Duration::from_millis(200)),
            Duration::from_millis(100)
        );
        for limit in [200, 2_000, 60_000] {
            let limit = Duration::from_millis(limit);
            assert!(backstop(limit) > limit + poll_interval(limit));
        }
    }

    #[test]
    fn names_the_table_and_every_blocker() {
        let text = describe(
            "source",
            "public.orders",
            "AccessShareLock",
            2.04,
            Duration::from_secs(2),
            &[
                Blocker {
                    pid: 4242,
                    application_name: "psql".into(),
                    user: "ops".into(),
                    open_seconds: Some(12.3),
                    modes: Some("AccessExclusiveLock".into()),
                    queued: false,
                },
                Blocker {
                    pid: 4343,
                    application_name: String::new(),
                    user: String::new(),
                    open_seconds: None,
                    modes: None,
                    queued: true,
                },
            ],
        );
        assert_eq!(
            text,
            "source: waited 2.0 s for AccessShareLock on public.orders, longer than \
             --lock-timeout 2s; blocked by pid 4242 (application_name \"psql\", user \"ops\", \
             holding AccessExclusiveLock, in a transaction open for 12.3 s); pid 4343 \
             (application_name unset, queued ahead for a conflicting lock, transaction age not \
             visible to this role)"
        );
    }
}
