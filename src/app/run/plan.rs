//! The table plan of a run read from a source catalog: each table's parts and the transforms of
//! its columns (the rules, and rewrites of embedded type OIDs for a database target). A plan
//! read from a snapshot's manifest comes from `fixture::TableEntry::table`.

use std::sync::Arc;

use crate::app::sanitizing::{Plan, Sanitizing};
use crate::catalog::{SourceCatalog, Table};
use crate::codec::typeoids::SimpleTypeMap;
use crate::pipeline::{ColumnTransform, OidRemap, RowRules, Sanitize, TablePlan};
use crate::source;

use super::type_kind;

/// One plan per table, in the order given. Tables larger than `split_bytes` are split into
/// block ranges. `remap` maps the source's user type OIDs to the target's: `None` keeps the
/// source's (a snapshot, whose restore rewrites them for its own target).
pub(crate) fn from_catalog(
    catalog: &SourceCatalog,
    tables: Vec<Table>,
    (rules, sanitizing): (&Plan, &Sanitizing),
    split_bytes: u64,
    remap: Option<&Arc<SimpleTypeMap>>,
) -> Vec<TablePlan> {
    tables
        .into_iter()
        .map(|table| {
            let sanitizers = rules.sanitizers.get(&table.oid);
            let sanitizer_of = |i: usize| sanitizers.and_then(|s| s.get(i).cloned().flatten());
            let row = Arc::new(RowRules::new(&table, sanitizer_of));
            let mut transforms: Vec<Arc<dyn ColumnTransform>> = Vec::new();
            for (i, col) in table.columns.iter().enumerate() {
                let remap = match remap {
                    Some(map) if col.embeds_user_oids => Some(OidRemap {
                        column: i,
                        column_name: col.name.clone(),
                        kind: type_kind(&catalog.types, col.type_oid),
                        map: map.clone(),
                    }),
                    _ => None,
                };
                match (sanitizer_of(i), remap) {
                    (Some(sanitizer), remap) => transforms.push(Arc::new(Sanitize {
                        column: i,
                        column_name: col.name.clone(),
                        sanitizer,
                        key: sanitizing.key_or_unused(),
                        row: row.clone(),
                        remap,
                    })),
                    (None, Some(remap)) => transforms.push(Arc::new(remap)),
                    (None, None) => {}
                }
            }
            TablePlan {
                parts: source::plan_parts(&table, split_bytes, catalog.server_version_num),
                table,
                transforms,
            }
        })
        .collect()
}
