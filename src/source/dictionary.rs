//! Reads the distinct production values of one column for the run's dictionary, in the run's
//! snapshot (the leader's transaction), in bulk: `COPY (SELECT DISTINCT col::text …) TO STDOUT
//! (FORMAT binary)`, so values arrive as their raw UTF-8 bytes without text-format escapes.

use futures_util::StreamExt;
use tokio_postgres::Client;

use super::CopyOutError;
use crate::codec::decode::CopyDecoder;

/// Batches handed on while reading (values are small; this bounds the buffered bytes).
const BATCH_BYTES: usize = 1 << 20;

/// Calls `each` with every distinct non-NULL value of `column` (quoted) of `table` (quoted
/// `schema.table`); returns how many there were.
pub async fn distinct_values(
    client: &Client,
    table: &str,
    column: &str,
    mut each: impl FnMut(&[u8]),
) -> Result<u64, CopyOutError> {
    let sql = format!(
        "COPY (SELECT DISTINCT {column}::text FROM ONLY {table} WHERE {column} IS NOT NULL) \
         TO STDOUT (FORMAT binary)"
    );
    let stream = client.copy_out(sql.as_str()).await?;
    futures_util::pin_mut!(stream);
    let mut decoder = CopyDecoder::new(1);
    let mut handle = |batch: crate::codec::decode::RowBatch| {
        for row in 0..batch.rows {
            if let Some(value) = batch.field(row, 0) {
                each(value);
            }
        }
    };
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?);
        while let Some(batch) = decoder.take_batch(BATCH_BYTES)? {
            handle(batch);
        }
    }
    if let Some(batch) = decoder.finish()? {
        handle(batch);
    }
    Ok(decoder.rows_decoded())
}
