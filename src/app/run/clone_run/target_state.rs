//! What the target is while a clone writes it: emptied first with `--clean`, then marked
//! incomplete in its database comment until the run completes, so a failure at any point
//! leaves it visibly unusable.

use tokio_postgres::Client;

use super::CloneRun;
use crate::app::run::marking;
use crate::app::{pg_failure, Failure};
use crate::catalog;
use crate::exit;
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
    /// anyway, with a warning, and reported `unmarked`.
    pub(super) fn mark_incomplete(&mut self, target_client: &Client) {
        let mark = format!(
            "{} from {} started {}; do not use",
            target::INCOMPLETE_MARK,
            self.source.masked(),
            self.report.started_at
        );
        marking::mark_incomplete(self.rt, target_client, &mark, self.report);
    }

    /// Replaces the incomplete mark by the complete one (saying whether the target holds a
    /// row subset), once everything is verified.
    pub(super) fn mark_complete(
        &mut self,
        target_client: &Client,
        subset: bool,
    ) -> Result<(), Failure> {
        let mark = format!(
            "{} from {} at {}",
            target::complete_mark(subset),
            self.source.masked(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        marking::mark_complete(self.rt, target_client, &mark, self.report)
    }
}
