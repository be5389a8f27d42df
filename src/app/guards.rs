//! Guards on what the source role can read and what the target already holds, shared by the
//! commands that read a whole source (`clone`, `snapshot`).

use tokio::runtime::Runtime;
use tokio_postgres::Client;

use super::Failure;
use crate::catalog::{self, ExtensionCheck, Table};
use crate::exit;

/// Refuses, before anything is written, a source role that row-level security filters on a
/// copied table or that lacks a privilege the copy or `pg_dump` needs; lists each with its fix.
pub(super) fn check_source_access(
    rt: &Runtime,
    client: &Client,
    copied: &[Table],
    server_version_num: u32,
) -> Result<(), Failure> {
    let problems = rt
        .block_on(catalog::check_access(client, copied, server_version_num))
        .map_err(|e| Failure::new(exit::FAILURE, format!("source: checking privileges: {e}")))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(exit::REFUSED, format!("source: {problems}")))
    }
}

/// The target's extensions, kept through the clone; refused when one sits in another schema
/// than the source's copy of it.
pub(super) fn check_target_extensions(
    rt: &Runtime,
    source: &Client,
    target: &Client,
    clean: bool,
) -> Result<ExtensionCheck, Failure> {
    let theirs = rt
        .block_on(catalog::list_extensions(source))
        .map_err(|e| Failure::new(exit::FAILURE, format!("source: {e}")))?;
    let ours = rt
        .block_on(catalog::list_extensions(target))
        .map_err(|e| Failure::new(exit::FAILURE, format!("target: {e}")))?;
    let check = catalog::compare_extensions(&theirs, &ours, clean);
    if check.conflicts.is_empty() {
        Ok(check)
    } else {
        Err(Failure::new(
            exit::REFUSED,
            format!(
                "the target's extensions do not fit the source's schema: {}",
                check.conflicts.join("; ")
            ),
        ))
    }
}
