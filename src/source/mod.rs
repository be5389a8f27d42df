//! The production side: one exported snapshot that every reader shares, COPY out of a table
//! (or a ctid range of it) in binary (in text for values the binary form would not carry), and
//! splitting large tables into ranges.

mod copy_out;
mod dictionary;
mod sample;
mod snapshot;
mod split;

pub use copy_out::{copy_out, copy_out_text, CopyOutError};
pub use dictionary::distinct_values;
pub use sample::sample;
pub use snapshot::{join_snapshot, Leader};
pub use split::{plan_parts, Part, RowFilter};
