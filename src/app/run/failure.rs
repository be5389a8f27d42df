//! What a failure of a lower layer means for the exit code, written once for every command.

use crate::app::Failure;
use crate::catalog::TargetState;
use crate::exit;
use crate::fixture::FixtureError;
use crate::pipeline::PipelineError;
use crate::provision::postgres::PgError;
use crate::schema::SchemaError;

/// A failed copy into a database: a row count the target did not confirm is a verification
/// failure, an unreachable end a connection failure, anything else a failed copy.
/// `consequence` says what the failure left behind.
pub(crate) fn copy_failure(e: PipelineError, consequence: &str) -> Failure {
    let code = match &e {
        PipelineError::RowMismatch { .. } => exit::VERIFY_FAILED,
        PipelineError::Connect { .. } => exit::CONNECTION,
        _ => exit::COPY_FAILED,
    };
    Failure::new(code, format!("{e}; {consequence}"))
}

/// A schema archive that could not be dumped or opened: a missing or too old tool is a
/// refusal, anything else a failure. `what` names the side (`source`, `snapshot schema`).
pub(crate) fn schema_failure(what: &str, e: SchemaError) -> Failure {
    let code = match e {
        SchemaError::Tool(_) => exit::REFUSED,
        _ => exit::FAILURE,
    };
    Failure::new(code, format!("{what}: {e}"))
}

/// A failed provisioning step on a server (provision, refresh): a refusal or a missing
/// privilege keeps its own exit code.
pub(crate) fn provision_failure(e: PgError) -> Failure {
    match e {
        PgError::Refused(m) => Failure::new(exit::REFUSED, m),
        PgError::Connect { .. } => Failure::new(exit::CONNECTION, e.to_string()),
        PgError::Query { .. } => Failure::new(exit::FAILURE, e.to_string()),
        PgError::Privileges(m) => Failure::new(exit::PRIVILEGES, m),
    }
}

pub(crate) fn fixture_failure(e: FixtureError) -> Failure {
    let code = match &e {
        FixtureError::NotASnapshot { .. } | FixtureError::NewerFormat { .. } => {
            exit::NOT_A_SNAPSHOT
        }
        FixtureError::Damaged { .. } => exit::SNAPSHOT_DAMAGED,
        FixtureError::Occupied { .. } => exit::REFUSED,
        FixtureError::Io { .. } => exit::FAILURE,
    };
    Failure::new(code, e.to_string())
}

/// The refusal to write into a database that holds anything, listing what it holds; `note`
/// adds why it might (an earlier incomplete clone).
pub(crate) fn refuse_non_empty(state: &TargetState, note: &str) -> Failure {
    let more = state
        .object_count
        .saturating_sub(u64::try_from(state.objects.len()).unwrap_or(u64::MAX));
    let mut listing = state.objects.join(", ");
    if more > 0 {
        listing.push_str(&format!(" and {more} more"));
    }
    Failure::new(
        exit::REFUSED,
        format!(
            "the target database is not empty{note}: {listing}; use --clean to drop everything \
             in it first"
        ),
    )
}
