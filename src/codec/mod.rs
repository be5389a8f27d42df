//! PostgreSQL binary COPY ("PGCOPY") framing: decode a `COPY … TO STDOUT (FORMAT binary)`
//! stream into [`RowBatch`]es whose fields stay byte ranges, and encode batches back into a
//! stream for `COPY … FROM STDIN (FORMAT binary)`, replacing only the sanitized columns.
//!
//! Stream layout (all integers big-endian):
//!
//! ```text
//! header  : 11-byte SIGNATURE, int32 flags, int32 extension length, extension bytes
//! tuple   : int16 field count, then per field int32 length (-1 = NULL) + that many bytes
//! trailer : int16 -1
//! ```
//!
//! The module is sync and pure (no tokio, files or network) so that it can run on rayon workers
//! and be tested on byte slices. Values are never interpreted here, with one exception:
//! [`typeoids`] rewrites the type OIDs that binary `array` and `record` values embed, because
//! user-defined types get different OIDs in the source and the target database.

pub mod array;
pub mod decode;
pub mod encode;
pub mod typeoids;

pub use decode::{CopyDecoder, Field, RowBatch, MAX_BATCH_BYTES};
pub use encode::{
    encode_field, encode_tuple, write_batch, write_header, write_rows, write_trailer,
    ReplacedColumn,
};
pub use typeoids::{remap_value_oids, SimpleTypeMap, TypeKind, TypeMap, FIRST_NORMAL_OBJECT_ID};

/// The fixed 11 bytes every PGCOPY stream starts with.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Signature + flags word + header-extension length word.
pub const HEADER_FIXED_LEN: usize = SIGNATURE.len() + 4 + 4;

/// The trailer: a field count of -1.
pub const TRAILER: [u8; 2] = (-1i16).to_be_bytes();

/// Header flag bit 16: every tuple carries an OID before its fields (pre-PostgreSQL 12
/// `WITH OIDS`). restage never asks for it, so seeing it means the stream is not ours.
pub const FLAG_OIDS: u32 = 1 << 16;

/// Header flag bits 17..=31 are "critical": the format says a reader must abort on any it does
/// not know. Bits 0..=15 are backwards-compatible and ignored.
pub const FLAGS_CRITICAL: u32 = 0xFFFE_0000;

/// Everything that can be wrong with a PGCOPY stream or an embedded binary value.
///
/// Stream offsets are absolute byte offsets from the start of the stream (header included);
/// row indexes count tuples from 0. Callers add the table, range and column at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The stream does not start with [`SIGNATURE`].
    #[error("not a PGCOPY stream: bad signature byte at offset {offset}")]
    BadSignature { offset: u64 },

    /// Header flag bit 16 is set (tuples carry OIDs), which this codec does not support.
    #[error(
        "PGCOPY header flags {flags:#010x} say OIDs are included; COPY WITH OIDS is not supported"
    )]
    OidsIncluded { flags: u32 },

    /// A critical header flag (bits 17..=31) that this reader does not know is set.
    #[error("PGCOPY header flags {flags:#010x} have unknown critical bits set")]
    UnknownCriticalFlags { flags: u32 },

    /// The header-extension length word is negative.
    #[error("PGCOPY header extension length {len} at offset {offset} is negative")]
    BadHeaderExtension { offset: u64, len: i32 },

    /// The stream ended in the middle of the header or of a tuple.
    #[error("truncated PGCOPY stream: {what} of row {row} starting at offset {offset} is incomplete ({available} of at least {needed} bytes present)")]
    Truncated {
        what: &'static str,
        row: u64,
        offset: u64,
        available: u64,
        needed: u64,
    },

    /// A tuple's field count differs from the number of columns the decoder was built for.
    #[error(
        "PGCOPY row {row} at offset {offset}: field count mismatch, expected {expected} got {got}"
    )]
    FieldCountMismatch {
        row: u64,
        offset: u64,
        expected: usize,
        got: i16,
    },

    /// A field length word is negative but not -1 (NULL).
    #[error("PGCOPY row {row}, column {col} at offset {offset}: invalid field length {len}")]
    NegativeLength {
        row: u64,
        col: usize,
        offset: u64,
        len: i32,
    },

    /// The stream ended on a tuple boundary without the -1 trailer.
    #[error("PGCOPY stream ended after {rows} rows at offset {offset} without the trailer")]
    MissingTrailer { rows: u64, offset: u64 },

    /// Bytes follow the trailer.
    #[error("PGCOPY stream has {extra} byte(s) after the trailer at offset {offset}")]
    DataAfterTrailer { offset: u64, extra: u64 },

    /// One tuple is larger than a batch may be (batch offsets are `u32`).
    #[error("PGCOPY row {row} at offset {offset} is larger than the {max}-byte batch limit")]
    TupleTooLarge { row: u64, offset: u64, max: usize },

    /// `finish` found more complete tuples buffered than one batch may hold: the caller fed
    /// data without draining it with `take_batch`.
    #[error("{buffered} bytes of tuples are buffered at finish, more than the {max}-byte batch limit; drain with take_batch first")]
    BatchOverflow { buffered: usize, max: usize },

    /// A value to encode is longer than a PGCOPY length word can express, or would push its
    /// column's values past the 32-bit offsets of a batch.
    #[error("a {len}-byte value does not fit a PGCOPY field or its batch")]
    ValueTooLarge { len: usize },

    /// A tuple to encode has more fields than a PGCOPY field count can express.
    #[error("{count} fields do not fit a PGCOPY tuple (at most 32767)")]
    TooManyFields { count: usize },

    /// A binary array/record value embeds a user-defined type OID the type map cannot map.
    #[error("binary value embeds type OID {0}, which has no mapping to the target database")]
    UnmappedTypeOid(u32),

    /// A binary array/record value is structurally invalid.
    #[error("malformed binary value at byte {offset}: {reason}")]
    MalformedValue { offset: usize, reason: &'static str },
}

/// Reads a big-endian i16 at `pos`, `None` if fewer than 2 bytes are there.
#[inline]
pub(crate) fn read_i16(buf: &[u8], pos: usize) -> Option<i16> {
    let word = buf.get(pos..)?.first_chunk::<2>()?;
    Some(i16::from_be_bytes(*word))
}

/// Reads a big-endian i32 at `pos`, `None` if fewer than 4 bytes are there.
#[inline]
pub(crate) fn read_i32(buf: &[u8], pos: usize) -> Option<i32> {
    let word = buf.get(pos..)?.first_chunk::<4>()?;
    Some(i32::from_be_bytes(*word))
}
