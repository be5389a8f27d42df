//! `--schema NAME` of `clone`, `snapshot` and `restore`: copy only the application's schemas
//! into a target that already holds others (a platform's database with `auth`, `storage`…).
//! The source catalog is limited to those schemas, pg_dump dumps only them, and their
//! `CREATE SCHEMA` is skipped on the target, where the schemas are created only when missing
//! (provisioning usually created them, for the right owner). A restore checks that the
//! snapshot holds nothing else.

use std::collections::BTreeSet;

use tokio::runtime::Runtime;
use tokio_postgres::Client;

use super::{pg_failure, Failure};
use crate::catalog::quote_ident;
use crate::catalog::SourceCatalog;
use crate::conn::ConnSpec;
use crate::exit;
use crate::fixture::Manifest;
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

/// Refuses a `--schema` the source does not have: copying nothing would look like success.
pub(super) fn check_in_source(
    rt: &Runtime,
    client: &Client,
    schemas: &[String],
) -> Result<(), Failure> {
    if schemas.is_empty() {
        return Ok(());
    }
    let rows = rt
        .block_on(client.query(
            "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::text[])",
            &[&schemas],
        ))
        .map_err(|e| pg_failure(exit::FAILURE, "source: reading schemas", &e))?;
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let missing: Vec<&str> = schemas
        .iter()
        .filter(|s| !found.contains(s))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        exit::USAGE,
        format!("--schema: the source has no schema {}", missing.join(", ")),
    ))
}

/// `restore --schema`: the snapshot must hold these schemas only (one taken with the same
/// `snapshot --schema`); anything else in it would be created in the platform's schemas.
pub(super) fn check_snapshot_holds_only(
    manifest: &Manifest,
    archive: &SchemaArchive,
    schemas: &[String],
) -> Result<(), Failure> {
    if schemas.is_empty() {
        return Ok(());
    }
    let mut held: BTreeSet<String> = archive.schemas();
    held.extend(manifest.tables.iter().map(|t| t.schema.clone()));
    held.extend(manifest.sequences.iter().map(|s| s.schema.clone()));
    held.extend(manifest.matviews.iter().map(|v| v.schema.clone()));
    let others: Vec<&str> = held
        .iter()
        .filter(|s| !schemas.contains(s))
        .map(String::as_str)
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        exit::REFUSED,
        format!(
            "--schema: the snapshot also holds schema {}; take it with `restage snapshot \
             --schema` for the same schemas; nothing was loaded",
            others.join(", ")
        ),
    ))
}
