//! Row subsets for clone and snapshot: the `--subset` roots and the rules files' filters read
//! before any connection, the closure computed in the run's snapshot before anything is
//! written, and each table's parts replaced by its chosen rows.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::Failure;
use crate::catalog::Table;
use crate::exit;
use crate::pipeline::TablePlan;
use crate::rules::RuleFile;
use crate::source::{Part, RowFilter};
use crate::subset::{self, Subset, SubsetError, SubsetSpec};

/// What `--subset` and the rules files ask for; `None` copies every row.
pub(super) fn spec(roots: &[String], files: &[RuleFile]) -> Result<Option<SubsetSpec>, Failure> {
    SubsetSpec::parse(roots, files).map_err(failure)
}

/// The rows each of `tables` copies, computed with the leader's snapshot (read only).
pub(super) fn compute(
    rt: &tokio::runtime::Runtime,
    leader: &Client,
    spec: &SubsetSpec,
    tables: &[Table],
    server_version_num: u32,
) -> Result<Subset, Failure> {
    rt.block_on(subset::compute(leader, spec, tables, server_version_num))
        .map_err(failure)
}

/// Each subset table is read whole, restricted to its rows (ctid sets are read with TID
/// scans, so block ranges would gain nothing).
pub(super) fn restrict(plans: &mut [TablePlan], subset: &Subset) {
    for plan in plans {
        if let Some(rows) = subset.get(&plan.table.oid) {
            plan.parts = vec![Part::subset(RowFilter {
                predicate: rows.predicate.clone(),
                select_list: rows.select_list.clone(),
            })];
        }
    }
}

/// Rows in the source per copied table, for the summary.
pub(super) fn source_rows(subset: &Subset) -> HashMap<u32, u64> {
    subset
        .iter()
        .map(|(oid, rows)| (*oid, rows.source_rows))
        .collect()
}

pub(super) fn failure(e: SubsetError) -> Failure {
    let code = match e {
        SubsetError::Source(_) => exit::FAILURE,
        _ => exit::USAGE,
    };
    Failure::new(code, e.to_string())
}

/// `subset: schema.table  copied of source` lines, largest source first.
pub(super) fn summary(plans: &[TablePlan], subset: &Subset) -> String {
    let mut lines: Vec<(u64, String)> = plans
        .iter()
        .filter_map(|p| {
            let rows = subset.get(&p.table.oid)?;
            Some((
                rows.source_rows,
                format!(
                    "subset: {} {} of {} rows\n",
                    p.table.display_name(),
                    rows.copied_rows,
                    rows.source_rows
                ),
            ))
        })
        .collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    lines.into_iter().map(|(_, l)| l).collect()
}
