//! The clone's data step: the pipeline sized by `--jobs`/`--index-jobs`, reading in the
//! source's exported snapshot and writing into the target, index builds running beside it.

use super::post_data_graph::post_jobs;
use super::CloneRun;
use crate::app::Failure;
use crate::pipeline::{self, Database, Ends, Input, Output, TablePlan};
use crate::report::{self, Progress};
use crate::schema::{PostDataPlan, RestoreOptions, SchemaArchive};

impl CloneRun<'_> {
    pub(super) fn copy_data(
        &self,
        snapshot: &str,
        plans: &[TablePlan],
        archive: &SchemaArchive,
        post_plan: &PostDataPlan,
        restore: RestoreOptions,
    ) -> Result<pipeline::Outcome, Failure> {
        let jobs = self.jobs();
        let config = pipeline::Config {
            lanes: jobs,
            // `--index-jobs 0`: nothing runs beside the copy; post-data follows it with --jobs.
            post_table_workers: match self.options.index_jobs {
                Some(0) => jobs,
                other => other.unwrap_or(jobs),
            },
            post_data_during_copy: self.options.index_jobs != Some(0),
            batch_bytes: 2 << 20,
            channel_capacity: 2,
        };
        let ends = Ends {
            input: Input::Database {
                db: Database {
                    conn: self.source,
                    application_name: super::APPLICATION_NAME,
                },
                snapshot,
            },
            output: Output::Database(Database {
                conn: self.target,
                application_name: super::APPLICATION_NAME,
            }),
        };
        let total_bytes = plans.iter().map(|p| p.table.bytes).sum();
        let progress = Progress::new(
            report::progress_wanted(self.output.quiet, self.output.json),
            total_bytes,
        );
        let post_jobs = post_jobs(self.target, plans, archive, post_plan, restore);
        let result = pipeline::run(&config, plans, &post_jobs, &progress, ends);
        progress.finish();
        let left = format!(
            "{} (see `restage clone --help`)",
            super::super::left_behind(self.report)
        );
        result.map_err(|e| super::super::copy_failure(e, &left))
    }
}
