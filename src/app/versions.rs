//! Which PostgreSQL source/target pairs restage supports, checked before anything is written.
//! The schema is replayed with PostgreSQL's own pg_dump/pg_restore, which support only targets of
//! the source's major version or newer; an older target fails halfway through the schema
//! (unknown settings, syntax and catalog features), so such a pair is refused up front.

use tokio::runtime::Runtime;
use tokio_postgres::Client;

use super::Failure;
use crate::exit;
use crate::pgbin::{Tool, Version};

/// The first major whose pg_restore sets `transaction_timeout`, which older servers reject.
const SETS_TRANSACTION_TIMEOUT: u32 = 17;

/// The oldest source major restage reads (its catalog queries and the pg_dump releases that
/// still dump it).
pub const OLDEST_SOURCE: u32 = 12;

/// Why `source` → `target` is not supported, or `None` when it is.
pub fn pair_problem(source: Version, target: Version) -> Option<String> {
    if source.major < OLDEST_SOURCE {
        return Some(format!(
            "the source runs PostgreSQL {source}, older than {OLDEST_SOURCE}, the oldest \
             source restage supports (target: PostgreSQL {target}); upgrade the source first"
        ));
    }
    if target.major < source.major {
        return Some(format!(
            "the target runs PostgreSQL {target}, older than the source's PostgreSQL {source}: \
             pg_dump/pg_restore only restore into the same major version or a newer one; use a \
             target running PostgreSQL {} or newer",
            source.major
        ));
    }
    None
}

/// Why `pg_restore` cannot write into `target`, or `None` when it can. PostgreSQL 17+'s
/// pg_restore starts every session with `SET transaction_timeout`, which 16 and older reject,
/// and an older pg_restore cannot read the newer pg_dump's archive: such a target needs client
/// tools of its own major (still at least as new as the source).
pub fn restore_tool_problem(pg_restore: &Tool, target: Version) -> Option<String> {
    if pg_restore.version.major >= SETS_TRANSACTION_TIMEOUT
        && target.major < SETS_TRANSACTION_TIMEOUT
    {
        return Some(format!(
            "pg_restore {} at {} cannot restore into the target's PostgreSQL {target}: it sets \
             transaction_timeout, which PostgreSQL {} does not know; install PostgreSQL {} client \
             tools (pg_dump and pg_restore, at least as new as the source) and point \
             RESTAGE_PG_BINDIR at them, or use a PostgreSQL {SETS_TRANSACTION_TIMEOUT} or newer \
             target",
            pg_restore.version,
            pg_restore.path.display(),
            target.major,
            target.major,
        ));
    }
    None
}

/// Refuses (exit `REFUSED`) a pg_restore that cannot write into the target.
pub(super) fn check_restore_tool(
    rt: &Runtime,
    pg_restore: &Tool,
    target: &Client,
) -> Result<(), Failure> {
    let version = server_version(rt, target, "target")?;
    match restore_tool_problem(pg_restore, version) {
        Some(problem) => Err(Failure::new(exit::REFUSED, problem)),
        None => Ok(()),
    }
}

/// Refuses an unsupported pair (exit `REFUSED`), naming both versions and what to use instead.
pub(super) fn check_pair(rt: &Runtime, source: &Client, target: &Client) -> Result<(), Failure> {
    let source_version = server_version(rt, source, "source")?;
    let target_version = server_version(rt, target, "target")?;
    refuse_pair(source_version, target_version)
}

/// [`pair_problem`] as a `REFUSED` failure.
pub(super) fn refuse_pair(source: Version, target: Version) -> Result<(), Failure> {
    match pair_problem(source, target) {
        Some(problem) => Err(Failure::new(exit::REFUSED, problem)),
        None => Ok(()),
    }
}

/// A connected server's version, from `server_version_num`.
pub(super) fn server_version(
    rt: &Runtime,
    client: &Client,
    side: &str,
) -> Result<Version, Failure> {
    let text: String = rt
        .block_on(client.query_one("SHOW server_version_num", &[]))
        .map_err(|e| {
            super::pg_failure(
                exit::FAILURE,
                &format!("{side}: reading the server version"),
                &e,
            )
        })?
        .get(0);
    let num = text.trim().parse::<u32>().map_err(|_| {
        Failure::new(
            exit::FAILURE,
            format!("{side}: unexpected server_version_num {text:?}"),
        )
    })?;
    Ok(Version::from_version_num(num))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32) -> Version {
        Version { major, minor }
    }

    #[test]
    fn same_or_newer_targets_are_supported() {
        assert_eq!(pair_problem(v(13, 23), v(15, 18)), None);
        assert_eq!(pair_problem(v(15, 18), v(15, 2)), None);
        assert_eq!(pair_problem(v(12, 0), v(18, 6)), None);
    }

    #[test]
    fn an_older_target_is_refused_naming_both_versions() {
        let problem = pair_problem(v(18, 6), v(15, 18)).unwrap_or_default();
        assert!(problem.contains("PostgreSQL 15.18"), "{problem}");
        assert!(problem.contains("PostgreSQL 18.6"), "{problem}");
        assert!(problem.contains("PostgreSQL 18 or newer"), "{problem}");
    }

    #[test]
    fn pg_restore_17_or_newer_is_refused_for_targets_older_than_17() {
        let tool = |major| Tool {
            path: format!("/pg/{major}/bin/pg_restore").into(),
            version: v(major, 1),
        };
        let problem = restore_tool_problem(&tool(18), v(16, 14)).unwrap_or_default();
        assert!(problem.contains("pg_restore 18.1"), "{problem}");
        assert!(problem.contains("PostgreSQL 16 client tools"), "{problem}");
        assert_eq!(restore_tool_problem(&tool(18), v(17, 0)), None);
        assert_eq!(restore_tool_problem(&tool(15), v(15, 18)), None);
        assert_eq!(restore_tool_problem(&tool(16), v(13, 2)), None);
    }

    #[test]
    fn a_source_older_than_12_is_refused() {
        let problem = pair_problem(v(11, 22), v(15, 18)).unwrap_or_default();
        assert!(problem.contains("PostgreSQL 11.22"), "{problem}");
        assert!(problem.contains("older than 12"), "{problem}");
    }
}
