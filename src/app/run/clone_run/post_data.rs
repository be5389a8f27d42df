//! The clone's post-data and verify steps: what the copy's job graph left of post-data, the
//! sequences, the materialized views, and the check that every sequence arrived where the
//! source had it.

use tokio_postgres::Client;

use super::CloneRun;
use crate::app::{pg_failure, Failure};
use crate::catalog::SourceCatalog;
use crate::exit;
use crate::schema::{PostDataPlan, RestoreOptions, SchemaArchive};
use crate::sink::target;

impl CloneRun<'_> {
    /// The rest of post-data (what the job graph did not handle), then sequences and
    /// materialized views with their statistics.
    pub(super) fn finish_post_data(
        &self,
        target_client: &Client,
        catalog: &SourceCatalog,
        archive: &SchemaArchive,
        post_plan: &PostDataPlan,
        restore: RestoreOptions,
    ) -> Result<(), Failure> {
        archive
            .restore_post_data_except(self.target, &post_plan.handled, self.jobs(), restore)
            .map_err(|e| Failure::new(exit::COPY_FAILED, format!("target: {e}")))?;
        self.rt
            .block_on(target::set_sequences(target_client, &catalog.sequences))
            .map_err(|e| pg_failure(exit::COPY_FAILED, "target: setting sequences", &e))?;
        self.rt
            .block_on(target::refresh_matviews(target_client, &catalog.matviews))
            .map_err(|e| {
                Failure::new(
                    exit::COPY_FAILED,
                    format!("target: refreshing materialized views: {e}"),
                )
            })?;
        for view in catalog.matviews.iter().filter(|v| v.populated) {
            let _ = self
                .rt
                .block_on(target::analyze(target_client, &view.qualified()));
        }
        Ok(())
    }

    pub(super) fn verify_sequences(
        &self,
        target_client: &Client,
        catalog: &SourceCatalog,
    ) -> Result<(), Failure> {
        for seq in &catalog.sequences {
            let got = self
                .rt
                .block_on(target::sequence_position(target_client, seq))
                .map_err(|e| pg_failure(exit::VERIFY_FAILED, "target: reading sequences", &e))?;
            if got != (seq.last_value, seq.is_called) {
                return Err(Failure::new(
                    exit::VERIFY_FAILED,
                    format!(
                        "sequence {}.{} is at {:?} on the target but {:?} on the source",
                        seq.schema,
                        seq.name,
                        got,
                        (seq.last_value, seq.is_called)
                    ),
                ));
            }
        }
        Ok(())
    }
}
