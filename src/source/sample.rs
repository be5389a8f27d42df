//! The first rows of a table, decoded as the clone decodes them: for `preview` and for the
//! sanitizing clone's constraint preflight. A handful of rows: one batch holds them all.

use futures_util::StreamExt;
use tokio_postgres::Client;

use super::CopyOutError;
use crate::catalog::Table;
use crate::codec::decode::{CopyDecoder, RowBatch};

/// Up to `rows` rows of `table` (None when it has none), read in the client's transaction.
pub async fn sample(
    client: &Client,
    table: &Table,
    rows: u32,
) -> Result<Option<RowBatch>, CopyOutError> {
    let sql = format!(
        "COPY (SELECT {} FROM ONLY {} LIMIT {rows}) TO STDOUT (FORMAT binary)",
        table.column_list(),
        table.qualified()
    );
    let stream = client.copy_out(&sql).await?;
    futures_util::pin_mut!(stream);
    let mut decoder = CopyDecoder::new(table.columns.len());
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?);
    }
    Ok(decoder.finish()?.filter(|b| !b.is_empty()))
}
