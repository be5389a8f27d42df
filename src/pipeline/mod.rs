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
mod lane;
mod transform;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, RecvTimeoutError};

pub use cancel::Cancel;
pub use transform::{ColumnTransform, OidRemap, TransformError};

use crate::catalog::Table;
use crate::conn::ConnSpec;
use crate::source::Part;

/// One table to copy, with its parts and the per-column transforms applied to its batches.
pub struct TablePlan {
    pub table: Table,
    pub parts: Vec<Part>,
    pub transforms: Vec<Arc<dyn ColumnTransform>>,
}

pub struct Config {
    pub source: ConnSpec,
    pub target: ConnSpec,
    /// Exported snapshot every reader imports.
    pub snapshot: String,
    pub lanes: usize,
    pub post_table_workers: usize,
    /// Decoded batch size (1–4 MiB keeps memory flat and per-batch overhead negligible).
    pub batch_bytes: usize,
    /// Batches in flight between two stages of one lane.
    pub channel_capacity: usize,
    pub application_name: String,
}

/// Progress callbacks; implemented by `report`. Called from lane threads.
pub trait Observer: Sync {
    fn part_started(&self, _table: &TablePlan, _part: &Part) {}
    fn rows_copied(&self, _table: &TablePlan, _rows: u64, _bytes: u64) {}
    fn table_copied(&self, _table: &TablePlan, _stats: &TableStats) {}
    fn table_finished(&self, _table: &TablePlan, _stats: &TableStats) {}
}

/// Runs after a table's rows are all in (index builds, verification); on worker threads.
pub type PostTable<'a> = dyn Fn(&Table, &TableStats) -> Result<(), String> + Sync + 'a;

#[derive(Debug, Clone, Default)]
pub struct TableStats {
    pub rows: u64,
    /// PGCOPY bytes read from the source.
    pub bytes: u64,
    /// From the first part's start to the last part's end.
    pub copy_seconds: f64,
    pub post_seconds: f64,
    pub parts: usize,
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
    #[error("{table}: {message}")]
    PostTable { table: String, message: String },
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
            | PipelineError::PostTable { table, .. } => Some(table),
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
        rows: u64,
        bytes: u64,
        started: Instant,
        finished: Instant,
    },
    PostDone {
        table: usize,
        seconds: f64,
    },
}

pub(crate) struct Shared<'a> {
    pub config: &'a Config,
    pub tables: &'a [TablePlan],
    pub observer: &'a dyn Observer,
    pub cancel: Cancel,
}

/// Copies every table of `tables`; returns per-table statistics in the same order.
pub fn run(
    config: &Config,
    tables: &[TablePlan],
    post_table: &PostTable<'_>,
    observer: &dyn Observer,
) -> Result<Vec<TableStats>, PipelineError> {
    let shared = Shared {
        config,
        tables,
        observer,
        cancel: Cancel::default(),
    };
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by(|a, b| tables[*b].table.bytes.cmp(&tables[*a].table.bytes));
    let (jobs_tx, jobs_rx) = unbounded::<Job>();
    for &t in &order {
        for part in &tables[t].parts {
            let _ = jobs_tx.send(Job {
                table: t,
                part: part.clone(),
            });
        }
    }
    drop(jobs_tx);

    let (events_tx, events_rx) = unbounded::<Event>();
    let (done_tx, done_rx) = bounded::<(usize, TableStats)>(tables.len().max(1));
    let mut stats: Vec<TableStats> = tables
        .iter()
        .map(|t| TableStats {
            parts: t.parts.len(),
            ..TableStats::default()
        })
        .collect();

    thread::scope(|scope| {
        for lane in 0..config.lanes.max(1) {
            lane::spawn(scope, lane, &shared, jobs_rx.clone(), events_tx.clone());
        }
        for _ in 0..config.post_table_workers.max(1) {
            let done_rx = done_rx.clone();
            let events_tx = events_tx.clone();
            let shared = &shared;
            scope.spawn(move || post_table_worker(shared, post_table, done_rx, events_tx));
        }
        drop(events_tx);
        drop(done_rx);
        coordinate(&shared, events_rx, done_tx, &mut stats);
    });

    match shared.cancel.take_error() {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

fn coordinate(
    shared: &Shared<'_>,
    events: crossbeam_channel::Receiver<Event>,
    done_tx: crossbeam_channel::Sender<(usize, TableStats)>,
    stats: &mut [TableStats],
) {
    let mut done_tx = Some(done_tx);
    let mut parts_left: Vec<usize> = shared.tables.iter().map(|t| t.parts.len()).collect();
    let mut first_start: Vec<Option<Instant>> = vec![None; shared.tables.len()];
    let mut last_end: Vec<Option<Instant>> = vec![None; shared.tables.len()];
    let mut post_left = shared.tables.len();
    while post_left > 0 {
        if shared.cancel.is_cancelled() {
            // Releases the post-table workers; lanes stop at their next batch.
            done_tx = None;
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::PartDone {
                table,
                rows,
                bytes,
                started,
                finished,
            }) => {
                let s = &mut stats[table];
                s.rows += rows;
                s.bytes += bytes;
                let start = *first_start[table].get_or_insert(started);
                let end = last_end[table].map_or(finished, |e| e.max(finished));
                last_end[table] = Some(end);
                s.copy_seconds = end.duration_since(start).as_secs_f64();
                parts_left[table] -= 1;
                if parts_left[table] == 0 {
                    shared.observer.table_copied(&shared.tables[table], s);
                    if let Some(tx) = &done_tx {
                        let _ = tx.send((table, s.clone()));
                    }
                }
            }
            Ok(Event::PostDone { table, seconds }) => {
                stats[table].post_seconds = seconds;
                shared
                    .observer
                    .table_finished(&shared.tables[table], &stats[table]);
                post_left -= 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

fn post_table_worker(
    shared: &Shared<'_>,
    post_table: &PostTable<'_>,
    done_rx: crossbeam_channel::Receiver<(usize, TableStats)>,
    events_tx: crossbeam_channel::Sender<Event>,
) {
    // Workers hold no lane resources, so they simply wait for finished tables.
    while let Ok((table, stats)) = done_rx.recv() {
        if shared.cancel.is_cancelled() {
            return;
        }
        let plan = &shared.tables[table];
        let started = Instant::now();
        if let Err(message) = post_table(&plan.table, &stats) {
            shared.cancel.fail(PipelineError::PostTable {
                table: plan.table.display_name(),
                message,
            });
            return;
        }
        let _ = events_tx.send(Event::PostDone {
            table,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
}
