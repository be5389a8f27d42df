//! Incremental PGCOPY decoder: turns a stream of CopyData chunks into [`RowBatch`]es.
//!
//! Tuples are scanned once, as they complete, and recorded as byte ranges; a batch is the
//! scanned prefix of the buffer split off and frozen, so field bytes are never copied.

use std::mem;

use bytes::{Buf, Bytes, BytesMut};

use super::{
    read_i16, read_i32, CodecError, FLAGS_CRITICAL, FLAG_OIDS, HEADER_FIXED_LEN, SIGNATURE,
};

/// Upper bound on a batch's size. Offsets inside a batch are `u32`, so a batch must stay below
/// 4 GiB; 1.5 GiB still holds any single row PostgreSQL can send (its COPY row buffer is
/// limited to 1 GB) while leaving a wide margin.
pub const MAX_BATCH_BYTES: usize = 3 << 29;

/// Initial buffer capacity: large enough for typical rows without early regrowth.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Upper bound on how much buffer is reserved ahead based on the previous batch's size, so one
/// unusually large batch does not make every later allocation huge.
const MAX_RESERVE_HINT: usize = 16 * 1024 * 1024;

/// Buffer to reserve for a batch of about `bytes`: a little more, since a batch overshoots
/// its threshold by up to one tuple, within sane bounds.
fn batch_reserve(bytes: usize) -> usize {
    bytes
        .saturating_add(bytes / 8)
        .clamp(INITIAL_CAPACITY, MAX_RESERVE_HINT)
}

/// One field of a tuple, as a byte range of [`RowBatch::data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Offset of the value bytes (just after the length word).
    pub start: u32,
    /// Length of the value in bytes, or -1 for NULL.
    pub len: i32,
}

impl Field {
    /// A NULL field whose (empty) value would start at `start`.
    pub const fn null(start: u32) -> Self {
        Field { start, len: -1 }
    }

    /// Whether the field is NULL.
    pub const fn is_null(self) -> bool {
        self.len < 0
    }

    /// Offset one past the last value byte (equal to `start` for NULL).
    #[inline]
    pub const fn end(self) -> usize {
        if self.len < 0 {
            self.start as usize
        } else {
            self.start as usize + self.len as usize
        }
    }
}

/// A run of complete tuples, without the stream header or trailer.
#[derive(Debug, Clone)]
pub struct RowBatch {
    /// The tuples' bytes, exactly as they appeared in the stream.
    pub data: Bytes,
    /// Fields per tuple.
    pub ncols: usize,
    /// Number of tuples.
    pub rows: usize,
    /// Offset in `data` of each tuple's int16 field count, plus a final entry `data.len()`.
    pub row_starts: Vec<u32>,
    /// `rows * ncols` fields, row-major.
    pub fields: Vec<Field>,
}

impl RowBatch {
    /// The value of a field, `None` for NULL. Panics if `row` or `col` is out of range.
    #[inline]
    pub fn field(&self, row: usize, col: usize) -> Option<&[u8]> {
        let f = self.field_info(row, col);
        if f.is_null() {
            None
        } else {
            Some(&self.data[f.start as usize..f.end()])
        }
    }

    /// The position of a field in `data`. Panics if `row` or `col` is out of range.
    #[inline]
    pub fn field_info(&self, row: usize, col: usize) -> Field {
        assert!(
            col < self.ncols,
            "column {col} out of range ({} columns)",
            self.ncols
        );
        self.fields[row * self.ncols + col]
    }

    /// The fields of one row. Panics if `row` is out of range.
    #[inline]
    pub fn row_fields(&self, row: usize) -> &[Field] {
        &self.fields[row * self.ncols..(row + 1) * self.ncols]
    }

    /// The raw bytes of one tuple, field count included. Panics if `row` is out of range.
    pub fn tuple(&self, row: usize) -> &[u8] {
        &self.data[self.row_starts[row] as usize..self.row_starts[row + 1] as usize]
    }

    /// Size of the tuples in bytes (what this batch adds to an output stream verbatim).
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }

    /// Whether the batch holds no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// Where the decoder is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Still reading the header.
    Header,
    /// Reading tuples.
    Tuples,
    /// The trailer was seen at `parsed`; nothing may follow it.
    Trailer,
}

/// Outcome of scanning one tuple.
enum TupleScan {
    /// The tuple ends at this buffer offset.
    Complete(usize),
    /// The tuple cannot complete before the buffer holds at least this many bytes.
    Incomplete(usize),
    /// The int16 -1 trailer is at the scan position.
    Trailer,
}

/// A structural error in one tuple, before the decoder adds stream context.
enum BadTuple {
    Count(i16),
    Length { col: usize, at: usize, len: i32 },
}

/// Scans one tuple starting at `start`, appending its fields to `fields`. On anything but a
/// complete tuple, `fields` is left as it was. This is the hot loop: one bounds-checked read
/// per field and no allocation beyond `fields` growing.
#[inline]
fn scan_tuple(
    buf: &[u8],
    start: usize,
    ncols: usize,
    fields: &mut Vec<Field>,
) -> Result<TupleScan, BadTuple> {
    let Some(count) = read_i16(buf, start) else {
        return Ok(TupleScan::Incomplete(start + 2));
    };
    if count == -1 {
        return Ok(TupleScan::Trailer);
    }
    if usize::try_from(count).ok() != Some(ncols) {
        return Err(BadTuple::Count(count));
    }
    let mark = fields.len();
    let mut pos = start + 2;
    for col in 0..ncols {
        let Some(len) = read_i32(buf, pos) else {
            fields.truncate(mark);
            return Ok(TupleScan::Incomplete(pos + 4));
        };
        let value_start = pos + 4;
        pos = match len {
            0.. => value_start.saturating_add(len as usize),
            -1 => value_start,
            _ => {
                fields.truncate(mark);
                return Err(BadTuple::Length { col, at: pos, len });
            }
        };
        // Truncation is harmless here: a tuple reaching past u32 range exceeds the batch
        // limit and is rejected by the caller before any of its fields are used.
        fields.push(Field {
            start: value_start as u32,
            len,
        });
    }
    if pos > buf.len() {
        fields.truncate(mark);
        return Ok(TupleScan::Incomplete(pos));
    }
    Ok(TupleScan::Complete(pos))
}

/// Incremental PGCOPY decoder.
///
/// Feed it the CopyData payloads in order, call [`take_batch`](Self::take_batch) as often as
/// convenient (typically after each feed), and [`finish`](Self::finish) at the end of the
/// stream. A tuple is scanned once, when it completes; partial tuples wait for more data.
#[derive(Debug)]
pub struct CopyDecoder {
    ncols: usize,
    state: State,
    /// Unconsumed stream bytes; `buf[..parsed]` are complete, scanned tuples.
    buf: BytesMut,
    parsed: usize,
    /// The next tuple cannot complete before `buf.len()` reaches this; avoids rescanning a
    /// partial tuple on every small feed.
    need: usize,
    /// Set when the next complete tuple would push the pending batch past `max_batch`.
    full: bool,
    max_batch: usize,
    /// Pending batch being built: tuple starts and fields of `buf[..parsed]`.
    row_starts: Vec<u32>,
    fields: Vec<Field>,
    /// Absolute stream offset of `buf[0]`, for error messages.
    consumed: u64,
    rows_decoded: u64,
    bytes_decoded: u64,
    bytes_fed: u64,
    /// How much buffer to reserve when it must grow, from the previous batch's size.
    reserve_hint: usize,
}

impl CopyDecoder {
    /// A decoder for tuples of `ncols` fields.
    pub fn new(ncols: usize) -> Self {
        Self::with_max_batch_bytes(ncols, MAX_BATCH_BYTES)
    }

    /// A decoder whose batches never exceed `max_batch` bytes (capped at [`MAX_BATCH_BYTES`]).
    pub fn with_max_batch_bytes(ncols: usize, max_batch: usize) -> Self {
        CopyDecoder {
            ncols,
            state: State::Header,
            buf: BytesMut::with_capacity(INITIAL_CAPACITY),
            parsed: 0,
            need: 0,
            full: false,
            max_batch: max_batch.min(MAX_BATCH_BYTES),
            row_starts: Vec::new(),
            fields: Vec::new(),
            consumed: 0,
            rows_decoded: 0,
            bytes_decoded: 0,
            bytes_fed: 0,
            reserve_hint: INITIAL_CAPACITY,
        }
    }

    /// Appends a chunk of the stream (any size; tuples may span chunks).
    pub fn feed(&mut self, chunk: &[u8]) {
        let spare = self.buf.capacity() - self.buf.len();
        if spare < chunk.len() {
            // Reserving a batch's worth at once keeps reallocation to about one per batch,
            // since the buffer cannot grow in place while earlier batches share it.
            self.buf.reserve(chunk.len().max(self.reserve_hint));
        }
        self.buf.extend_from_slice(chunk);
        self.bytes_fed += chunk.len() as u64;
    }

    /// Returns all complete tuples buffered so far once they add up to at least `min_bytes`
    /// (or once the batch size limit is reached), else `None`. Drain with
    /// `while let Some(b) = dec.take_batch(n)? {}` if a single feed may hold several batches.
    pub fn take_batch(&mut self, min_bytes: usize) -> Result<Option<RowBatch>, CodecError> {
        // Growing straight to batch size avoids a chain of doubling reallocations (each
        // copying the buffer and touching fresh pages) at the start of every stream.
        self.reserve_hint = self.reserve_hint.max(batch_reserve(min_bytes));
        self.advance()?;
        if self.row_starts.is_empty() || (self.parsed < min_bytes && !self.full) {
            return Ok(None);
        }
        Ok(Some(self.split_batch()))
    }

    /// Ends the stream: returns the remaining tuples (`None` if there are none) after checking
    /// that the stream ended with its trailer and nothing after it.
    pub fn finish(&mut self) -> Result<Option<RowBatch>, CodecError> {
        self.advance()?;
        match self.state {
            State::Header => {
                let needed = self.need.max(HEADER_FIXED_LEN);
                return Err(self.truncated("header", needed));
            }
            State::Tuples if self.full => {
                return Err(CodecError::BatchOverflow {
                    buffered: self.buf.len(),
                    max: self.max_batch,
                })
            }
            State::Tuples if self.buf.len() > self.parsed => {
                return Err(self.truncated("tuple", self.need));
            }
            State::Tuples => {
                return Err(CodecError::MissingTrailer {
                    rows: self.rows_decoded + self.row_starts.len() as u64,
                    offset: self.consumed + self.parsed as u64,
                })
            }
            State::Trailer => {}
        }
        if self.row_starts.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.split_batch()))
    }

    /// Rows returned in batches so far.
    pub fn rows_decoded(&self) -> u64 {
        self.rows_decoded
    }

    /// Tuple bytes returned in batches so far (header and trailer excluded).
    pub fn bytes_decoded(&self) -> u64 {
        self.bytes_decoded
    }

    /// Stream bytes fed so far.
    pub fn bytes_fed(&self) -> u64 {
        self.bytes_fed
    }

    /// Bytes fed but not yet returned in a batch.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Parses the header if needed, then scans every newly completed tuple.
    fn advance(&mut self) -> Result<(), CodecError> {
        if self.state == State::Header && !self.parse_header()? {
            return Ok(());
        }
        match self.state {
            State::Tuples => self.scan(),
            State::Trailer => self.check_after_trailer(),
            State::Header => Ok(()),
        }
    }

    /// Consumes the header once it is complete; `Ok(false)` while it is not.
    fn parse_header(&mut self) -> Result<bool, CodecError> {
        let buf = &self.buf[..];
        // Checking the signature prefix right away rejects a wrong stream without waiting
        // for the whole header.
        let prefix = buf.len().min(SIGNATURE.len());
        if let Some(i) = (0..prefix).find(|&i| buf[i] != SIGNATURE[i]) {
            return Err(CodecError::BadSignature { offset: i as u64 });
        }
        let Some(flags) = read_i32(buf, SIGNATURE.len()) else {
            return Ok(false);
        };
        let flags = flags as u32;
        if flags & FLAG_OIDS != 0 {
            return Err(CodecError::OidsIncluded { flags });
        }
        if flags & FLAGS_CRITICAL != 0 {
            return Err(CodecError::UnknownCriticalFlags { flags });
        }
        let ext_at = SIGNATURE.len() + 4;
        let Some(ext_len) = read_i32(buf, ext_at) else {
            return Ok(false);
        };
        let Ok(ext_len) = usize::try_from(ext_len) else {
            return Err(CodecError::BadHeaderExtension {
                offset: ext_at as u64,
                len: ext_len,
            });
        };
        // The extension area carries nothing we use; the format says to skip it.
        let header_len = HEADER_FIXED_LEN + ext_len;
        if buf.len() < header_len {
            self.need = header_len;
            return Ok(false);
        }
        self.buf.advance(header_len);
        self.consumed = header_len as u64;
        self.need = 0;
        self.state = State::Tuples;
        Ok(true)
    }

    /// Scans complete tuples from `parsed` on, stopping at a partial tuple, the trailer or the
    /// batch size limit.
    fn scan(&mut self) -> Result<(), CodecError> {
        if self.full || self.buf.len() < self.need {
            return Ok(());
        }
        loop {
            let start = self.parsed;
            let scanned = scan_tuple(&self.buf, start, self.ncols, &mut self.fields)
                .map_err(|bad| self.tuple_error(start, bad))?;
            match scanned {
                TupleScan::Complete(end) if end > self.max_batch => {
                    return self.reject_oversized(start);
                }
                TupleScan::Complete(end) => {
                    self.row_starts.push(start as u32);
                    self.parsed = end;
                }
                // `need` is a lower bound on where the tuple ends: an oversized tuple is
                // refused before gigabytes of it are buffered.
                TupleScan::Incomplete(need) if need > self.max_batch => {
                    return self.reject_oversized(start);
                }
                TupleScan::Incomplete(need) => {
                    self.need = need;
                    return Ok(());
                }
                TupleScan::Trailer => {
                    self.state = State::Trailer;
                    return self.check_after_trailer();
                }
            }
        }
    }

    /// A complete tuple would push the batch past the limit: end the batch before it, or fail
    /// if the tuple alone is too large.
    fn reject_oversized(&mut self, start: usize) -> Result<(), CodecError> {
        self.fields.truncate(self.row_starts.len() * self.ncols);
        if self.row_starts.is_empty() {
            return Err(CodecError::TupleTooLarge {
                row: self.rows_decoded,
                offset: self.consumed + start as u64,
                max: self.max_batch,
            });
        }
        self.full = true;
        Ok(())
    }

    /// The trailer sits at `parsed`; anything after it is an error.
    fn check_after_trailer(&self) -> Result<(), CodecError> {
        let end = self.parsed + super::TRAILER.len();
        if self.buf.len() > end {
            return Err(CodecError::DataAfterTrailer {
                offset: self.consumed + end as u64,
                extra: (self.buf.len() - end) as u64,
            });
        }
        Ok(())
    }

    /// Splits the scanned tuples off the buffer as a batch, without copying them.
    fn split_batch(&mut self) -> RowBatch {
        let len = self.parsed;
        let data = self.buf.split_to(len).freeze();
        let rows = self.row_starts.len();
        // The next batch is likely the same shape, so size its vectors alike up front.
        let mut row_starts = mem::replace(&mut self.row_starts, Vec::with_capacity(rows + 1));
        let fields = mem::replace(&mut self.fields, Vec::with_capacity(rows * self.ncols));
        row_starts.push(len as u32);

        self.consumed += len as u64;
        self.rows_decoded += rows as u64;
        self.bytes_decoded += len as u64;
        self.parsed = 0;
        self.need = self.need.saturating_sub(len);
        self.full = false;
        self.reserve_hint = batch_reserve(len);
        RowBatch {
            data,
            ncols: self.ncols,
            rows,
            row_starts,
            fields,
        }
    }

    fn tuple_error(&self, start: usize, bad: BadTuple) -> CodecError {
        let row = self.rows_decoded + self.row_starts.len() as u64;
        match bad {
            BadTuple::Count(got) => CodecError::FieldCountMismatch {
                row,
                offset: self.consumed + start as u64,
                expected: self.ncols,
                got,
            },
            BadTuple::Length { col, at, len } => CodecError::NegativeLength {
                row,
                col,
                offset: self.consumed + at as u64,
                len,
            },
        }
    }

    fn truncated(&self, what: &'static str, needed: usize) -> CodecError {
        CodecError::Truncated {
            what,
            row: self.rows_decoded + self.row_starts.len() as u64,
            offset: self.consumed + self.parsed as u64,
            available: (self.buf.len() - self.parsed) as u64,
            needed: needed.saturating_sub(self.parsed) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode::{encode_tuple, write_batch, write_header, write_trailer};

    type Row = Vec<Option<Vec<u8>>>;

    fn tuples(rows: &[&[Option<&[u8]>]]) -> BytesMut {
        let mut out = BytesMut::new();
        for row in rows {
            encode_tuple(&mut out, row).unwrap();
        }
        out
    }

    fn stream(rows: &[&[Option<&[u8]>]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_header(&mut out);
        out.extend_from_slice(&tuples(rows));
        write_trailer(&mut out);
        out.to_vec()
    }

    fn rows_of(batches: &[RowBatch]) -> Vec<Row> {
        let mut rows = Vec::new();
        for b in batches {
            for r in 0..b.rows {
                rows.push(
                    (0..b.ncols)
                        .map(|c| b.field(r, c).map(<[u8]>::to_vec))
                        .collect(),
                );
            }
        }
        rows
    }

    /// Feeds `chunks` in order, taking batches of at least `min_bytes` after each feed.
    fn decode_chunks<'a>(
        ncols: usize,
        chunks: impl IntoIterator<Item = &'a [u8]>,
        min_bytes: usize,
    ) -> Result<Vec<RowBatch>, CodecError> {
        let mut dec = CopyDecoder::new(ncols);
        let mut batches = Vec::new();
        for chunk in chunks {
            dec.feed(chunk);
            while let Some(b) = dec.take_batch(min_bytes)? {
                batches.push(b);
            }
        }
        batches.extend(dec.finish()?);
        Ok(batches)
    }

    fn sample() -> (Vec<u8>, Vec<Row>) {
        let rows: [&[Option<&[u8]>]; 4] = [
            &[Some(b"\x00\x00\x00\x01"), Some(b"alice"), None],
            &[Some(b"\x00\x00\x00\x02"), Some(b""), Some(b"x")],
            &[None, None, None],
            &[
                Some(b"\x00\x00\x00\x04"),
                Some("Björn".as_bytes()),
                Some(b""),
            ],
        ];
        let expected = rows
            .iter()
            .map(|r| r.iter().map(|f| f.map(<[u8]>::to_vec)).collect())
            .collect();
        (stream(&rows), expected)
    }

    #[test]
    fn decodes_rows_with_nulls_and_empty_values() {
        let (bytes, expected) = sample();
        let batches = decode_chunks(3, [&bytes[..]], 0).unwrap();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.rows, 4);
        assert_eq!(b.ncols, 3);
        assert_eq!(rows_of(&batches), expected);
        // NULL and zero-length are different things.
        assert_eq!(b.field(0, 2), None);
        assert_eq!(b.field(1, 1), Some(&b""[..]));
        assert_eq!(b.field_info(1, 1).len, 0);
        assert!(b.field_info(2, 0).is_null());
    }

    #[test]
    fn batch_layout_matches_the_tuples() {
        let (bytes, _) = sample();
        let b = decode_chunks(3, [&bytes[..]], 0).unwrap().remove(0);
        // The batch is exactly the tuples between header and trailer.
        assert_eq!(&b.data[..], &bytes[HEADER_FIXED_LEN..bytes.len() - 2]);
        assert_eq!(b.byte_len(), bytes.len() - HEADER_FIXED_LEN - 2);
        assert_eq!(b.row_starts.len(), b.rows + 1);
        assert_eq!(*b.row_starts.last().unwrap() as usize, b.data.len());
        assert_eq!(b.fields.len(), b.rows * b.ncols);
        // Row 0: count(2) len(4) int(4) len(4) "alice"(5) len(4) -> the NULL "starts" at 23.
        assert_eq!(b.row_starts[0], 0);
        assert_eq!(b.fields[0], Field { start: 6, len: 4 });
        assert_eq!(b.fields[1], Field { start: 14, len: 5 });
        assert_eq!(b.fields[2], Field { start: 23, len: -1 });
        assert_eq!(b.row_starts[1], 23);
        let mut all_null = vec![0u8, 3];
        all_null.extend_from_slice(&[0xff; 12]);
        assert_eq!(b.tuple(2), &all_null[..]);
    }

    #[test]
    fn round_trips_verbatim() {
        let (bytes, _) = sample();
        let batches = decode_chunks(3, bytes.chunks(7), 20).unwrap();
        assert!(batches.len() > 1, "min_bytes 20 should split the sample");
        let mut out = BytesMut::new();
        write_header(&mut out);
        for b in &batches {
            write_batch(b, &[], &mut out);
        }
        write_trailer(&mut out);
        assert_eq!(&out[..], &bytes[..]);
    }

    #[test]
    fn one_byte_at_a_time() {
        let (bytes, expected) = sample();
        let batches = decode_chunks(3, bytes.chunks(1), 0).unwrap();
        // Each tuple completes on its own feed, so each becomes its own batch.
        assert_eq!(batches.len(), 4);
        assert!(batches.iter().all(|b| b.rows == 1));
        assert_eq!(rows_of(&batches), expected);
    }

    #[test]
    fn every_split_point() {
        let (bytes, expected) = sample();
        for k in 0..=bytes.len() {
            let batches = decode_chunks(3, [&bytes[..k], &bytes[k..]], 0)
                .unwrap_or_else(|e| panic!("split at {k}: {e}"));
            assert_eq!(rows_of(&batches), expected, "split at {k}");
        }
    }

    #[test]
    fn batches_wait_for_min_bytes() {
        let (bytes, expected) = sample();
        let mut dec = CopyDecoder::new(3);
        dec.feed(&bytes[..HEADER_FIXED_LEN + 30]);
        // One complete 23-byte tuple is buffered: below 40 bytes, so no batch yet.
        assert!(dec.take_batch(40).unwrap().is_none());
        dec.feed(&bytes[HEADER_FIXED_LEN + 30..bytes.len() - 2]);
        let first = dec.take_batch(40).unwrap().unwrap();
        assert_eq!(first.rows, 4);
        assert!(dec.take_batch(0).unwrap().is_none());
        dec.feed(&bytes[bytes.len() - 2..]);
        assert!(dec.finish().unwrap().is_none());
        assert_eq!(rows_of(&[first]), expected);
        assert_eq!(dec.rows_decoded(), 4);
        assert_eq!(
            dec.bytes_decoded() as usize,
            bytes.len() - HEADER_FIXED_LEN - 2
        );
        assert_eq!(dec.bytes_fed() as usize, bytes.len());
        assert_eq!(dec.buffered(), 2);
    }

    #[test]
    fn later_batches_have_their_own_offsets() {
        let (bytes, expected) = sample();
        let batches = decode_chunks(3, bytes.chunks(1), 30).unwrap();
        for b in &batches {
            assert_eq!(b.row_starts[0], 0);
            assert_eq!(*b.row_starts.last().unwrap() as usize, b.data.len());
        }
        assert_eq!(rows_of(&batches), expected);
    }

    #[test]
    fn empty_stream() {
        let bytes = stream(&[]);
        assert_eq!(bytes.len(), HEADER_FIXED_LEN + 2);
        let mut dec = CopyDecoder::new(5);
        dec.feed(&bytes);
        assert!(dec.take_batch(0).unwrap().is_none());
        assert!(dec.finish().unwrap().is_none());
        assert_eq!(dec.rows_decoded(), 0);
    }

    #[test]
    fn zero_column_tuples() {
        let bytes = stream(&[&[], &[]]);
        let batches = decode_chunks(0, [&bytes[..]], 0).unwrap();
        assert_eq!(batches[0].rows, 2);
        assert!(batches[0].fields.is_empty());
    }

    #[test]
    fn skips_header_extension() {
        let mut bytes = SIGNATURE.to_vec();
        bytes.extend_from_slice(&0x0000_8000u32.to_be_bytes()); // a non-critical flag bit
        bytes.extend_from_slice(&5i32.to_be_bytes());
        bytes.extend_from_slice(b"ext!!");
        bytes.extend_from_slice(&tuples(&[&[Some(b"v")]]));
        bytes.extend_from_slice(&super::super::TRAILER);
        for k in 0..bytes.len() {
            let batches = decode_chunks(1, [&bytes[..k], &bytes[k..]], 0).unwrap();
            assert_eq!(
                rows_of(&batches),
                vec![vec![Some(b"v".to_vec())]],
                "split at {k}"
            );
        }
    }

    #[test]
    fn large_batches_are_capped() {
        let rows: Vec<[Option<&[u8]>; 1]> = (0..100).map(|_| [Some(&b"0123456789"[..])]).collect();
        let refs: Vec<&[Option<&[u8]>]> = rows.iter().map(|r| &r[..]).collect();
        let bytes = stream(&refs);
        // Each tuple is 16 bytes; a 50-byte cap fits 3.
        let mut dec = CopyDecoder::with_max_batch_bytes(1, 50);
        dec.feed(&bytes);
        let mut total = 0;
        while let Some(b) = dec.take_batch(usize::MAX).unwrap() {
            assert_eq!(b.rows, 3);
            assert!(b.byte_len() <= 50);
            total += b.rows;
        }
        let last = dec.finish().unwrap().unwrap();
        assert_eq!(total + last.rows, 100);
        assert_eq!(dec.rows_decoded(), 100);
    }

    fn decode_err(ncols: usize, bytes: &[u8]) -> CodecError {
        match decode_chunks(ncols, [bytes], 0) {
            Err(e) => e,
            Ok(b) => panic!("expected an error, got {} batches", b.len()),
        }
    }

    #[test]
    fn bad_signature_is_reported_early() {
        let (mut bytes, _) = sample();
        bytes[3] = b'X';
        assert_eq!(
            decode_err(3, &bytes),
            CodecError::BadSignature { offset: 3 }
        );
        // Only the first five bytes have arrived: still detected.
        let mut dec = CopyDecoder::new(3);
        dec.feed(&bytes[..5]);
        assert_eq!(
            dec.take_batch(0).unwrap_err(),
            CodecError::BadSignature { offset: 3 }
        );
        // A text-format COPY stream is not mistaken for binary.
        assert_eq!(
            decode_err(1, b"1\talice\n"),
            CodecError::BadSignature { offset: 0 }
        );
    }

    #[test]
    fn oids_flag_is_rejected() {
        let (mut bytes, _) = sample();
        bytes[11..15].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        assert_eq!(
            decode_err(3, &bytes),
            CodecError::OidsIncluded { flags: 0x0001_0000 }
        );
        let msg = decode_err(3, &bytes).to_string();
        assert!(msg.contains("OIDs"), "{msg}");
    }

    #[test]
    fn unknown_critical_flag_is_rejected() {
        let (mut bytes, _) = sample();
        bytes[11..15].copy_from_slice(&0x0004_0000u32.to_be_bytes());
        assert_eq!(
            decode_err(3, &bytes),
            CodecError::UnknownCriticalFlags { flags: 0x0004_0000 }
        );
    }

    #[test]
    fn negative_header_extension_is_rejected() {
        let (mut bytes, _) = sample();
        bytes[15..19].copy_from_slice(&(-4i32).to_be_bytes());
        assert_eq!(
            decode_err(3, &bytes),
            CodecError::BadHeaderExtension {
                offset: 15,
                len: -4
            }
        );
    }

    #[test]
    fn truncated_header() {
        let (bytes, _) = sample();
        assert_eq!(
            decode_err(3, &bytes[..13]),
            CodecError::Truncated {
                what: "header",
                row: 0,
                offset: 0,
                available: 13,
                needed: HEADER_FIXED_LEN as u64,
            }
        );
        assert!(matches!(
            decode_err(3, &[]),
            CodecError::Truncated { what: "header", .. }
        ));
    }

    #[test]
    fn truncated_tuple() {
        let (bytes, _) = sample();
        // Cut inside row 1 ("\0\0\0\x02", "", "x"), which starts 23 bytes into the tuples;
        // keep its count and first field (10 bytes): the next length word needs 14.
        let row1 = HEADER_FIXED_LEN + 23;
        let err = decode_err(3, &bytes[..row1 + 10]);
        assert_eq!(
            err,
            CodecError::Truncated {
                what: "tuple",
                row: 1,
                offset: row1 as u64,
                available: 10,
                needed: 14,
            }
        );
        assert!(err.to_string().contains("row 1"), "{err}");
    }

    #[test]
    fn field_count_mismatch() {
        let mut bytes = stream(&[
            &[Some(b"a"), Some(b"b")],
            &[Some(b"a"), Some(b"b"), Some(b"c")],
        ]);
        let err = decode_err(2, &bytes);
        assert_eq!(
            err,
            CodecError::FieldCountMismatch {
                row: 1,
                offset: (HEADER_FIXED_LEN + 12) as u64,
                expected: 2,
                got: 3,
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "PGCOPY row 1 at offset {}: field count mismatch, expected 2 got 3",
                HEADER_FIXED_LEN + 12
            )
        );
        // A negative count other than the trailer's -1.
        bytes[HEADER_FIXED_LEN..HEADER_FIXED_LEN + 2].copy_from_slice(&(-2i16).to_be_bytes());
        assert!(matches!(
            decode_err(2, &bytes),
            CodecError::FieldCountMismatch {
                row: 0,
                got: -2,
                ..
            }
        ));
    }

    #[test]
    fn negative_length() {
        let mut bytes = stream(&[&[Some(b"a"), Some(b"b")]]);
        let at = HEADER_FIXED_LEN + 2 + 5;
        bytes[at..at + 4].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(
            decode_err(2, &bytes),
            CodecError::NegativeLength {
                row: 0,
                col: 1,
                offset: at as u64,
                len: -2,
            }
        );
    }

    #[test]
    fn missing_trailer() {
        let (bytes, _) = sample();
        let end = bytes.len() - 2;
        assert_eq!(
            decode_err(3, &bytes[..end]),
            CodecError::MissingTrailer {
                rows: 4,
                offset: end as u64,
            }
        );
        // Half a trailer is a truncated stream too.
        assert!(matches!(
            decode_err(3, &bytes[..end + 1]),
            CodecError::Truncated { row: 4, .. }
        ));
    }

    #[test]
    fn data_after_trailer() {
        let (mut bytes, _) = sample();
        let end = bytes.len();
        bytes.extend_from_slice(b"junk");
        let expected = CodecError::DataAfterTrailer {
            offset: end as u64,
            extra: 4,
        };
        assert_eq!(decode_err(3, &bytes), expected);
        // Also when the junk arrives after the trailer was already seen, even after finish.
        let mut dec = CopyDecoder::new(3);
        dec.feed(&bytes[..end]);
        assert_eq!(dec.finish().unwrap().unwrap().rows, 4);
        dec.feed(b"junk");
        assert_eq!(dec.finish().unwrap_err(), expected);
    }

    #[test]
    fn tuple_larger_than_a_batch() {
        let bytes = stream(&[&[Some(b"short")], &[Some(&[7u8; 100])]]);
        let mut dec = CopyDecoder::with_max_batch_bytes(1, 50);
        dec.feed(&bytes);
        let first = dec.take_batch(0).unwrap().unwrap();
        assert_eq!(first.rows, 1);
        assert_eq!(
            dec.take_batch(0).unwrap_err(),
            CodecError::TupleTooLarge {
                row: 1,
                offset: (HEADER_FIXED_LEN + 11) as u64,
                max: 50,
            }
        );
    }

    #[test]
    fn oversized_tuple_is_refused_before_it_completes() {
        let bytes = stream(&[&[Some(b"short")], &[Some(&[7u8; 100])]]);
        let mut dec = CopyDecoder::with_max_batch_bytes(1, 50);
        // The second tuple's length word has arrived, its value has not.
        dec.feed(&bytes[..HEADER_FIXED_LEN + 11 + 6]);
        assert_eq!(dec.take_batch(0).unwrap().unwrap().rows, 1);
        assert!(matches!(
            dec.take_batch(0).unwrap_err(),
            CodecError::TupleTooLarge { row: 1, .. }
        ));
    }

    #[test]
    fn finish_without_draining_overflows() {
        let rows: Vec<[Option<&[u8]>; 1]> = (0..10).map(|_| [Some(&b"0123456789"[..])]).collect();
        let refs: Vec<&[Option<&[u8]>]> = rows.iter().map(|r| &r[..]).collect();
        let mut dec = CopyDecoder::with_max_batch_bytes(1, 50);
        dec.feed(&stream(&refs));
        assert!(matches!(
            dec.finish().unwrap_err(),
            CodecError::BatchOverflow { max: 50, .. }
        ));
    }

    /// `fixtures/pgcopy/mixed.bin`, captured from PostgreSQL 15 (see its README).
    fn captured() -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pgcopy/mixed.bin");
        std::fs::read(path).unwrap()
    }

    #[test]
    fn decodes_captured_postgres_output() {
        let bytes = captured();
        // Per-row chunks would be closer to the wire, but 8 KiB chunks also cut through rows.
        let batches = decode_chunks(10, bytes.chunks(8192), 256 * 1024).unwrap();
        let rows: usize = batches.iter().map(|b| b.rows).sum();
        assert_eq!(rows, 20_000);
        assert!(batches.len() > 5);

        let first = &batches[0];
        assert_eq!(first.field(0, 0), Some(&1i64.to_be_bytes()[..]));
        assert_eq!(first.field(0, 4), Some("Björn Smith".as_bytes()));
        assert_eq!(first.field(0, 5), Some(&b"bjorn.1@example.org"[..]));
        // jsonb binary: version byte 1, then the text.
        assert_eq!(
            first.field(0, 7),
            Some(&b"\x01{\"plan\": \"pro\", \"seats\": 1}"[..])
        );
        let all = rows_of(&batches);
        let note_nulls = all.iter().filter(|r| r[8].is_none()).count();
        let active_nulls = all.iter().filter(|r| r[9].is_none()).count();
        assert_eq!(note_nulls, 18_000);
        assert_eq!(active_nulls, 6_666);
        assert_eq!(all[9][8].as_deref(), Some(&b"note for row 10"[..]));

        let mut out = BytesMut::new();
        write_header(&mut out);
        for b in &batches {
            write_batch(b, &[], &mut out);
        }
        write_trailer(&mut out);
        assert!(
            out[..] == bytes[..],
            "verbatim re-encoding differs from the capture"
        );
    }
}
