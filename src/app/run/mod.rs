//! The run core shared by the data commands (`clone`, `snapshot`, `restore`, `reset`, `demo`,
//! `refresh`): the clone run itself (`clone_run`), how a connection string becomes a
//! connection, how big a run is, what a failure means for the exit code, and the refusals every
//! command that writes a database makes. Commands stay thin: they say which ends a run has (a
//! database, a snapshot directory) and in what order the steps go; the mechanics live here and
//! in the layers below, never in another command.

mod clone_run;
mod failure;
mod leak_scan;
mod marking;
pub(crate) mod plan;
mod seed_run;
mod sizing;
mod types;

pub(crate) use clone_run::clone;
pub(crate) use failure::{
    copy_failure, fixture_failure, provision_failure, refuse_non_empty, schema_failure,
};
pub(crate) use leak_scan::{outcome as scan_outcome, scan};
pub(crate) use marking::{left_behind, mark_complete, mark_incomplete};
pub(crate) use seed_run::{load_plan, seed_database, SeedOptions, SeedOutcome};
pub(crate) use sizing::{jobs, parse_conn, spec_connection, APPLICATION_NAME};
pub(crate) use types::{type_kind, type_map};
