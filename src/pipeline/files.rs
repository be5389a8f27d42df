//! File ends for lanes: a destination that writes each part to a file (snapshot) and a source
//! that reads each part back from one (restore). The file format itself (compression, digests,
//! names) belongs to `fixture`; lanes only move bytes through these traits on their threads.

use std::io::Read;

use super::TablePlan;
use crate::conn::ConnSpec;
use crate::source::Part;

/// Where a lane writes parts when the destination is files.
pub trait FileDestination: Sync {
    /// Opens the file for one part; it holds the whole PGCOPY stream (header to trailer).
    fn create<'s>(
        &'s self,
        table: &TablePlan,
        part: &Part,
    ) -> Result<Box<dyn PartFile + 's>, String>;
}

/// One part being written. Dropping it without [`PartFile::finish`] discards what was written.
pub trait PartFile: Send {
    fn write(&mut self, data: &[u8]) -> Result<(), String>;
    /// Makes the part durable; `rows` is what the source produced.
    fn finish(self: Box<Self>, rows: u64) -> Result<(), String>;
}

/// Where a lane reads parts when the source is files.
pub trait FileSource: Sync {
    /// The part's PGCOPY stream (header to trailer) and the rows it holds.
    fn open(&self, table: &TablePlan, part: &Part) -> Result<(Box<dyn Read + Send>, u64), String>;
}

/// Where a lane reads parts when their rows are generated (seed) instead of read.
pub trait RowSource: Sync {
    /// Calls `emit` with the part's rows in batches of about `batch_bytes` (it returns false
    /// to stop); returns the number of rows produced, or why the part stopped short.
    fn produce(
        &self,
        table: &TablePlan,
        part: &Part,
        batch_bytes: usize,
        emit: &mut dyn FnMut(crate::codec::decode::RowBatch) -> bool,
    ) -> Result<u64, Stop>;
}

/// Why a reader stopped before the end of its part.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The run was cancelled (another lane failed, or `emit` refused a batch): the failure that
    /// caused it is already reported, this part adds none.
    Cancelled,
    /// The part itself failed, for the reason given (which may be empty).
    Failed(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Failed(message)
    }
}

/// A database end of a run: every lane opens its own session with these.
#[derive(Clone, Copy)]
pub struct Database<'a> {
    pub conn: &'a ConnSpec,
    /// `application_name` of the lanes' sessions.
    pub application_name: &'a str,
}

/// Where a run reads rows. The ends own what only they need (connections, the exported
/// snapshot, files), so that `Config` only sizes the run. A new kind of read end (a generator,
/// a filtered read of a database) is a new variant here and a reader for it in `lane`.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// COPY out of a database inside an exported snapshot that every reader imports.
    Database { db: Database<'a>, snapshot: &'a str },
    /// Each part's stream from its file (a snapshot directory).
    Files(&'a dyn FileSource),
    /// Rows made by a generator; written next to the target's rows (never truncating).
    Generated(&'a dyn RowSource),
}

/// Where a run writes rows.
#[derive(Clone, Copy)]
pub enum Output<'a> {
    /// COPY into a database.
    Database(Database<'a>),
    /// Each part's stream into its file (a snapshot directory).
    Files(&'a dyn FileDestination),
}

/// The two ends of a run: databases (clone) or files on one side (snapshot, restore).
#[derive(Clone, Copy)]
pub struct Ends<'a> {
    pub input: Input<'a>,
    pub output: Output<'a>,
}
