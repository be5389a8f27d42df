//! Progress bars, the end-of-run summary and the JSON report. The only module using indicatif.

mod progress;
mod summary;

pub use progress::Progress;
pub use summary::{format_bytes, CloneReport, Step, TableRow, Totals};

use std::io::IsTerminal;

/// Whether to draw progress: only for a person watching a terminal.
pub fn progress_wanted(quiet: bool, json: bool) -> bool {
    !quiet && !json && std::io::stderr().is_terminal()
}
