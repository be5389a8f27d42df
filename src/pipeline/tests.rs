//! The coordinator without a database: in-memory file ends on both sides, so that the order of
//! post-data jobs, cancellation, a failing lane and back-pressure can be observed directly.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::catalog::{Column, Table};

const CHUNK: usize = 64 << 10;

fn table(name: &str, bytes: u64) -> Table {
    Table {
        oid: 0,
        schema: "public".into(),
        name: name.into(),
        columns: vec![Column {
            name: "c".into(),
            type_oid: 25,
            type_name: "text".into(),
            not_null: false,
            embeds_user_oids: false,
            needs_text: false,
            typmod: -1,
            unique: false,
        }],
        bytes,
        pages: 0,
        estimated_rows: 0,
        unlogged: false,
        references: Vec::new(),
        partition_root: None,
        primary_key: Vec::new(),
    }
}

fn plan(name: &str, parts: usize, bytes: u64) -> TablePlan {
    TablePlan {
        table: table(name, bytes),
        parts: (1..=parts)
            .map(|index| Part {
                index,
                count: parts,
                first_block: None,
                end_block: None,
                rows: None,
            })
            .collect(),
        transforms: Vec::new(),
    }
}

fn config(lanes: usize) -> Config {
    Config {
        lanes,
        post_table_workers: 2,
        post_data_during_copy: true,
        batch_bytes: CHUNK,
        channel_capacity: 1,
    }
}

/// Each part's stream is `bytes` bytes of its table's first letter (`quick` parts: one
/// chunk); it "holds" 10 rows.
struct MemorySource {
    bytes: usize,
    /// Table whose open fails.
    broken: Option<String>,
    /// Bytes handed to readers so far.
    read: Arc<AtomicU64>,
}

struct CountingReader {
    left: usize,
    fill: u8,
    read: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left);
        buf[..n].fill(self.fill);
        self.left -= n;
        self.read.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

impl FileSource for MemorySource {
    fn open(&self, table: &TablePlan, _part: &Part) -> Result<(Box<dyn Read + Send>, u64), String> {
        if self.broken.as_deref() == Some(table.table.name.as_str()) {
            return Err("the file is gone".into());
        }
        let reader = CountingReader {
            left: if table.table.name == "quick" {
                CHUNK
            } else {
                self.bytes
            },
            fill: table.table.name.as_bytes()[0],
            read: self.read.clone(),
        };
        Ok((Box::new(reader), 10))
    }
}

/// (table name, part index) → (the part's bytes, its rows).
type Parts = HashMap<(String, usize), (Vec<u8>, u64)>;

/// Collects each finished part's bytes; optionally slow, to hold the lanes back.
#[derive(Default)]
struct MemoryDestination {
    done: Mutex<Parts>,
    written: Arc<AtomicU64>,
    delay: Duration,
}

struct MemoryPart<'a> {
    key: (String, usize),
    data: Vec<u8>,
    dest: &'a MemoryDestination,
}

impl PartFile for MemoryPart<'_> {
    fn write(&mut self, data: &[u8]) -> Result<(), String> {
        std::thread::sleep(self.dest.delay);
        self.data.extend_from_slice(data);
        self.dest
            .written
            .fetch_add(data.len() as u64, Ordering::SeqCst);
        Ok(())
    }
    fn finish(self: Box<Self>, rows: u64) -> Result<(), String> {
        if let Ok(mut done) = self.dest.done.lock() {
            done.insert(self.key, (self.data, rows));
        }
        Ok(())
    }
}

impl FileDestination for MemoryDestination {
    fn create<'s>(
        &'s self,
        table: &TablePlan,
        part: &Part,
    ) -> Result<Box<dyn PartFile + 's>, String> {
        Ok(Box::new(MemoryPart {
            key: (table.table.name.clone(), part.index),
            data: Vec::new(),
            dest: self,
        }))
    }
}

fn source(bytes: usize) -> MemorySource {
    MemorySource {
        bytes,
        broken: None,
        read: Arc::new(AtomicU64::new(0)),
    }
}

fn ends<'a>(src: &'a MemorySource, dst: &'a MemoryDestination) -> Ends<'a> {
    Ends {
        input: Input::Files(src),
        output: Output::Files(dst),
    }
}

struct Silent;
impl Observer for Silent {}

#[test]
fn every_part_arrives_and_post_jobs_wait_for_their_tables() {
    let tables = [plan("alpha", 3, 300), plan("beta", 1, 100)];
    let src = source(100_000);
    let dst = MemoryDestination::default();
    let alpha_done = AtomicBool::new(false);
    let order = Mutex::new(Vec::new());
    let jobs = [
        PostJob {
            label: "alpha index".into(),
            table: Some(0),
            after_tables: vec![0],
            after_jobs: Vec::new(),
            run: Box::new(|stats: &TableStats| {
                alpha_done.store(stats.rows == 30, Ordering::SeqCst);
                order.lock().map(|mut o| o.push("index")).ok();
                Ok(())
            }),
        },
        PostJob {
            label: "foreign key".into(),
            table: None,
            after_tables: vec![0, 1],
            after_jobs: vec![0],
            run: Box::new(|_: &TableStats| {
                order.lock().map(|mut o| o.push("fk")).ok();
                Ok(())
            }),
        },
    ];
    let outcome = run(&config(2), &tables, &jobs, &Silent, ends(&src, &dst)).expect("run");
    assert!(
        alpha_done.load(Ordering::SeqCst),
        "the index saw all of alpha's rows"
    );
    assert_eq!(*order.lock().expect("order"), ["index", "fk"]);
    assert_eq!(outcome.tables[0].rows, 30);
    assert_eq!(outcome.tables[0].written_rows, 30);
    assert_eq!(outcome.tables[1].rows, 10);
    let done = dst.done.lock().expect("done");
    assert_eq!(done.len(), 4);
    for ((name, _), (data, rows)) in done.iter() {
        assert_eq!(data.len(), 100_000);
        assert!(data.iter().all(|b| *b == name.as_bytes()[0]));
        assert_eq!(*rows, 10);
    }
    // The checksum is over the parts' streams in part order: the same data gives the same one.
    let again = MemoryDestination::default();
    let second = run(&config(1), &tables, &[], &Silent, ends(&src, &again)).expect("run");
    assert!(outcome.tables[0].checksum().is_some());
    assert_eq!(outcome.tables[0].checksum(), second.tables[0].checksum());
    assert_ne!(outcome.tables[0].checksum(), outcome.tables[1].checksum());
}

#[test]
fn a_failing_lane_fails_the_run_naming_its_table_and_skips_dependent_jobs() {
    let tables = [plan("alpha", 1, 300), plan("beta", 2, 100)];
    let mut src = source(10_000);
    src.broken = Some("alpha".into());
    let dst = MemoryDestination::default();
    let ran = AtomicBool::new(false);
    let jobs = [PostJob {
        label: "alpha index".into(),
        table: Some(0),
        after_tables: vec![0],
        after_jobs: Vec::new(),
        run: Box::new(|_: &TableStats| {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        }),
    }];
    let err =
        run(&config(2), &tables, &jobs, &Silent, ends(&src, &dst)).expect_err("the run fails");
    assert_eq!(err.table(), Some("public.alpha"), "{err}");
    assert!(err.to_string().contains("the file is gone"), "{err}");
    assert!(
        !ran.load(Ordering::SeqCst),
        "a job whose table failed never runs"
    );
}

#[test]
fn a_failing_post_job_cancels_the_copy_of_the_other_tables() {
    // `quick` goes first (largest first by its size on disk) and is copied in one chunk; its
    // post job fails while the one lane copies `big`.
    let tables = [plan("quick", 1, 1000), plan("big", 4, 10)];
    let src = source(40 * CHUNK);
    let dst = MemoryDestination {
        delay: Duration::from_millis(2),
        ..MemoryDestination::default()
    };
    let jobs = [PostJob {
        label: "quick index".into(),
        table: Some(0),
        after_tables: vec![0],
        after_jobs: Vec::new(),
        run: Box::new(|_: &TableStats| Err("index build failed".into())),
    }];
    let started = Instant::now();
    let err =
        run(&config(1), &tables, &jobs, &Silent, ends(&src, &dst)).expect_err("the run fails");
    assert!(
        matches!(&err, PipelineError::PostData { job, .. } if job == "quick index"),
        "{err}"
    );
    // Copying `big` whole takes 4 parts × 40 chunks × 2 ms ≈ 320 ms at least; cancelled, the
    // lane stops at its next batch: `quick` and at most the part under way are in.
    let finished = dst.done.lock().map(|d| d.len()).unwrap_or(0);
    assert!(finished <= 2, "{finished} parts finished after the cancel");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_slow_writer_holds_the_reader_back() {
    let tables = [plan("alpha", 1, 1)];
    let src = source(64 * CHUNK);
    let dst = MemoryDestination {
        delay: Duration::from_millis(1),
        ..MemoryDestination::default()
    };
    let read = src.read.clone();
    let written = dst.written.clone();
    let widest = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (read, written, widest, stop) =
            (read.clone(), written.clone(), widest.clone(), stop.clone());
        std::thread::spawn(move || {
            while stop.load(Ordering::SeqCst) == 0 {
                let gap = read
                    .load(Ordering::SeqCst)
                    .saturating_sub(written.load(Ordering::SeqCst));
                widest.fetch_max(gap, Ordering::SeqCst);
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    run(&config(1), &tables, &[], &Silent, ends(&src, &dst)).expect("run");
    stop.store(1, Ordering::SeqCst);
    let _ = watcher.join();
    assert_eq!(written.load(Ordering::SeqCst), 64 * CHUNK as u64);
    // With one batch per channel, at most: one being read, one queued for the transformer,
    // one in it, one queued for the writer, one being written.
    let bound = 6 * CHUNK as u64;
    let gap = widest.load(Ordering::SeqCst);
    assert!(
        gap <= bound,
        "the reader ran {gap} bytes ahead (bound {bound})"
    );
}

/// Generates no rows: `failing` fails with an empty message, every other table says it was
/// stopped (as after a cancel).
struct StoppingRows {
    failing: String,
}

impl RowSource for StoppingRows {
    fn produce(
        &self,
        table: &TablePlan,
        _part: &Part,
        _batch_bytes: usize,
        _emit: &mut dyn FnMut(crate::codec::decode::RowBatch) -> bool,
    ) -> Result<u64, Stop> {
        if table.table.name == self.failing {
            return Err(Stop::Failed(String::new()));
        }
        Err(Stop::Cancelled)
    }
}

#[test]
fn a_failure_without_a_message_is_not_taken_for_a_cancelled_lane() {
    let tables = [plan("alpha", 1, 300), plan("beta", 1, 100)];
    let rows = StoppingRows {
        failing: "alpha".into(),
    };
    let dst = MemoryDestination::default();
    let ends = Ends {
        input: Input::Generated(&rows),
        output: Output::Files(&dst),
    };
    let err = run(&config(1), &tables, &[], &Silent, ends).expect_err("the run fails");
    // The lane that failed is named; the one that only stopped reports nothing of its own.
    assert_eq!(err.table(), Some("public.alpha"), "{err}");
}
