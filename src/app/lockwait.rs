//! The lock watch for commands that read or write one database end (`snapshot`, `restore`),
//! as `clone` runs it on both: a wait longer than `--lock-timeout` is ended and the failure it
//! causes names the table and the session in the way.

use std::time::Duration;

use super::Failure;
use crate::conn::ConnSpec;
use crate::lockwatch::{LockWatch, Side};

/// Starts watching `conn`'s sessions of this run (those with its application_name, see
/// [`crate::lockwatch::bounded`]) once `conn` is known to be reachable; none with a limit of 0.
pub(super) fn watch(side: &'static str, conn: &ConnSpec, limit: Duration) -> Option<LockWatch> {
    if limit.is_zero() {
        return None;
    }
    let sides = vec![Side {
        name: side,
        conn: conn.clone(),
    }];
    Some(LockWatch::start(sides, limit))
}

/// `result`, with the wait the watch ended (if it did) in front of the failure it caused: the
/// statement's own error only says it was cancelled. Stops the watch.
pub(super) fn explain<T>(
    watch: Option<LockWatch>,
    result: Result<T, Failure>,
) -> Result<T, Failure> {
    let tripped = watch.as_ref().and_then(LockWatch::tripped);
    drop(watch);
    result.map_err(|f| match tripped {
        Some(wait) => Failure::new(
            f.code,
            format!("{wait}; its statement was cancelled: {}", f.message),
        ),
        None => f,
    })
}
