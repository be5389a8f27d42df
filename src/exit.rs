//! Documented process exit codes (see `restage --help`).

/// The command did what it was asked.
pub const OK: i32 = 0;
/// Generic failure not covered below.
pub const FAILURE: i32 = 1;
/// Bad usage: invalid flags, malformed input files.
pub const USAGE: i32 = 2;
/// `provision --check`: changes are pending (the CI drift convention; only
/// `provision --check` returns 2 for this reason).
pub const DRIFT: i32 = 2;
/// A database could not be reached or refused the login.
pub const CONNECTION: i32 = 3;
/// A guard refused to run (target is the source, target not empty, tool too old…), including
/// the fail-closed one: columns no rule decides (`clone`, `snapshot`, `rules check`).
pub const REFUSED: i32 = 4;
/// The copy failed midway; the target is incomplete and marked as such.
pub const COPY_FAILED: i32 = 5;
/// The copy finished but verification found a mismatch.
pub const VERIFY_FAILED: i32 = 6;
/// `restore`, `snapshot ls|inspect`: the directory is not a restage snapshot, or its format is
/// newer than this build reads.
pub const NOT_A_SNAPSHOT: i32 = 7;
/// `restore`: a snapshot file is missing, truncated or fails its digest; nothing was loaded.
pub const SNAPSHOT_DAMAGED: i32 = 8;
/// `provision`: the admin role cannot make a planned privilege change (it neither owns the
/// object nor acts for its owner), or a GRANT/REVOKE ran without effect; the message names the
/// statements to run as the owner. `refresh`: the admin role cannot create the shadow database
/// or end the application's sessions at the swap.
pub const PRIVILEGES: i32 = 9;
/// Interrupted by a signal: 128 + its number (130 for SIGINT, 143 for SIGTERM), as shells report.
pub const SIGNALED: i32 = 128;
