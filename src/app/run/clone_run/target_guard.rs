//! The refusals a clone makes before it writes anything: a target that is the source itself,
//! an unsupported pair of servers, a target that holds anything (without `--clean`), and
//! extensions the target lacks or already holds.

use tokio_postgres::Client;

use super::CloneRun;
use crate::app::{guards, pg_failure, Failure};
use crate::catalog;
use crate::exit;
use crate::sink::target;

impl CloneRun<'_> {
    pub(super) fn guard_target(
        &mut self,
        source: &Client,
        target_client: &Client,
    ) -> Result<(), Failure> {
        let same = self
            .rt
            .block_on(target::is_same_database(source, target_client))
            .map_err(|e| pg_failure(exit::FAILURE, "checking source and target", &e))?;
        if same {
            return Err(Failure::new(
                exit::REFUSED,
                format!(
                    "the target {} is the source database itself; refusing to overwrite production",
                    self.target.masked()
                ),
            ));
        }
        crate::app::versions::check_pair(self.rt, source, target_client)?;
        let state = self
            .rt
            .block_on(catalog::target_state_in(
                target_client,
                &self.options.schemas,
            ))
            .map_err(|e| Failure::new(exit::FAILURE, format!("target: {e}")))?;
        self.report.versions.target_server =
            Some(crate::pgbin::Version::from_version_num(state.server_version_num).to_string());
        if state.object_count > 0 && !self.options.clean {
            let note = match &state.comment {
                Some(c) if c.starts_with(target::INCOMPLETE_MARK) => {
                    " (it holds an incomplete earlier clone)"
                }
                _ => "",
            };
            return Err(super::super::refuse_non_empty(&state, note));
        }
        let extensions =
            guards::check_target_extensions(self.rt, source, target_client, self.options.clean)?;
        self.report.kept = extensions.kept;
        self.report.warnings.extend(extensions.warnings);
        Ok(())
    }
}
