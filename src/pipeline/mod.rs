//! The only module that owns threads, rayon and channels.
//!
//! Each lane is three threads joined by bounded crossbeam channels:
//! reader (own tokio runtime, COPY TO + decode) → transform (rayon: per-column rules, then
//! encode) → writer (own tokio runtime, COPY FROM). Lanes pull parts from a shared queue,
//! largest tables first. When all parts of a table are in, the table goes to the post-table
//! workers (its index builds, counts, ANALYZE) while other tables keep copying. Memory stays
//! bounded by `lanes × channel capacity × batch size` whatever the table sizes. The first fatal
//! error cancels every job.

mod cancel;
mod files;
mod fold;
mod lane;
mod transform;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, RecvTimeoutError};

pub use cancel::Cancel;
pub use files::{
    Database, Ends, FileDestination, FileSource, Input, Output, PartFile, RowSource, Stop,
};
pub use fold::{par_fold, par_fold_owned};
pub use transform::{ColumnTransform, OidRemap, RowColumn, RowRules, Sanitize, TransformError};

use crate::catalog::Table;
use crate::source::Part;

/// One table to copy, with its parts and the per-column transforms applied to its batches.
pub struct TablePlan {
    pub table: Table,
    pub parts: Vec<Part>,
    pub transforms: Vec<Arc<dyn ColumnTransform>>,
}

/// The size of a run (what it reads and writes are its [`Ends`]).
pub struct Config {
    pub lanes: usize,
    pub post_table_workers: usize,
    /// Start post-data jobs while other tables still copy (otherwise after the last row).
    pub post_data_during_copy: bool,
    /// Decoded batch size (1–4 MiB keeps memory flat and per-batch overhead negligible).
    pub batch_bytes: usize,
    /// Batches in flight between two stages of one lane.
    pub channel_capacity: usize,
}

/// Progress callbacks; implemented by `report`. Called from lane threads.
pub trait Observer: Sync {
    fn part_started(&self, _table: &TablePlan, _part: &Part) {}
    fn rows_copied(&self, _table: &TablePlan, _part: &Part, _rows: u64, _bytes: u64) {}
    fn part_finished(&self, _table: &TablePlan, _part: &Part) {}
    fn table_copied(&self, _table: &TablePlan, _stats: &TableStats) {}
}

/// Work that runs after rows are in (one index build, a foreign key, ANALYZE…), on the
/// post-data workers, as soon as what it waits for is done, while other tables still copy.
pub struct PostJob<'a> {
    pub label: String,
    /// The table the job's time is attributed to (index into the tables).
    pub table: Option<usize>,
    /// Tables whose rows must all be in first.
    pub after_tables: Vec<usize>,
    /// Jobs (indexes into the job list) that must finish first.
    pub after_jobs: Vec<usize>,
    /// Receives the statistics of `table` (rows read from the snapshot) when it has one.
    pub run: PostRun<'a>,
}

/// The body of a post-data job.
pub type PostRun<'a> = Box<dyn Fn(&TableStats) -> Result<(), String> + Sync + 'a>;

/// What the copy produced.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub tables: Vec<TableStats>,
    /// From the start until the last row of the last table was committed.
    pub copy_seconds: f64,
}

#[derive(Debug, Clone, Default)]
pub struct TableStats {
    pub rows: u64,
    /// PGCOPY bytes read from the source.
    pub bytes: u64,
    /// From the first part's start to the last part's end.
    pub copy_seconds: f64,
    pub post_seconds: f64,
    pub parts: usize,
    /// Rows the target acknowledged (its COPY FROM count), or that the snapshot files hold.
    pub written_rows: u64,
    /// blake3 digest of each part's stream as the target (or file) received it, by part index.
    pub part_digests: Vec<(usize, [u8; 32])>,
}

impl TableStats {
    /// A checksum of the rows the target received: blake3 over the parts' stream digests in
    /// part order. The same rows in the same order give the same checksum whether they went
    /// into a database or a snapshot directory; `None` before every part is in.
    pub fn checksum(&self) -> Option<String> {
        if self.part_digests.len() != self.parts {
            return None;
        }
        let mut digests = self.part_digests.clone();
        digests.sort_by_key(|(index, _)| *index);
        let mut hasher = blake3::Hasher::new();
        for (_, digest) in &digests {
            hasher.update(digest);
        }
        Some(hasher.finalize().to_hex().to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{side}: {message}")]
    Connect { side: &'static str, message: String },
    #[error("copying {table}{part}: {side}: {message}")]
    Copy {
        table: String,
        part: String,
        side: &'static str,
        message: String,
        sqlstate: Option<String>,
    },
    #[error("copying {table}{part}: {message}")]
    Transform {
        table: String,
        part: String,
        message: String,
    },
    #[error(
        "copying {table}{part}: read {read} rows from the source but the target inserted {written}"
    )]
    RowMismatch {
        table: String,
        part: String,
        read: u64,
        written: u64,
    },
    #[error("{job}: {message}")]
    PostData { job: String, message: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl PipelineError {
    /// The table the error is about, if any.
    pub fn table(&self) -> Option<&str> {
        match self {
            PipelineError::Copy { table, .. }
            | PipelineError::Transform { table, .. }
            | PipelineError::RowMismatch { table, .. }
            | PipelineError::PostData { job: table, .. } => Some(table),
            _ => None,
        }
    }
}

pub(crate) struct Job {
    pub table: usize,
    pub part: Part,
}

pub(crate) enum Event {
    PartDone {
        table: usize,
        part: usize,
        rows: u64,
        written: u64,
        bytes: u64,
        digest: [u8; 32],
        started: Instant,
        finished: Instant,
    },
    JobDone {
        job: usize,
        seconds: f64,
    },
}

pub(crate) struct Shared<'a> {
    pub config: &'a Config,
    pub tables: &'a [TablePlan],
    pub observer: &'a dyn Observer,
    pub cancel: Cancel,
    pub ends: Ends<'a>,
}

/// Copies every table of `tables` from one end to the other and runs the post-data jobs as
/// their inputs complete; returns per-table statistics in the same order.
pub fn run(
    config: &Config,
    tables: &[TablePlan],
    jobs: &[PostJob<'_>],
    observer: &dyn Observer,
    ends: Ends<'_>,
) -> Result<Outcome, PipelineError> {
    let shared = Shared {
        config,
        tables,
        observer,
        cancel: Cancel::default(),
        ends,
    };
    let started = Instant::now();
    let (parts_tx, parts_rx) = unbounded::<Job>();
    for t in largest_first(tables) {
        for part in &tables[t].parts {
            let _ = parts_tx.send(Job {
                table: t,
                part: part.clone(),
            });
        }
    }
    drop(parts_tx);

    let (events_tx, events_rx) = unbounded::<Event>();
    let (ready_tx, ready_rx) = unbounded::<(usize, TableStats)>();
    let mut outcome = Outcome {
        tables: tables
            .iter()
            .map(|t| TableStats {
                parts: t.parts.len(),
                ..TableStats::default()
            })
            .collect(),
        copy_seconds: 0.0,
    };

    thread::scope(|scope| {
        for lane in 0..config.lanes.max(1) {
            lane::spawn(scope, lane, &shared, parts_rx.clone(), events_tx.clone());
        }
        for _ in 0..config.post_table_workers.max(1) {
            let ready_rx = ready_rx.clone();
            let events_tx = events_tx.clone();
            let shared = &shared;
            scope.spawn(move || post_worker(shared, jobs, ready_rx, events_tx));
        }
        drop(events_tx);
        drop(ready_rx);
        let mut coordinator = Coordinator::new(&shared, jobs, ready_tx);
        coordinator.run(events_rx, &mut outcome, started);
    });

    match shared.cancel.take_error() {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Copy order: largest first, where a table's size counts the tables whose foreign keys
/// reference it, because their validation waits for its rows and unique index. A small table
/// referenced by a huge one therefore starts early instead of holding up the end of the run.
fn largest_first(tables: &[TablePlan]) -> Vec<usize> {
    let mut weight: Vec<u64> = tables.iter().map(|t| t.table.bytes).collect();
    let position: std::collections::HashMap<u32, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.table.oid, i))
        .collect();
    for plan in tables {
        for referenced in &plan.table.references {
            if let Some(&r) = position.get(referenced) {
                if *referenced != plan.table.oid {
                    weight[r] += plan.table.bytes;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by_key(|t| std::cmp::Reverse(weight[*t]));
    order
}

/// Tracks finished parts and jobs and releases jobs whose dependencies are met.
struct Coordinator<'s, 'a> {
    shared: &'s Shared<'a>,
    jobs: &'s [PostJob<'s>],
    ready: Option<crossbeam_channel::Sender<(usize, TableStats)>>,
    /// Jobs whose inputs are done but that must wait for the end of the copy.
    deferred: Vec<usize>,
    waiting_on: Vec<usize>,
    table_dependents: Vec<Vec<usize>>,
    job_dependents: Vec<Vec<usize>>,
    parts_left: Vec<usize>,
    tables_left: usize,
    jobs_left: usize,
    running: usize,
}

impl<'s, 'a> Coordinator<'s, 'a> {
    fn new(
        shared: &'s Shared<'a>,
        jobs: &'s [PostJob<'s>],
        ready: crossbeam_channel::Sender<(usize, TableStats)>,
    ) -> Self {
        let mut table_dependents = vec![Vec::new(); shared.tables.len()];
        let mut job_dependents = vec![Vec::new(); jobs.len()];
        let mut waiting_on = Vec::with_capacity(jobs.len());
        for (j, job) in jobs.iter().enumerate() {
            for &t in &job.after_tables {
                table_dependents[t].push(j);
            }
            for &d in &job.after_jobs {
                job_dependents[d].push(j);
            }
            waiting_on.push(job.after_tables.len() + job.after_jobs.len());
        }
        Coordinator {
            shared,
            jobs,
            ready: Some(ready),
            deferred: Vec::new(),
            waiting_on,
            table_dependents,
            job_dependents,
            parts_left: shared.tables.iter().map(|t| t.parts.len()).collect(),
            tables_left: shared.tables.len(),
            jobs_left: jobs.len(),
            running: 0,
        }
    }

    fn release(&mut self, job: usize, outcome: &Outcome) {
        self.waiting_on[job] -= 1;
        if self.waiting_on[job] == 0 {
            if self.tables_left > 0 && !self.shared.config.post_data_during_copy {
                self.deferred.push(job);
                return;
            }
            self.dispatch(job, outcome);
        }
    }

    fn dispatch(&mut self, job: usize, outcome: &Outcome) {
        {
            let stats = self.jobs[job]
                .table
                .map(|t| outcome.tables[t].clone())
                .unwrap_or_default();
            if let Some(tx) = &self.ready {
                if tx.send((job, stats)).is_ok() {
                    self.running += 1;
                }
            }
        }
    }

    fn run(
        &mut self,
        events: crossbeam_channel::Receiver<Event>,
        outcome: &mut Outcome,
        started: Instant,
    ) {
        let mut first_start: Vec<Option<Instant>> = vec![None; self.shared.tables.len()];
        let mut last_end: Vec<Option<Instant>> = vec![None; self.shared.tables.len()];
        for j in 0..self.jobs.len() {
            if self.waiting_on[j] == 0 {
                self.waiting_on[j] = 1;
                self.release(j, outcome);
            }
        }
        while self.tables_left > 0 || self.jobs_left > 0 {
            if self.shared.cancel.is_cancelled() {
                // Releases the post-data workers; lanes stop at their next batch.
                self.ready = None;
            }
            if self.tables_left == 0 && self.running == 0 && self.jobs_left > 0 {
                self.shared.cancel.fail(PipelineError::Internal(format!(
                    "{} post-data jobs wait for something that never finishes",
                    self.jobs_left
                )));
                self.ready = None;
                self.jobs_left = 0;
            }
            match events.recv_timeout(Duration::from_millis(100)) {
                Ok(Event::PartDone {
                    table,
                    part,
                    rows,
                    written,
                    bytes,
                    digest,
                    started: part_start,
                    finished,
                }) => {
                    let s = &mut outcome.tables[table];
                    s.rows += rows;
                    s.written_rows += written;
                    s.bytes += bytes;
                    s.part_digests.push((part, digest));
                    let start = *first_start[table].get_or_insert(part_start);
                    let end = last_end[table].map_or(finished, |e| e.max(finished));
                    last_end[table] = Some(end);
                    s.copy_seconds = end.duration_since(start).as_secs_f64();
                    self.parts_left[table] -= 1;
                    if self.parts_left[table] == 0 {
                        self.tables_left -= 1;
                        if self.tables_left == 0 {
                            outcome.copy_seconds = started.elapsed().as_secs_f64();
                        }
                        // The copy is over: deferred post-data may start.
                        let deferred = if self.tables_left == 0 {
                            std::mem::take(&mut self.deferred)
                        } else {
                            Vec::new()
                        };
                        self.shared
                            .observer
                            .table_copied(&self.shared.tables[table], &outcome.tables[table]);
                        for j in self.table_dependents[table].clone() {
                            self.release(j, outcome);
                        }
                        for j in deferred {
                            self.dispatch(j, outcome);
                        }
                    }
                }
                Ok(Event::JobDone { job, seconds }) => {
                    self.running -= 1;
                    self.jobs_left -= 1;
                    if let Some(t) = self.jobs[job].table {
                        outcome.tables[t].post_seconds += seconds;
                    }
                    for j in self.job_dependents[job].clone() {
                        self.release(j, outcome);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if (self.tables_left > 0 || self.jobs_left > 0) && !self.shared.cancel.is_cancelled() {
            // Every worker is gone but work remains: a thread died without reporting.
            self.shared.cancel.fail(PipelineError::Internal(
                "a copy or post-data worker stopped unexpectedly".into(),
            ));
        }
        self.ready = None;
    }
}

fn post_worker(
    shared: &Shared<'_>,
    jobs: &[PostJob<'_>],
    ready: crossbeam_channel::Receiver<(usize, TableStats)>,
    events: crossbeam_channel::Sender<Event>,
) {
    while let Ok((job, stats)) = ready.recv() {
        if shared.cancel.is_cancelled() {
            return;
        }
        let started = Instant::now();
        tracing::debug!("post-data: starting {}", jobs[job].label);
        if let Err(message) = (jobs[job].run)(&stats) {
            shared.cancel.fail(PipelineError::PostData {
                job: jobs[job].label.clone(),
                message,
            });
            return;
        }
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!("post-data: {} took {seconds:.2} s", jobs[job].label);
        let _ = events.send(Event::JobDone { job, seconds });
    }
}

#[cfg(test)]
mod tests;
