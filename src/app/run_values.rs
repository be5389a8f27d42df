//! Before the data is copied: the run's dictionary of production values for `scrub`, read in
//! the run's snapshot, and the sanitizers rebuilt with it. Nothing happens when no `scrub`
//! rule looks for production values.

use std::sync::Arc;
use std::time::Instant;

use super::sanitizing::{Plan, Sanitizing};
use super::{pg_failure, Failure};
use crate::catalog::{SourceCatalog, Table};
use crate::exit;
use crate::rules::{self, diagnostic, run_values, Resolution};
use crate::sanitize::dictionary::{Dictionary, DictionaryBuilder};
use crate::source::{self, CopyOutError};

/// Reads the distinct values of every sanitized text column (through `client`, which holds
/// the run's snapshot) into the dictionary and rebuilds `plan`'s sanitizers with it.
pub(super) fn attach(
    rt: &tokio::runtime::Runtime,
    client: &tokio_postgres::Client,
    catalog: &SourceCatalog,
    tables: &[Table],
    sanitizing: &Sanitizing,
    plan: &mut Plan,
) -> Result<(), Failure> {
    if sanitizing.verbatim || !run_values::wanted(&plan.resolution) {
        return Ok(());
    }
    let dictionary = rt.block_on(load(client, catalog, tables, &plan.resolution, sanitizing))?;
    plan.sanitizers = rules::build_with(&plan.resolution, catalog, tables, Some(&dictionary))
        .map_err(|d| Failure::new(exit::USAGE, diagnostic::render(&d)))?;
    Ok(())
}

/// The dictionary of production values `resolution`'s scrub rules look for: the distinct
/// values of the sanitized text columns of `tables`, each under its column's mapping.
pub(super) async fn load(
    client: &tokio_postgres::Client,
    catalog: &SourceCatalog,
    tables: &[Table],
    resolution: &Resolution,
    sanitizing: &Sanitizing,
) -> Result<Arc<Dictionary>, Failure> {
    let started = Instant::now();
    let mut builder = DictionaryBuilder::new(&sanitizing.key_or_unused());
    let mut read = 0u64;
    for src in run_values::sources(resolution, catalog, tables) {
        let Some(mapping) = builder.add_mapping(src.mapping) else {
            return Err(Failure::new(
                exit::USAGE,
                "scrub: more than 65536 rule + domain pairs map sanitized columns",
            ));
        };
        let values = source::distinct_values(client, &src.table, &src.column, |v| {
            builder.insert(mapping, v)
        })
        .await;
        read += values.map_err(|e| {
            let what = format!("source: reading the values of {}.{}", src.table, src.column);
            match e {
                CopyOutError::Postgres(e) => pg_failure(exit::FAILURE, &what, &e),
                other => Failure::new(exit::FAILURE, format!("{what}: {other}")),
            }
        })?;
    }
    let dictionary = Arc::new(builder.finish());
    tracing::info!(
        "scrub: {} production values ({read} read) of sanitized columns looked for in free text \
         ({:.1} MB, {:.1} s)",
        dictionary.len(),
        dictionary.heap_bytes() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(dictionary)
}
