//! One lane: reader → transform → writer, each on its own thread.

use std::thread::Scope;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{bounded, Receiver, Sender};
use rayon::prelude::*;

use super::files::{
    Database, FileDestination, FileSource, Input, Output, PartFile, RowSource, Stop,
};
use super::transform::TransformError;
use super::{Event, Job, PipelineError, Shared, TablePlan};
use crate::catalog::CopyFormat;
use crate::codec::decode::{CopyDecoder, RowBatch};
use crate::codec::encode;
use crate::pgerr;
use crate::sink::TableSink;
use crate::source::{self, CopyOutError, Part};

enum ToTransform {
    Start(Job),
    Batch(RowBatch),
    /// PGCOPY stream bytes that need no transform (header and trailer included).
    Raw(Bytes),
    End {
        rows: u64,
        bytes: u64,
    },
    Abort,
}

enum ToWriter {
    Start(Job, Instant),
    Data(Bytes),
    End { rows: u64, bytes: u64 },
    Abort,
}

pub(super) fn spawn<'scope, 'env>(
    scope: &'scope Scope<'scope, 'env>,
    lane: usize,
    shared: &'scope Shared<'env>,
    jobs: Receiver<Job>,
    events: Sender<Event>,
) {
    let capacity = shared.config.channel_capacity.max(1);
    let (to_transform, transform_rx) = bounded(capacity);
    let (to_writer, writer_rx) = bounded(capacity);
    let name = |stage: &str| format!("restage-{stage}-{lane}");
    let spawn_named = |stage: &str, f: Box<dyn FnOnce() + Send + 'scope>| {
        let builder = std::thread::Builder::new().name(name(stage));
        if let Err(e) = builder.spawn_scoped(scope, f) {
            shared.cancel.fail(PipelineError::Internal(format!(
                "cannot start a thread: {e}"
            )));
        }
    };
    spawn_named("read", Box::new(move || reader(shared, jobs, to_transform)));
    spawn_named(
        "transform",
        Box::new(move || transformer(shared, transform_rx, to_writer)),
    );
    spawn_named("write", Box::new(move || writer(shared, writer_rx, events)));
}

fn runtime() -> Result<tokio::runtime::Runtime, PipelineError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipelineError::Internal(format!("cannot start a runtime: {e}")))
}

/// Connects one end of a lane; a failure cancels the run and yields `None`.
async fn connect(
    shared: &Shared<'_>,
    db: Database<'_>,
    side: &'static str,
) -> Option<tokio_postgres::Client> {
    match db.conn.connect(db.application_name).await {
        Ok(c) => Some(c),
        Err(e) => {
            shared.cancel.fail(PipelineError::Connect {
                side,
                message: e.to_string(),
            });
            None
        }
    }
}

fn part_label(job: &Job) -> String {
    let d = job.part.describe();
    if d.is_empty() {
        d
    } else {
        format!(" {d}")
    }
}

fn reader(shared: &Shared<'_>, jobs: Receiver<Job>, out: Sender<ToTransform>) {
    let (db, snapshot) = match shared.ends.input {
        Input::Files(files) => return file_reader(shared, files, jobs, out),
        Input::Generated(rows) => return generated_reader(shared, rows, jobs, out),
        Input::Database { db, snapshot } => (db, snapshot),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return shared.cancel.fail(e),
    };
    rt.block_on(async {
        let config = shared.config;
        let Some(client) = connect(shared, db, "source").await else {
            return;
        };
        if let Err(e) = source::join_snapshot(&client, snapshot).await {
            return shared.cancel.fail(PipelineError::Connect {
                side: "source",
                message: format!("cannot import the snapshot: {}", pgerr::describe(&e)),
            });
        }
        while let Ok(job) = jobs.recv() {
            if shared.cancel.is_cancelled() {
                break;
            }
            let plan = &shared.tables[job.table];
            let (table_idx, part) = (job.table, job.part.clone());
            shared.observer.part_started(plan, &part);
            let label = part_label(&job);
            if out.send(ToTransform::Start(job)).is_err() {
                break;
            }
            let result = match plan.table.copy_format() {
                CopyFormat::Binary => {
                    source::copy_out(&client, &plan.table, &part, config.batch_bytes, |batch| {
                        if shared.cancel.is_cancelled() {
                            return false;
                        }
                        out.send(ToTransform::Batch(batch)).is_ok()
                    })
                    .await
                }
                // Text rows are never decoded: no rule may apply to such a table.
                CopyFormat::Text => {
                    source::copy_out_text(&client, &plan.table, &part, |chunk| {
                        if shared.cancel.is_cancelled() {
                            return false;
                        }
                        out.send(ToTransform::Raw(chunk)).is_ok()
                    })
                    .await
                }
            };
            match result {
                Ok((rows, bytes)) => {
                    if out.send(ToTransform::End { rows, bytes }).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = out.send(ToTransform::Abort);
                    if !matches!(e, CopyOutError::Cancelled) {
                        shared.cancel.fail(copy_error(
                            &shared.tables[table_idx].table.display_name(),
                            &label,
                            "source",
                            e,
                        ));
                    }
                    break;
                }
            }
        }
    });
}

/// Reads each part from its file. A table without transforms streams its bytes unchanged
/// (they already are PGCOPY, or text COPY data); one with transforms (embedded type OIDs) is
/// decoded into batches.
fn file_reader(
    shared: &Shared<'_>,
    files: &dyn FileSource,
    jobs: Receiver<Job>,
    out: Sender<ToTransform>,
) {
    let batch_bytes = shared.config.batch_bytes.max(64 << 10);
    while let Ok(job) = jobs.recv() {
        if shared.cancel.is_cancelled() {
            break;
        }
        let plan = &shared.tables[job.table];
        let part = job.part.clone();
        let label = part_label(&job);
        let fail = |message: String| PipelineError::Transform {
            table: plan.table.display_name(),
            part: label.clone(),
            message,
        };
        shared.observer.part_started(plan, &part);
        let (mut reader, expected) = match files.open(plan, &part) {
            Ok(r) => r,
            Err(e) => return shared.cancel.fail(fail(e)),
        };
        if out.send(ToTransform::Start(job)).is_err() {
            break;
        }
        let raw = plan.transforms.is_empty();
        let mut decoder = CopyDecoder::new(plan.table.columns.len());
        let mut bytes = 0u64;
        let mut buf = vec![0u8; batch_bytes];
        let result: Result<u64, Stop> = loop {
            if shared.cancel.is_cancelled() {
                break Err(Stop::Cancelled);
            }
            let n = match read_full(&mut reader, &mut buf) {
                Ok(n) => n,
                Err(e) => break Err(Stop::Failed(format!("reading the file: {e}"))),
            };
            if n == 0 {
                if raw {
                    break Ok(expected);
                }
                match decoder.finish() {
                    Ok(Some(batch)) => {
                        if out.send(ToTransform::Batch(batch)).is_err() {
                            break Err(Stop::Cancelled);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => break Err(Stop::Failed(e.to_string())),
                }
                // The writer compares what the target inserted with what the file should hold.
                break Ok(expected);
            }
            bytes += n as u64;
            if raw {
                let chunk = Bytes::copy_from_slice(&buf[..n]);
                if out.send(ToTransform::Raw(chunk)).is_err() {
                    break Err(Stop::Cancelled);
                }
                continue;
            }
            decoder.feed(&buf[..n]);
            let mut stopped = None;
            loop {
                match decoder.take_batch(shared.config.batch_bytes) {
                    Ok(Some(batch)) => {
                        if out.send(ToTransform::Batch(batch)).is_err() {
                            stopped = Some(Stop::Cancelled);
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        stopped = Some(Stop::Failed(e.to_string()));
                        break;
                    }
                }
            }
            if let Some(e) = stopped {
                break Err(e);
            }
        };
        if !end_part(shared, &out, result, bytes, fail) {
            break;
        }
    }
}

/// Generates each part's rows; they go on as batches without transforms.
fn generated_reader(
    shared: &Shared<'_>,
    rows: &dyn RowSource,
    jobs: Receiver<Job>,
    out: Sender<ToTransform>,
) {
    while let Ok(job) = jobs.recv() {
        if shared.cancel.is_cancelled() {
            break;
        }
        let plan = &shared.tables[job.table];
        let part = job.part.clone();
        let label = part_label(&job);
        shared.observer.part_started(plan, &part);
        if out.send(ToTransform::Start(job)).is_err() {
            break;
        }
        let mut bytes = 0u64;
        let result = rows.produce(plan, &part, shared.config.batch_bytes, &mut |batch| {
            bytes += batch.data.len() as u64;
            !shared.cancel.is_cancelled() && out.send(ToTransform::Batch(batch)).is_ok()
        });
        let fail = |message| PipelineError::Transform {
            table: plan.table.display_name(),
            part: label,
            message,
        };
        if !end_part(shared, &out, result, bytes, fail) {
            break;
        }
    }
}

/// Ends a part a reader produced: its row count goes on, or the part is aborted and the run
/// cancelled (unless it stopped because the run already was). False when the lane must stop.
fn end_part(
    shared: &Shared<'_>,
    out: &Sender<ToTransform>,
    result: Result<u64, Stop>,
    bytes: u64,
    fail: impl FnOnce(String) -> PipelineError,
) -> bool {
    match result {
        Ok(rows) => out.send(ToTransform::End { rows, bytes }).is_ok(),
        Err(stop) => {
            let _ = out.send(ToTransform::Abort);
            if let Stop::Failed(message) = stop {
                shared.cancel.fail(fail(message));
            }
            false
        }
    }
}

/// Fills `buf` as far as the reader allows; 0 only at the end of the stream.
fn read_full(reader: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn copy_error(table: &str, part: &str, side: &'static str, e: CopyOutError) -> PipelineError {
    let (message, sqlstate) = match &e {
        CopyOutError::Postgres(pg) => (pgerr::describe(pg), pgerr::sqlstate(pg)),
        other => (other.to_string(), None),
    };
    PipelineError::Copy {
        table: table.to_string(),
        part: part.to_string(),
        side,
        message,
        sqlstate,
    }
}

fn transformer(shared: &Shared<'_>, input: Receiver<ToTransform>, out: Sender<ToWriter>) {
    let mut current: Option<(usize, String, Part)> = None;
    let mut header_sent = false;
    // The part streams as raw PGCOPY bytes: header and trailer are already in them.
    let mut raw = false;
    for msg in input {
        let forward = match msg {
            ToTransform::Start(job) => {
                current = Some((job.table, part_label(&job), job.part.clone()));
                header_sent = false;
                // Text data is raw from its first byte, even when it has none (no rows).
                raw = shared.tables[job.table].table.copy_format() == CopyFormat::Text;
                ToWriter::Start(job, Instant::now())
            }
            ToTransform::Raw(data) => {
                let Some((table, _, part)) = &current else {
                    continue;
                };
                raw = true;
                let plan = &shared.tables[*table];
                shared
                    .observer
                    .rows_copied(plan, part, 0, data.len() as u64);
                ToWriter::Data(data)
            }
            ToTransform::Batch(batch) => {
                let Some((table, label, part)) = &current else {
                    continue;
                };
                let plan = &shared.tables[*table];
                if !header_sent {
                    let mut header = BytesMut::with_capacity(32);
                    encode::write_header(&mut header);
                    header_sent = true;
                    if out.send(ToWriter::Data(header.freeze())).is_err() {
                        return;
                    }
                }
                shared
                    .observer
                    .rows_copied(plan, part, batch.rows as u64, batch.data.len() as u64);
                if plan.transforms.is_empty() {
                    // Nothing to replace: the decoded tuples go out as they came in.
                    ToWriter::Data(batch.data)
                } else {
                    match transform_batch(plan, &batch) {
                        Ok(mut chunks) => {
                            let last = chunks.pop().unwrap_or_default();
                            if chunks
                                .into_iter()
                                .any(|c| out.send(ToWriter::Data(c)).is_err())
                            {
                                return;
                            }
                            ToWriter::Data(last)
                        }
                        Err(e) => {
                            shared.cancel.fail(PipelineError::Transform {
                                table: plan.table.display_name(),
                                part: label.clone(),
                                message: e.to_string(),
                            });
                            let _ = out.send(ToWriter::Abort);
                            current = None;
                            continue;
                        }
                    }
                }
            }
            ToTransform::End { rows, bytes } => {
                if current.take().is_none() {
                    continue;
                }
                if raw {
                    if out.send(ToWriter::End { rows, bytes }).is_err() {
                        return;
                    }
                    continue;
                }
                let mut buf = BytesMut::with_capacity(32);
                if !header_sent {
                    encode::write_header(&mut buf);
                }
                encode::write_trailer(&mut buf);
                if out.send(ToWriter::Data(buf.freeze())).is_err() {
                    return;
                }
                ToWriter::End { rows, bytes }
            }
            ToTransform::Abort => {
                current = None;
                ToWriter::Abort
            }
        };
        if out.send(forward).is_err() {
            return;
        }
    }
}

/// Rows per rayon task: large enough that task overhead vanishes, small enough to balance.
const ROWS_PER_TASK: usize = 2048;

/// Applies the table's transforms to a batch and encodes it, in row ranges across the rayon
/// pool; each range comes back encoded on its own, in order, so nothing is joined and copied
/// again before it goes to the writer.
fn transform_batch(plan: &TablePlan, batch: &RowBatch) -> Result<Vec<Bytes>, TransformError> {
    let ranges: Vec<std::ops::Range<usize>> = (0..batch.rows)
        .step_by(ROWS_PER_TASK)
        .map(|start| start..(start + ROWS_PER_TASK).min(batch.rows))
        .collect();
    ranges
        .into_par_iter()
        .map(|rows| {
            let replaced = plan
                .transforms
                .iter()
                .map(|t| t.apply(batch, rows.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut buf = BytesMut::new();
            encode::write_rows(batch, rows, &replaced, &mut buf);
            Ok(buf.freeze())
        })
        .collect()
}

/// A part's rows are all in the target (or its file): tell the observer and the coordinator.
fn part_done(shared: &Shared<'_>, events: &Sender<Event>, job: &Job, done: PartWritten) {
    shared
        .observer
        .part_finished(&shared.tables[job.table], &job.part);
    let _ = events.send(Event::PartDone {
        table: job.table,
        part: job.part.index,
        rows: done.rows,
        written: done.written,
        bytes: done.bytes,
        digest: done.digest,
        started: done.started,
        finished: Instant::now(),
    });
}

/// What the writer knows about a part once it is in.
struct PartWritten {
    /// Rows read from the source end.
    rows: u64,
    /// Rows the target end acknowledged.
    written: u64,
    bytes: u64,
    /// blake3 of the stream the target end received.
    digest: [u8; 32],
    started: Instant,
}

fn writer(shared: &Shared<'_>, input: Receiver<ToWriter>, events: Sender<Event>) {
    let db = match shared.ends.output {
        Output::Files(files) => return file_writer(shared, files, input, events),
        Output::Database(db) => db,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return shared.cancel.fail(e),
    };
    rt.block_on(async {
        let Some(client) = connect(shared, db, "target").await else {
            return;
        };
        // Durability comes from the final verification, not from each commit's fsync.
        let _ = client.batch_execute("SET synchronous_commit = off").await;
        let mut current: Option<(Job, TableSink<'_>, Instant, blake3::Hasher)> = None;
        for msg in input.iter() {
            match msg {
                ToWriter::Start(job, started) => {
                    let plan = &shared.tables[job.table];
                    // Generated rows join the target's own: never truncate the table first.
                    let whole =
                        job.part.is_whole() && !matches!(shared.ends.input, Input::Generated(_));
                    match TableSink::begin(&client, &plan.table, whole).await {
                        Ok(sink) => current = Some((job, sink, started, blake3::Hasher::new())),
                        Err(e) => return fail_target(shared, &job, e),
                    }
                }
                ToWriter::Data(data) => {
                    if let Some((job, sink, _, hasher)) = current.as_mut() {
                        hasher.update(&data);
                        if let Err(e) = sink.send(data).await {
                            let job = Job {
                                table: job.table,
                                part: job.part.clone(),
                            };
                            return fail_target(shared, &job, e);
                        }
                    }
                }
                ToWriter::End { rows, bytes } => {
                    let Some((job, sink, started, hasher)) = current.take() else {
                        continue;
                    };
                    let written = match sink.finish().await {
                        Ok(n) => n,
                        Err(e) => return fail_target(shared, &job, e),
                    };
                    if written != rows {
                        return shared.cancel.fail(PipelineError::RowMismatch {
                            table: shared.tables[job.table].table.display_name(),
                            part: part_label(&job),
                            read: rows,
                            written,
                        });
                    }
                    let done = PartWritten {
                        rows,
                        written,
                        bytes,
                        digest: *hasher.finalize().as_bytes(),
                        started,
                    };
                    part_done(shared, &events, &job, done);
                }
                ToWriter::Abort => {
                    if let Some((_, sink, _, _)) = current.take() {
                        sink.abort().await;
                    }
                }
            }
        }
        if let Some((_, sink, _, _)) = current.take() {
            sink.abort().await;
        }
    });
}

/// Writes each part to its file; a part is kept only once its last byte and row count are in.
fn file_writer(
    shared: &Shared<'_>,
    files: &dyn FileDestination,
    input: Receiver<ToWriter>,
    events: Sender<Event>,
) {
    let mut current: Option<(Job, Box<dyn PartFile + '_>, Instant, blake3::Hasher)> = None;
    let fail = |job: &Job, message: String| {
        shared.cancel.fail(PipelineError::Copy {
            table: shared.tables[job.table].table.display_name(),
            part: part_label(job),
            side: "snapshot",
            message,
            sqlstate: None,
        })
    };
    for msg in input.iter() {
        match msg {
            ToWriter::Start(job, started) => {
                match files.create(&shared.tables[job.table], &job.part) {
                    Ok(file) => current = Some((job, file, started, blake3::Hasher::new())),
                    Err(e) => return fail(&job, e),
                }
            }
            ToWriter::Data(data) => {
                if let Some((job, file, _, hasher)) = current.as_mut() {
                    hasher.update(&data);
                    if let Err(e) = file.write(&data) {
                        return fail(job, e);
                    }
                }
            }
            ToWriter::End { rows, bytes } => {
                let Some((job, file, started, hasher)) = current.take() else {
                    continue;
                };
                if let Err(e) = file.finish(rows) {
                    return fail(&job, e);
                }
                let done = PartWritten {
                    rows,
                    written: rows,
                    bytes,
                    digest: *hasher.finalize().as_bytes(),
                    started,
                };
                part_done(shared, &events, &job, done);
            }
            ToWriter::Abort => current = None,
        }
    }
}

fn fail_target(shared: &Shared<'_>, job: &Job, e: tokio_postgres::Error) {
    shared.cancel.fail(PipelineError::Copy {
        table: shared.tables[job.table].table.display_name(),
        part: part_label(job),
        side: "target",
        message: pgerr::describe(&e),
        sqlstate: pgerr::sqlstate(&e),
    });
}
