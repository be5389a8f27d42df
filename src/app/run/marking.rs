//! The target database's comment as the record of a run's state, and the report's
//! `target_state` kept equal to what that comment really says.
//!
//! Writing the comment needs ownership of the database. A clone user that may fill a database
//! without owning it gets its rows copied, but no mark: the report then says `unmarked` and
//! warns, instead of claiming a mark that `verify` and `reset` will not find.

use tokio::runtime::Runtime;
use tokio_postgres::Client;

use crate::app::{pg_failure, Failure};
use crate::report::RunReport;
use crate::sink::target;
use crate::{exit, interrupt, pgerr};

/// From here on the target changes: marks it INCOMPLETE until the run has checked everything.
/// A mark that cannot be written is a warning: the copy may go on, but nothing will say the
/// database is partial if it fails.
pub(crate) fn mark_incomplete(rt: &Runtime, client: &Client, text: &str, report: &mut RunReport) {
    match rt.block_on(target::mark(client, text)) {
        Ok(()) => {
            interrupt::target::incomplete(true);
            report.target_state = "incomplete".into();
        }
        Err(e) => {
            interrupt::target::incomplete(false);
            report.warnings.push(format!(
                "cannot mark the target database INCOMPLETE while writing it (its comment): {}",
                pgerr::describe(&e)
            ));
            report.target_state = "unmarked".into();
        }
    }
}

/// Everything is written and checked: marks the target COMPLETE. When the INCOMPLETE mark was
/// written and this one cannot be, the database still says INCOMPLETE, so the run fails; when
/// no mark could ever be written, the run succeeds `unmarked` with a warning.
pub(crate) fn mark_complete(
    rt: &Runtime,
    client: &Client,
    text: &str,
    report: &mut RunReport,
) -> Result<(), Failure> {
    match rt.block_on(target::mark(client, text)) {
        Ok(()) => {
            interrupt::target::complete();
            report.target_state = "complete".into();
            Ok(())
        }
        Err(e) if report.target_state == "incomplete" => Err(pg_failure(
            exit::FAILURE,
            "target: every row is written and checked, but the database is still marked \
             INCOMPLETE: replacing its comment with the COMPLETE mark failed",
            &e,
        )),
        Err(e) => {
            interrupt::target::complete();
            report.warnings.push(format!(
                "the target is complete but carries no restage mark (its comment could not be \
                 written: {}); `verify` reports it as not marked complete",
                pgerr::describe(&e)
            ));
            report.target_state = "unmarked".into();
            Ok(())
        }
    }
}

/// How a run that fails after [`mark_incomplete`] leaves the target, for its error message.
pub(crate) fn left_behind(report: &RunReport) -> &'static str {
    if report.target_state == "incomplete" {
        "the target is incomplete and marked so"
    } else {
        "the target is incomplete and NOT marked so (see the warning above)"
    }
}
