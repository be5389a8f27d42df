//! Row subsets for clone and snapshot: the `--subset` roots and the rules files' filters read
//! before any connection, the closure computed in the run's snapshot before anything is
//! written, and each table's parts replaced by its chosen rows.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::run::APPLICATION_NAME;
use super::Failure;
use crate::catalog::Table;
use crate::conn::ConnSpec;
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

/// Counts the source rows of the subset tables, in the snapshot: before the rows are chosen
/// those whose every row may be listed, the others on a connection and a thread of their own
/// while the run goes on (they only tell people how many rows were left out).
pub(super) fn count_source_rows(
    rt: &tokio::runtime::Runtime,
    leader: &Client,
    (source, snapshot): (&ConnSpec, &str),
    tables: &[Table],
    subset: Option<&mut Subset>,
) -> Result<Option<Counting>, Failure> {
    let Some(subset) = subset else {
        return Ok(None);
    };
    let later = rt
        .block_on(subset::count_listed_rows(leader, tables, subset))
        .map_err(failure)?;
    let (source, snapshot) = (source.clone(), snapshot.to_string());
    let (joined, snapshot_joined) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the row counts: {e}"))?;
        rt.block_on(async {
            let client = source
                .connect(APPLICATION_NAME)
                .await
                .map_err(|e| e.to_string());
            let client = match client {
                Ok(client) => client,
                Err(e) => {
                    let _ = joined.send(());
                    return Err(e);
                }
            };
            let imported = crate::source::join_snapshot(&client, &snapshot).await;
            let _ = joined.send(());
            imported.map_err(|e| crate::pgerr::describe(&e))?;
            let mut counted = HashMap::new();
            for (oid, qualified) in later {
                let rows = subset::count_rows(&client, &qualified)
                    .await
                    .map_err(|e| e.to_string())?;
                counted.insert(oid, rows);
            }
            Ok(counted)
        })
    });
    // The snapshot is importable only while the leader's transaction is open: wait until the
    // counting session has it.
    let _ = snapshot_joined.recv();
    Ok(Some(Counting(thread)))
}

/// Source rows being counted in the background.
pub(super) struct Counting(std::thread::JoinHandle<Result<HashMap<u32, u64>, String>>);

impl Counting {
    /// Waits for the counts and sets them.
    pub(super) fn finish(self, subset: &mut Subset) -> Result<(), Failure> {
        let counted = self
            .0
            .join()
            .map_err(|_| Failure::new(exit::FAILURE, "internal: the row counts panicked"))?
            .map_err(|e| Failure::new(exit::FAILURE, format!("source: counting rows: {e}")))?;
        for (oid, rows) in counted {
            if let Some(table) = subset.get_mut(&oid) {
                table.source_rows = rows;
            }
        }
        Ok(())
    }
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

pub(super) fn failure(e: SubsetError) -> Failure {
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
