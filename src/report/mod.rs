//! Progress bars, the end-of-run summary and the JSON report. The only module using indicatif.

mod progress;
mod record;
mod summary;

pub use progress::{PartBars, Progress};
pub use record::{
    ColumnRecord, Privacy, RunReport, Step, TableRow, Totals, VerifyRecord, Versions,
    REPORT_VERSION,
};
pub use summary::format_bytes;

use std::io::IsTerminal;

/// Whether to draw progress: only for a person watching a terminal.
pub fn progress_wanted(quiet: bool, json: bool) -> bool {
    !quiet && !json && std::io::stderr().is_terminal()
}
