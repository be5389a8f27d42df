//! `COPY (SELECT <columns> FROM ONLY t [WHERE ctid range]) TO STDOUT (FORMAT binary)`, decoded
//! into row batches as the bytes arrive; or, for tables whose values do not survive the binary
//! form, the same in text format, passed on as it arrives.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio_postgres::Client;

use super::Part;
use crate::catalog::{text_session_sql, Table};
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
    let columns = match part.rows.as_ref().and_then(|r| r.select_list.clone()) {
        Some(list) => list,
        None => table.column_list(),
    };
    let mut sql = format!("SELECT {columns} FROM ONLY {}", table.qualified());
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

/// Streams one part in COPY's text format under the portable text settings; `on_chunk`
/// receives the bytes as they arrive and returns false to stop early. Returns the rows and
/// bytes read. The settings live in a savepoint that is rolled back afterwards, so the
/// reader's snapshot transaction continues with its own settings.
pub async fn copy_out_text(
    client: &Client,
    table: &Table,
    part: &Part,
    mut on_chunk: impl FnMut(Bytes) -> bool,
) -> Result<(u64, u64), CopyOutError> {
    client
        .batch_execute(&format!(
            "SAVEPOINT restage_text_copy; {}",
            text_session_sql()
        ))
        .await?;
    let sql = format!("COPY ({}) TO STDOUT", select_sql(table, part));
    let stream = client.copy_out(sql.as_str()).await?;
    futures_util::pin_mut!(stream);
    let mut rows = 0u64;
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        // Every row ends with a newline; newlines inside values are escaped as `\n`.
        rows += count_lines(&chunk);
        if !on_chunk(chunk) {
            return Err(CopyOutError::Cancelled);
        }
    }
    client
        .batch_execute("ROLLBACK TO SAVEPOINT restage_text_copy; RELEASE restage_text_copy")
        .await?;
    Ok((rows, bytes))
}

fn count_lines(data: &[u8]) -> u64 {
    data.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Column;

    fn table(columns: &[&str]) -> Table {
        Table {
            oid: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: columns
                .iter()
                .map(|n| Column {
                    name: (*n).into(),
                    type_oid: 23,
                    type_name: "integer".into(),
                    not_null: false,
                    embeds_user_oids: false,
                    needs_text: false,
                    typmod: -1,
                    unique: false,
                })
                .collect(),
            bytes: 0,
            pages: 0,
            estimated_rows: 0,
            unlogged: false,
            references: Vec::new(),
            partition_root: None,
            primary_key: Vec::new(),
        }
    }

    #[test]
    fn a_table_without_columns_selects_its_rows_with_an_empty_list() {
        assert_eq!(
            select_sql(&table(&[]), &Part::whole()),
            "SELECT  FROM ONLY \"public\".\"t\""
        );
        assert_eq!(table(&[]).copy_column_list(), "");
        assert_eq!(table(&["a", "b"]).copy_column_list(), " (\"a\", \"b\")");
    }

    #[test]
    fn rows_of_text_copy_data_are_its_newlines() {
        assert_eq!(count_lines(b"1\tx\\ny\n2\t\\N\n"), 2);
        assert_eq!(count_lines(b"\n\n\n"), 3, "rows of a table without columns");
    }
}
