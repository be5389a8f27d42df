//! PGCOPY codec throughput on a stream captured from PostgreSQL (`fixtures/pgcopy/mixed.bin`,
//! 20k rows of mixed types; see the README beside it).
//!
//! Run with `cargo bench --bench codec`. Figures are MB/s of PGCOPY stream (the fixture's rows
//! repeated 10 times, about 29 MB); `baseline/memcpy` copies the same bytes once, as the
//! physical limit to compare against on the same machine.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use restage::codec::{
    write_batch, write_header, write_trailer, CopyDecoder, ReplacedColumn, RowBatch,
    HEADER_FIXED_LEN,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pgcopy/mixed.bin");
const NCOLS: usize = 10;
/// The pipeline's batch size (DESIGN: batches of 1–4 MiB).
const BATCH_BYTES: usize = 1 << 20;
/// `email` in the fixture: the kind of column a rule replaces.
const EMAIL_COL: usize = 5;

fn load() -> Vec<u8> {
    std::fs::read(FIXTURE).unwrap_or_else(|e| panic!("reading {FIXTURE}: {e}"))
}

/// Decodes the whole stream, feeding `chunks` and taking 1 MiB batches as the pipeline does.
fn decode<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<RowBatch> {
    let mut dec = CopyDecoder::new(NCOLS);
    let mut batches = Vec::new();
    for chunk in chunks {
        dec.feed(chunk);
        while let Some(b) = dec.take_batch(BATCH_BYTES).expect("fixture decodes") {
            batches.push(b);
        }
    }
    batches.extend(dec.finish().expect("fixture ends cleanly"));
    batches
}

/// Decodes the whole stream and drops each batch as soon as it is taken, as when the
/// pipeline's consumer keeps up: the decoder can then reuse its buffer. Returns the row count.
fn decode_and_drop<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> usize {
    let mut dec = CopyDecoder::new(NCOLS);
    let mut rows = 0;
    for chunk in chunks {
        dec.feed(chunk);
        while let Some(b) = dec.take_batch(BATCH_BYTES).expect("fixture decodes") {
            rows += black_box(b).rows;
        }
    }
    rows + dec
        .finish()
        .expect("fixture ends cleanly")
        .map_or(0, |b| b.rows)
}

/// The stream cut as PostgreSQL sends it: the header, one CopyData message per row, then
/// the trailer.
fn wire_chunks(stream: &[u8]) -> Vec<&[u8]> {
    let mut chunks = vec![&stream[..HEADER_FIXED_LEN]];
    let mut base = HEADER_FIXED_LEN;
    for b in decode([stream]) {
        for row in 0..b.rows {
            let (start, end) = (b.row_starts[row] as usize, b.row_starts[row + 1] as usize);
            chunks.push(&stream[base + start..base + end]);
        }
        base += b.byte_len();
    }
    chunks.push(&stream[base..]);
    chunks
}

/// A replacement for the email column of `batch`: same lengths, different bytes, NULLs kept.
fn replace_email(batch: &RowBatch) -> ReplacedColumn {
    let mut r = ReplacedColumn::with_capacity(EMAIL_COL, batch.rows, batch.byte_len() / 8);
    let mut scratch = Vec::new();
    for row in 0..batch.rows {
        match batch.field(row, EMAIL_COL) {
            None => r.push(None).expect("NULL fits"),
            Some(v) => {
                scratch.clear();
                scratch.extend(v.iter().rev());
                r.push(Some(&scratch))
                    .expect("same length as a PostgreSQL value");
            }
        }
    }
    r
}

/// Encodes every batch into one reused output buffer, as a sink that writes each encoded
/// batch out before encoding the next would; a fresh buffer per batch would mostly measure
/// the allocator's page faults. Returns the bytes written, header and trailer included.
fn encode(batches: &[RowBatch], replaced: &[Vec<ReplacedColumn>], out: &mut BytesMut) -> usize {
    out.clear();
    write_header(out);
    let mut written = out.len();
    for (i, b) in batches.iter().enumerate() {
        out.clear();
        write_batch(b, replaced.get(i).map_or(&[][..], |r| &r[..]), out);
        written += black_box(&out[..]).len();
    }
    out.clear();
    write_trailer(out);
    written + out.len()
}

/// The fixture's tuples repeated `times` between one header and one trailer, so that a run
/// measures the steady state of a long table rather than the start-up of a short one.
fn repeated(fixture: &[u8], times: usize) -> Vec<u8> {
    let tuples = &fixture[HEADER_FIXED_LEN..fixture.len() - 2];
    let mut out = fixture[..HEADER_FIXED_LEN].to_vec();
    for _ in 0..times {
        out.extend_from_slice(tuples);
    }
    out.extend_from_slice(&fixture[fixture.len() - 2..]);
    out
}

fn benches(c: &mut Criterion) {
    let stream = repeated(&load(), 10);
    let len = stream.len();
    let wire = wire_chunks(&stream);
    let batches = decode([&stream[..]]);
    let replaced: Vec<Vec<ReplacedColumn>> =
        batches.iter().map(|b| vec![replace_email(b)]).collect();

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(len as u64));

    g.bench_function("baseline/memcpy", |b| {
        b.iter(|| black_box(stream.as_slice()).to_vec())
    });
    g.bench_function("decode/per_row_chunks", |b| {
        b.iter(|| decode_and_drop(wire.iter().copied()))
    });
    g.bench_function("decode/64k_chunks", |b| {
        b.iter(|| decode_and_drop(stream.chunks(64 * 1024)))
    });
    // Every batch stays alive, so each one lands in freshly allocated (page-faulting) memory:
    // the worst case, when downstream holds many batches in flight.
    g.bench_function("decode/per_row_chunks_retained", |b| {
        b.iter(|| decode(wire.iter().copied()).len())
    });
    let mut out = BytesMut::with_capacity(2 * BATCH_BYTES);
    assert_eq!(encode(&batches, &[], &mut out), len);
    assert_eq!(encode(&batches, &replaced, &mut out), len);
    g.bench_function("encode/verbatim", |b| {
        b.iter(|| encode(&batches, &[], &mut out))
    });
    g.bench_function("encode/replace_one_column", |b| {
        b.iter(|| encode(&batches, &replaced, &mut out))
    });
    g.finish();
}

criterion_group! {
    name = codec;
    // Short runs: the machine is shared, and the figures are stable well before this.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(codec);
