//! Row subsets for clone and snapshot: the `--subset` roots and the rules files' filters read
//! before any connection, the closure computed in the run's snapshot before anything is
//! written, and each table's parts replaced by its chosen rows.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::Failure;
use crate::catalog::Table;
use crate::exit;
use crate::pipeline::{TablePlan, TableStats};
use crate::rules::RuleFile;
use crate::source::{Part, RowFilter};
use crate::subset::{self, Subset, SubsetError, SubsetSpec};

/// What `--subset` and the rules files ask for; `None` copies every row.
pub(super) fn spec(roots: &[String], files: &[RuleFile]) -> Result<Option<SubsetSpec>, Failure> {
    SubsetSpec::parse(roots, files).map_err(failure)
}

/// Set to `ctid`, every table's rows are listed by the general walk, none named by a
/// semi-join predicate: the same rows, for comparing the two or diagnosing a subset.
const WALK_VARIABLE: &str = "RESTAGE_SUBSET_WALK";

/// The rows each of `tables` copies, computed with the leader's snapshot (read only).
pub(super) fn compute(
    rt: &tokio::runtime::Runtime,
    leader: &Client,
    spec: &SubsetSpec,
    tables: &[Table],
    server_version_num: u32,
) -> Result<Subset, Failure> {
    let walk = match std::env::var(WALK_VARIABLE).as_deref() {
        Ok("ctid") => subset::Walk::CtidOnly,
        _ => subset::Walk::Auto,
    };
    rt.block_on(subset::compute(
        leader,
        spec,
        tables,
        server_version_num,
        walk,
    ))
    .map_err(failure)
}

/// Runs `alongside` (the schema dump: a child process that mostly waits) on a thread of its
/// own while the leader counts the source rows of each subset table in the snapshot, so the
/// counts take no wall time of their own.
pub(super) fn count_alongside<T: Send>(
    rt: &tokio::runtime::Runtime,
    leader: &Client,
    tables: &[Table],
    subset: Option<&mut Subset>,
    alongside: impl FnOnce() -> T + Send,
) -> Result<T, Failure> {
    std::thread::scope(|scope| {
        let other = scope.spawn(alongside);
        let counted = match subset {
            Some(subset) => rt
                .block_on(subset::count_source_rows(leader, tables, subset))
                .map_err(failure),
            None => Ok(()),
        };
        let out = other.join().map_err(|_| {
            Failure::new(exit::FAILURE, "internal: the schema dump thread panicked")
        })?;
        counted.map(|()| out)
    })
}

/// Each subset table is read whole, restricted to its rows (a ctid set or a semi-join
/// predicate: block ranges would repeat the semi-join's other side in every part).
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

fn failure(e: SubsetError) -> Failure {
    let code = match e {
        SubsetError::Source(_) => exit::FAILURE,
        _ => exit::USAGE,
    };
    Failure::new(code, e.to_string())
}

/// `subset: schema.table  copied of source` lines after the copy, largest source first.
pub(super) fn summary(plans: &[TablePlan], stats: &[TableStats], subset: &Subset) -> String {
    let mut lines: Vec<(u64, String)> = plans
        .iter()
        .zip(stats)
        .filter_map(|(p, s)| {
            let rows = subset.get(&p.table.oid)?;
            Some((
                rows.source_rows,
                format!(
                    "subset: {} {} of {} rows\n",
                    p.table.display_name(),
                    s.rows,
                    rows.source_rows
                ),
            ))
        })
        .collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    lines.into_iter().map(|(_, l)| l).collect()
}
