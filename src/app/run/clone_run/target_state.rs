//! What the target is while a clone writes it: emptied first with `--clean`, then marked
//! incomplete in its database comment until the run completes, so a failure at any point
//! leaves it visibly unusable.

use tokio_postgres::Client;

use super::CloneRun;
use crate::app::{pg_failure, Failure};
use crate::catalog;
use crate::exit;
use crate::interrupt;
use crate::pgerr;
use crate::sink::target;

impl CloneRun<'_> {
    /// `--clean`: drops everything in the target before the schema is restored.
    pub(super) fn clean_target(&self, target_client: &Client) -> Result<(), Failure> {
        if !self.options.clean {
            return Ok(());
        }
        let version = self
            .rt
            .block_on(catalog::target_state(target_client))
            .map(|s| s.server_version_num)
            .unwrap_or(0);
        self.rt
            .block_on(target::clean(target_client, version))
            .map_err(|e| pg_failure(exit::FAILURE, "target: --clean failed", &e))
    }

    /// Marks the target incomplete in its comment; a target that cannot be marked is copied
    /// anyway, with a warning.
    pub(super) fn mark_incomplete(&mut self, target_client: &Client) {
        let mark = format!(
            "{} from {} started {}; do not use",
            target::INCOMPLETE_MARK,
            self.source.masked(),
            self.report.started_at
        );
        match self.rt.block_on(target::mark(target_client, &mark)) {
            Ok(()) => interrupt::target::incomplete(true),
            Err(e) => self.report.warnings.push(format!(
                "cannot mark the target database as incomplete while copying: {}",
                pgerr::describe(&e)
            )),
        }
        self.report.target_state = "incomplete".into();
    }

    /// Replaces the incomplete mark by the complete one, once everything is verified.
    pub(super) fn mark_complete(&mut self, target_client: &Client) {
        let mark = format!(
            "{} from {} at {}",
            target::COMPLETE_MARK,
            self.source.masked(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        let _ = self.rt.block_on(target::mark(target_client, &mark));
        interrupt::target::complete();
        self.report.target_state = "complete".into();
    }
}
