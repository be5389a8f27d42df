//! `clone --schema NAME`: copy only the application's schemas into a target that already
//! holds others (a platform's database with `auth`, `storage`…). The source catalog is
//! limited to those schemas, pg_dump dumps only them, and their `CREATE SCHEMA` is skipped
//! on the target, where the schemas are created only when missing (provisioning usually
//! created them, for the right owner).

use tokio::runtime::Runtime;
use tokio_postgres::Client;

use super::{pg_failure, Failure};
use crate::catalog::quote_ident;
use crate::catalog::SourceCatalog;
use crate::conn::ConnSpec;
use crate::exit;
use crate::schema::{RestoreOptions, SchemaArchive};

/// Keeps the tables, sequences and materialized views of `schemas` (none: everything).
pub(super) fn limit_catalog(catalog: &mut SourceCatalog, schemas: &[String]) {
    if schemas.is_empty() {
        return;
    }
    let wanted = |s: &String| schemas.contains(s);
    catalog.tables.retain(|t| wanted(&t.schema));
    catalog.sequences.retain(|s| wanted(&s.schema));
    catalog.matviews.retain(|m| wanted(&m.schema));
}

/// Pre-data: all of it, or with `schemas` the schemas created when missing and the rest of
/// their objects restored into them.
pub(super) fn restore_pre_data(
    rt: &Runtime,
    client: &Client,
    archive: &SchemaArchive,
    target: &ConnSpec,
    restore: RestoreOptions,
    schemas: &[String],
) -> Result<(), Failure> {
    if schemas.is_empty() {
        return archive
            .restore_pre_data(target, restore)
            .map_err(|e| Failure::new(exit::COPY_FAILED, format!("target: {e}")));
    }
    for schema in schemas {
        rt.block_on(client.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(schema)
        )))
        .map_err(|e| pg_failure(exit::COPY_FAILED, "target: creating a schema", &e))?;
    }
    archive
        .restore_pre_data_into_existing_schemas(target, restore)
        .map_err(|e| Failure::new(exit::COPY_FAILED, format!("target: {e}")))
}
