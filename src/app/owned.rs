//! Whether a database is restage's to drop: `reset` and `restore --as-template --clean` replace
//! whole databases, and a database restage did not make is never dropped without `--force`.
//!
//! restage's databases carry its mark in their comment (clone and restore write it before they
//! write anything else, reset on the copies it makes). An empty database holds nothing to lose.

use tokio_postgres::Client;

use super::{pg_failure, Failure};
use crate::catalog;
use crate::conn::ConnSpec;
use crate::exit;
use crate::sink::target;

/// A database as `pg_database` describes it.
pub(super) struct DatabaseInfo {
    pub is_template: bool,
    pub allows_connections: bool,
    pub comment: Option<String>,
}

impl DatabaseInfo {
    pub fn restage_made(&self) -> bool {
        self.comment.as_deref().is_some_and(target::is_restage_mark)
    }

    /// A template restored by `restore --as-template` that finished.
    pub fn complete_restage_template(&self) -> bool {
        self.is_template
            && self
                .comment
                .as_deref()
                .is_some_and(|c| c.starts_with(target::COMPLETE_MARK))
    }
}

pub(super) fn database_info(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    name: &str,
) -> Result<Option<DatabaseInfo>, Failure> {
    let row = rt
        .block_on(client.query_opt(
            "SELECT datistemplate, datallowconn, \
                    pg_catalog.shobj_description(oid, 'pg_database') \
             FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        ))
        .map_err(|e| pg_failure(exit::FAILURE, "target", &e))?;
    Ok(row.map(|r| DatabaseInfo {
        is_template: r.get(0),
        allows_connections: r.get(1),
        comment: r.get(2),
    }))
}

/// Why existing database `name` is not restage's to drop, or `None` when it is: it carries
/// restage's mark, or it holds no user objects.
pub(super) fn not_ours(
    rt: &tokio::runtime::Runtime,
    server: &ConnSpec,
    name: &str,
    info: &DatabaseInfo,
) -> Option<String> {
    if info.restage_made() {
        return None;
    }
    let unmarked = match &info.comment {
        Some(c) => format!("its comment {c:?} is not restage's mark"),
        None => "it has no restage mark".to_string(),
    };
    if info.is_template {
        // template0/template1 are empty, and every new database is made from them.
        return Some(format!(
            "it is a template restage did not make ({unmarked})"
        ));
    }
    if !info.allows_connections {
        return Some(format!(
            "restage did not make it ({unmarked}) and it does not allow connections, so \
             restage cannot check that it is empty"
        ));
    }
    let state = rt.block_on(async {
        let client = server
            .with_dbname(name)
            .connect("restage")
            .await
            .map_err(|e| e.to_string())?;
        catalog::target_state(&client)
            .await
            .map_err(|e| e.to_string())
    });
    match state {
        Ok(s) if s.object_count == 0 => None,
        Ok(s) => {
            let mut listing = s.objects.join(", ");
            let more = s.object_count.saturating_sub(s.objects.len() as u64);
            if more > 0 {
                listing.push_str(&format!(" and {more} more"));
            }
            Some(format!(
                "restage did not make it ({unmarked}) and it is not empty: {listing}"
            ))
        }
        Err(e) => Some(format!(
            "restage did not make it ({unmarked}) and checking that it is empty failed: {e}"
        )),
    }
}
