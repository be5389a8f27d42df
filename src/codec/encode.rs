//! PGCOPY encoder: writes batches back out, copying untouched fields verbatim and splicing in
//! the sanitized columns.

use std::ops::Range;

use bytes::{BufMut, BytesMut};

use super::decode::{Field, RowBatch};
use super::{CodecError, SIGNATURE, TRAILER};

/// The sanitized values of one column of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplacedColumn {
    /// Column index in the batch.
    pub col: usize,
    /// The new values, back to back.
    pub values: Vec<u8>,
    /// One per row of the batch: offset of the value in `values` and its length, or -1 for
    /// NULL.
    pub fields: Vec<Field>,
}

impl ReplacedColumn {
    /// An empty replacement for column `col`, sized for `rows` values of `bytes` in total.
    pub fn with_capacity(col: usize, rows: usize, bytes: usize) -> Self {
        ReplacedColumn {
            col,
            values: Vec::with_capacity(bytes),
            fields: Vec::with_capacity(rows),
        }
    }

    /// Appends the next row's value (`None` = NULL).
    ///
    /// Fails if the value does not fit a 32-bit length word or the column's values would
    /// outgrow the 32-bit offsets; nothing is appended then.
    pub fn push(&mut self, value: Option<&[u8]>) -> Result<(), CodecError> {
        let start = self.values.len();
        let len = value.map_or(0, <[u8]>::len);
        if u32::try_from(start.saturating_add(len)).is_err() {
            return Err(CodecError::ValueTooLarge { len });
        }
        let field = Field {
            start: u32::try_from(start).map_err(|_| CodecError::ValueTooLarge { len })?,
            len: match value {
                None => -1,
                Some(_) => field_len(len)?,
            },
        };
        self.values.extend_from_slice(value.unwrap_or_default());
        self.fields.push(field);
        Ok(())
    }

    /// Records the bytes appended to `values` since `start` (by a rule writing in place) as the
    /// next row's value, with the same limits as [`Self::push`]; on failure the bytes are
    /// dropped and nothing is recorded.
    pub fn seal(&mut self, start: usize) -> Result<(), CodecError> {
        let len = self.values.len().saturating_sub(start);
        let checked = u32::try_from(self.values.len())
            .ok()
            .and_then(|_| u32::try_from(start).ok())
            .ok_or(CodecError::ValueTooLarge { len })
            .and_then(|start| Ok((start, field_len(len)?)));
        match checked {
            Ok((start, len)) => {
                self.fields.push(Field { start, len });
                Ok(())
            }
            Err(e) => {
                self.values.truncate(start);
                Err(e)
            }
        }
    }

    /// The value of `row`, `None` for NULL. Panics if `row` is out of range.
    pub fn value(&self, row: usize) -> Option<&[u8]> {
        let f = self.fields[row];
        (!f.is_null()).then(|| &self.values[f.start as usize..f.end()])
    }
}

/// Writes the PGCOPY header: signature, no flags, no header extension.
pub fn write_header(out: &mut BytesMut) {
    out.reserve(super::HEADER_FIXED_LEN);
    out.extend_from_slice(SIGNATURE);
    out.put_i32(0);
    out.put_i32(0);
}

/// Writes the PGCOPY trailer (field count -1).
pub fn write_trailer(out: &mut BytesMut) {
    out.extend_from_slice(&TRAILER);
}

/// Writes one field: its length word (-1 for NULL) and bytes. Fails, writing nothing, if
/// the value is 2 GiB or larger, which the format cannot represent.
#[inline]
pub fn encode_field(out: &mut BytesMut, value: Option<&[u8]>) -> Result<(), CodecError> {
    match value {
        None => out.put_i32(-1),
        Some(v) => {
            out.put_i32(field_len(v.len())?);
            out.extend_from_slice(v);
        }
    }
    Ok(())
}

/// Writes one tuple: the field count, then each field. For producers that build rows
/// themselves (seeding, tests). On error, `out` is left as it was.
pub fn encode_tuple(out: &mut BytesMut, values: &[Option<&[u8]>]) -> Result<(), CodecError> {
    let count = i16::try_from(values.len()).map_err(|_| CodecError::TooManyFields {
        count: values.len(),
    })?;
    let mark = out.len();
    out.put_i16(count);
    for value in values {
        if let Err(e) = encode_field(out, *value) {
            out.truncate(mark);
            return Err(e);
        }
    }
    Ok(())
}

fn field_len(len: usize) -> Result<i32, CodecError> {
    i32::try_from(len).map_err(|_| CodecError::ValueTooLarge { len })
}

/// Writes the batch's tuples, with the columns in `replaced` taken from there instead.
///
/// Panics if a replacement names a column outside the batch, names a column twice, or does
/// not have one field per row: those are bugs in whoever built the replacement.
pub fn write_batch(batch: &RowBatch, replaced: &[ReplacedColumn], out: &mut BytesMut) {
    write_rows(batch, 0..batch.rows, replaced, out);
}

/// Writes the tuples `rows` of the batch, with the columns in `replaced` (one field per row
/// of the range, the first for `rows.start`) taken from there instead.
///
/// With no replacements the tuples are copied in one piece. Otherwise each row is written as
/// runs of untouched fields (copied with their length words in one go) and replaced fields.
///
/// Panics if `rows` is outside the batch, or on a replacement that names a column outside the
/// batch, names a column twice, or does not have one field per row of the range.
pub fn write_rows(
    batch: &RowBatch,
    rows: Range<usize>,
    replaced: &[ReplacedColumn],
    out: &mut BytesMut,
) {
    let span = batch.row_starts[rows.start] as usize..batch.row_starts[rows.end] as usize;
    if replaced.is_empty() {
        out.extend_from_slice(&batch.data[span]);
        return;
    }
    let segments = plan_segments(batch, rows.len(), replaced);
    // Upper bound: every original byte plus every new one, so rows never reallocate.
    let extra: usize = replaced.iter().map(|r| r.values.len()).sum();
    out.reserve(span.len() + extra);
    for (i, row) in rows.enumerate() {
        write_row(batch, row, i, &segments, out);
    }
}

/// A part of every row: a run of untouched columns, or one replaced column.
enum Segment<'a> {
    Keep { first: usize, last: usize },
    Replace(&'a ReplacedColumn),
}

/// Splits the column list into segments once per batch, since the layout is the same in
/// every row.
fn plan_segments<'a>(
    batch: &RowBatch,
    rows: usize,
    replaced: &'a [ReplacedColumn],
) -> Vec<Segment<'a>> {
    let mut by_col: Vec<Option<&ReplacedColumn>> = vec![None; batch.ncols];
    for r in replaced {
        assert!(
            r.col < batch.ncols,
            "replaced column {} out of range ({} columns)",
            r.col,
            batch.ncols
        );
        assert!(by_col[r.col].is_none(), "column {} replaced twice", r.col);
        assert_eq!(
            r.fields.len(),
            rows,
            "replaced column {} has {} fields for {} rows",
            r.col,
            r.fields.len(),
            rows
        );
        by_col[r.col] = Some(r);
    }
    let mut segments = Vec::new();
    let mut col = 0;
    while col < batch.ncols {
        if let Some(r) = by_col[col] {
            segments.push(Segment::Replace(r));
            col += 1;
            continue;
        }
        let first = col;
        while col < batch.ncols && by_col[col].is_none() {
            col += 1;
        }
        segments.push(Segment::Keep {
            first,
            last: col - 1,
        });
    }
    segments
}

/// Writes tuple `row` of the batch; `at` is its position within the replacements.
fn write_row(
    batch: &RowBatch,
    row: usize,
    at: usize,
    segments: &[Segment<'_>],
    out: &mut BytesMut,
) {
    let fields = batch.row_fields(row);
    let row_start = batch.row_starts[row] as usize;
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Keep { first, last } => {
                // A leading run also carries the field count, saving a separate write.
                let from = if i == 0 {
                    row_start
                } else {
                    fields[*first].start as usize - 4
                };
                out.extend_from_slice(&batch.data[from..fields[*last].end()]);
            }
            Segment::Replace(r) => {
                if i == 0 {
                    out.extend_from_slice(&batch.data[row_start..row_start + 2]);
                }
                let f = r.fields[at];
                if f.is_null() {
                    out.put_i32(-1);
                } else {
                    out.put_i32(f.len);
                    out.extend_from_slice(&r.values[f.start as usize..f.end()]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode::CopyDecoder;

    type Cells<'a> = [Option<&'a [u8]>];

    /// Decodes tuples (no header/trailer) into one batch.
    fn batch(ncols: usize, rows: &[&Cells<'_>]) -> RowBatch {
        let mut stream = BytesMut::new();
        write_header(&mut stream);
        for row in rows {
            encode_tuple(&mut stream, row).unwrap();
        }
        write_trailer(&mut stream);
        let mut dec = CopyDecoder::new(ncols);
        dec.feed(&stream);
        dec.finish().unwrap().unwrap()
    }

    fn expected(rows: &[&Cells<'_>]) -> BytesMut {
        let mut out = BytesMut::new();
        for row in rows {
            encode_tuple(&mut out, row).unwrap();
        }
        out
    }

    fn replaced(col: usize, values: &Cells<'_>) -> ReplacedColumn {
        let mut r = ReplacedColumn::with_capacity(col, values.len(), 16);
        for v in values {
            r.push(*v).unwrap();
        }
        r
    }

    fn encoded(b: &RowBatch, replaced: &[ReplacedColumn]) -> BytesMut {
        let mut out = BytesMut::new();
        write_batch(b, replaced, &mut out);
        out
    }

    const ROWS: [&Cells<'static>; 3] = [
        &[Some(b"id-1"), Some(b"alice@example.com"), None, Some(b"t")],
        &[Some(b"id-2"), None, Some(b""), Some(b"f")],
        &[None, Some(b"carol@example.com"), Some(b"note"), None],
    ];

    #[test]
    fn header_and_trailer_bytes() {
        let mut out = BytesMut::new();
        write_header(&mut out);
        write_trailer(&mut out);
        assert_eq!(&out[..], b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0\xff\xff");
    }

    #[test]
    fn encode_tuple_layout() {
        let out = expected(&[&[Some(b"ab"), None, Some(b"")]]);
        assert_eq!(
            &out[..],
            &[0, 3, 0, 0, 0, 2, b'a', b'b', 255, 255, 255, 255, 0, 0, 0, 0]
        );
    }

    #[test]
    fn verbatim_without_replacements() {
        let b = batch(4, &ROWS);
        assert_eq!(encoded(&b, &[]), expected(&ROWS));
    }

    #[test]
    fn replaces_a_middle_column() {
        let b = batch(4, &ROWS);
        let r = replaced(1, &[Some(b"x@y.z"), Some(b"was-null"), None]);
        let want = expected(&[
            &[Some(b"id-1"), Some(b"x@y.z"), None, Some(b"t")],
            &[Some(b"id-2"), Some(b"was-null"), Some(b""), Some(b"f")],
            &[None, None, Some(b"note"), None],
        ]);
        assert_eq!(encoded(&b, &[r]), want);
    }

    #[test]
    fn replaces_first_and_last_columns() {
        let b = batch(4, &ROWS);
        let first = replaced(0, &[Some(b"A"), Some(b""), Some(b"C")]);
        let last = replaced(3, &[None, Some(b"T"), Some(b"F")]);
        let want = expected(&[
            &[Some(b"A"), Some(b"alice@example.com"), None, None],
            &[Some(b""), None, Some(b""), Some(b"T")],
            &[
                Some(b"C"),
                Some(b"carol@example.com"),
                Some(b"note"),
                Some(b"F"),
            ],
        ]);
        // The order of the replacements does not matter.
        assert_eq!(encoded(&b, &[last.clone(), first.clone()]), want);
        assert_eq!(encoded(&b, &[first, last]), want);
    }

    #[test]
    fn row_ranges_concatenate_to_the_whole_batch() {
        let b = batch(4, &ROWS);
        let r = replaced(1, &[Some(b"x@y.z"), Some(b"was-null"), None]);
        let whole = encoded(&b, std::slice::from_ref(&r));
        // Rows 0..1 and 1..3, each with the replacements of its own rows only.
        let mut parts = BytesMut::new();
        write_rows(&b, 0..1, &[replaced(1, &[Some(b"x@y.z")])], &mut parts);
        write_rows(
            &b,
            1..3,
            &[replaced(1, &[Some(b"was-null"), None])],
            &mut parts,
        );
        assert_eq!(parts, whole);
        let mut tail = BytesMut::new();
        write_rows(&b, 2..3, &[], &mut tail);
        assert_eq!(tail, expected(&ROWS[2..]));
    }

    #[test]
    fn replaces_every_column() {
        let b = batch(2, &[&[Some(b"a"), Some(b"b")], &[None, Some(b"d")]]);
        let c0 = replaced(0, &[Some(b"1"), Some(b"3")]);
        let c1 = replaced(1, &[None, Some(b"4")]);
        let want = expected(&[&[Some(b"1"), None], &[Some(b"3"), Some(b"4")]]);
        assert_eq!(encoded(&b, &[c0, c1]), want);
    }

    #[test]
    fn output_decodes_back() {
        let b = batch(4, &ROWS);
        let r = replaced(2, &[Some(b"n1"), None, Some(b"n3")]);
        let mut out = BytesMut::new();
        write_header(&mut out);
        write_batch(&b, std::slice::from_ref(&r), &mut out);
        write_trailer(&mut out);
        let mut dec = CopyDecoder::new(4);
        dec.feed(&out);
        let back = dec.finish().unwrap().unwrap();
        for row in 0..3 {
            assert_eq!(back.field(row, 2), r.value(row));
            for col in [0, 1, 3] {
                assert_eq!(back.field(row, col), b.field(row, col));
            }
        }
    }

    #[test]
    fn appends_to_existing_output() {
        let b = batch(4, &ROWS);
        let mut out = BytesMut::from(&b"prefix"[..]);
        write_batch(&b, &[replaced(1, &[None, None, None])], &mut out);
        assert!(out.starts_with(b"prefix"));
        assert_eq!(out.len(), 6 + b.byte_len() - 17 - 17);
    }

    #[test]
    fn too_many_fields_is_an_error() {
        let mut out = BytesMut::from(&b"keep"[..]);
        let values = vec![None; 40_000];
        assert_eq!(
            encode_tuple(&mut out, &values),
            Err(CodecError::TooManyFields { count: 40_000 })
        );
        assert_eq!(&out[..], b"keep");
    }

    #[test]
    fn replaced_column_push_and_value() {
        let r = replaced(5, &[Some(b"ab"), None, Some(b""), Some(b"cde")]);
        assert_eq!(r.values, b"abcde");
        assert_eq!(
            r.fields,
            vec![
                Field { start: 0, len: 2 },
                Field { start: 2, len: -1 },
                Field { start: 2, len: 0 },
                Field { start: 2, len: 3 },
            ]
        );
        assert_eq!(r.value(1), None);
        assert_eq!(r.value(2), Some(&b""[..]));
        assert_eq!(r.value(3), Some(&b"cde"[..]));
    }

    #[test]
    #[should_panic(expected = "has 2 fields for 3 rows")]
    fn wrong_row_count_panics() {
        let b = batch(4, &ROWS);
        write_batch(&b, &[replaced(1, &[None, None])], &mut BytesMut::new());
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn column_out_of_range_panics() {
        let b = batch(4, &ROWS);
        write_batch(
            &b,
            &[replaced(4, &[None, None, None])],
            &mut BytesMut::new(),
        );
    }

    #[test]
    #[should_panic(expected = "replaced twice")]
    fn duplicate_column_panics() {
        let b = batch(4, &ROWS);
        let r = replaced(1, &[None, None, None]);
        write_batch(&b, &[r.clone(), r], &mut BytesMut::new());
    }
}
