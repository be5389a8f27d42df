//! The leak scan of a sanitized target against its source, as `verify`, `demo` and `refresh`
//! run it, and the exit status its report means.

use std::collections::HashMap;

use crate::app::{subsetting, Failure};
use crate::catalog::{self, select};
use crate::conn::ConnSpec;
use crate::exit;
use crate::rules::{self, diagnostic, RuleFile};
use crate::subset;
use crate::verify::{self, TargetState, VerifyReport};

/// `application_name` of the scan's sessions.
const APPLICATION_NAME: &str = "restage verify";

/// Exit status of a scan: a failure naming what was found.
pub(crate) fn outcome(report: &VerifyReport) -> Result<(), Failure> {
    if report.passed() {
        return Ok(());
    }
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut reasons = Vec::new();
    if report.leaks() > 0 {
        reasons.push(format!(
            "{} found in the target",
            plural(report.leaks(), "production value", "production values")
        ));
    }
    let swept = report.swept_values();
    if swept > 0 {
        reasons.push(format!(
            "{} holding production or personal data found in the target",
            plural(swept, "value", "values")
        ));
    }
    let mismatches = report.count_mismatches() as u64;
    if mismatches > 0 {
        reasons.push(format!(
            "{} from the source",
            plural(
                mismatches,
                "table's row count differs",
                "tables' row counts differ"
            )
        ));
    }
    if report.subset_not_given() {
        reasons.push(verify::SUBSET_NOT_GIVEN.to_string());
    }
    match report.target_state {
        TargetState::Complete => {}
        TargetState::Incomplete => {
            reasons.push("the target is marked INCOMPLETE (its clone did not finish)".into())
        }
        TargetState::Unmarked => {
            reasons.push("the target is not marked as a complete restage clone".into())
        }
    }
    Err(Failure::new(exit::VERIFY_FAILED, reasons.join("; ")))
}

/// Scans `target` against `source` for the columns `files` sanitize (shared with `demo`).
/// `subset_roots` are the clone's `--subset` arguments: with them, or with `where`/`percent`
/// in `files`, each table's count is compared with the rows that subset selects on the source.
pub(crate) fn scan(
    source: &ConnSpec,
    target: &ConnSpec,
    files: &[RuleFile],
    subset_roots: &[String],
    include: &[String],
    exclude: &[String],
) -> Result<VerifyReport, Failure> {
    let subset_spec = subsetting::spec(subset_roots, files)?;
    let rt = crate::app::runtime()?;
    rt.block_on(async {
        // Two connections a side: the sweep runs on the second pair while the column scans
        // run on the first.
        let mut sources = Vec::new();
        let mut targets = Vec::new();
        for _ in 0..2 {
            let src = source
                .connect(APPLICATION_NAME)
                .await
                .map_err(|e| Failure::new(exit::CONNECTION, format!("source: {e}")))?;
            // As clone reads: a role that row-level security filters is refused below, and with
            // row_security off a policy the check missed fails the query instead of hiding rows.
            src.batch_execute("SET default_transaction_read_only = on; SET row_security = off")
                .await
                .map_err(|e| crate::app::pg_failure(exit::FAILURE, "source", &e))?;
            sources.push(src);
            targets.push(
                target
                    .connect(APPLICATION_NAME)
                    .await
                    .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))?,
            );
        }
        let (src, dst) = (&sources[0], &targets[0]);
        let catalog = catalog::load(src)
            .await
            .map_err(|e| Failure::new(exit::FAILURE, format!("source: {e}")))?;
        let tables = select::select(&catalog.tables, include, exclude)
            .map_err(|e| Failure::new(exit::USAGE, e.to_string()))?;
        // Counts and leak needles from rows the role cannot see would pass a target they
        // never describe.
        let access = catalog::check_access(src, &tables, catalog.server_version_num)
            .await
            .map_err(|e| {
                Failure::new(exit::FAILURE, format!("source: checking privileges: {e}"))
            })?;
        if !access.is_empty() {
            return Err(Failure::new(exit::REFUSED, format!("source: {access}")));
        }
        let (resolution, problems) = rules::resolve(files, &catalog, &tables);
        if !problems.is_empty() {
            return Err(Failure::new(exit::USAGE, diagnostic::render(&problems)));
        }
        // The subset's rows and the counts compared with them come from one snapshot.
        let expected = match &subset_spec {
            Some(spec) => {
                src.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await
                    .map_err(|e| crate::app::pg_failure(exit::FAILURE, "source", &e))?;
                let subset = subset::compute(
                    src,
                    spec,
                    &tables,
                    catalog.server_version_num,
                    subset::Walk::Auto,
                )
                .await
                .map_err(subsetting::failure)?;
                let mut expected = HashMap::new();
                for table in &tables {
                    let Some(rows) = subset.get(&table.oid) else {
                        continue;
                    };
                    // Tables a predicate selects were not listed: count what it selects.
                    let count = match rows.copied_rows {
                        Some(listed) => listed,
                        None => subset::count_rows_where(src, &table.qualified(), &rows.predicate)
                            .await
                            .map_err(subsetting::failure)?,
                    };
                    expected.insert(table.oid, count);
                }
                Some(expected)
            }
            None => None,
        };
        let state = catalog::target_state(dst)
            .await
            .map_err(|e| Failure::new(exit::FAILURE, format!("target: {e}")))?;
        let sweep_sides = verify::SweepSides {
            source: &sources[1],
            target: &targets[1],
        };
        verify::run(
            src,
            dst,
            sweep_sides,
            &catalog,
            &tables,
            &resolution,
            state.comment.as_deref(),
            expected.as_ref(),
        )
        .await
        .map_err(|e| crate::app::pg_failure(exit::FAILURE, "scanning", &e))
    })
}
