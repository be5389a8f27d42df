//! `COPY (SELECT <columns> FROM ONLY t [WHERE ctid range]) TO STDOUT (FORMAT binary)`, decoded
//! into row batches as the bytes arrive.

use futures_util::StreamExt;
use tokio_postgres::Client;

use super::Part;
use crate::catalog::Table;
use crate::codec::decode::{CopyDecoder, RowBatch};
use crate::codec::CodecError;

#[derive(Debug, thiserror::Error)]
pub enum CopyOutError {
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("malformed COPY data from the source: {0}")]
    Codec(#[from] CodecError),
    /// The consumer stopped (another job failed): not an error of this table.
    #[error("cancelled")]
    Cancelled,
}

/// The SELECT a part copies. `FROM ONLY`: inheritance children and partitions are copied as
/// tables of their own, so every row travels exactly once.
pub fn select_sql(table: &Table, part: &Part) -> String {
    let mut sql = format!(
        "SELECT {} FROM ONLY {}",
        table.column_list(),
        table.qualified()
    );
    if let Some(predicate) = part.predicate() {
        sql.push_str(" WHERE ");
        sql.push_str(&predicate);
    }
    sql
}

/// Streams one part. `on_batch` receives each batch of at least `batch_bytes` (the last one may
/// be smaller) and returns false to stop early. Returns the rows and bytes read.
pub async fn copy_out(
    client: &Client,
    table: &Table,
    part: &Part,
    batch_bytes: usize,
    mut on_batch: impl FnMut(RowBatch) -> bool,
) -> Result<(u64, u64), CopyOutError> {
    let sql = format!(
        "COPY ({}) TO STDOUT (FORMAT binary)",
        select_sql(table, part)
    );
    let stream = client.copy_out(sql.as_str()).await?;
    futures_util::pin_mut!(stream);
    let mut decoder = CopyDecoder::new(table.columns.len());
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        decoder.feed(&chunk);
        while let Some(batch) = decoder.take_batch(batch_bytes)? {
            if !on_batch(batch) {
                return Err(CopyOutError::Cancelled);
            }
        }
    }
    if let Some(batch) = decoder.finish()? {
        if !on_batch(batch) {
            return Err(CopyOutError::Cancelled);
        }
    }
    Ok((decoder.rows_decoded(), bytes))
}
