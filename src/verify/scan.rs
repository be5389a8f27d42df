//! Streams two sorted sequences of 64-bit value hashes, one per side, and counts the places
//! where they meet. The server hashes and sorts (`hashtextextended`, `ORDER BY`), so memory
//! stays flat whatever the table size and values never travel in the clear.

use futures_util::{Stream, StreamExt};
use tokio_postgres::{Client, Row};

/// How a column is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Row by row through the (kept) primary key: the target row holds its source value.
    Row,
    /// Any target value equal to any source value.
    Set,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanCount {
    /// Non-null source values compared.
    pub compared: u64,
    pub leaks: u64,
}

/// The query for one side. `key` is the primary-key expression for row mode. Empty values
/// carry nothing to leak (a rule keeps an empty string empty), so they are not compared.
pub fn query(table: &str, column: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!(
            "SELECT hashtextextended(({key})::text, 0), hashtextextended(({column})::text, 0) \
             FROM ONLY {table} WHERE {column} IS NOT NULL AND ({column})::text <> '' ORDER BY 1"
        ),
        None => format!(
            "SELECT DISTINCT hashtextextended(({column})::text, 0), 0::int8 \
             FROM ONLY {table} WHERE {column} IS NOT NULL AND ({column})::text <> '' ORDER BY 1"
        ),
    }
}

/// Runs `sql` on both sides and merges the sorted streams. In row mode a leak is the same key
/// with the same value; in set mode the same value anywhere.
pub async fn compare(
    source: &Client,
    target: &Client,
    sql: &str,
    mode: Mode,
) -> Result<ScanCount, tokio_postgres::Error> {
    let none: [&str; 0] = [];
    let src = source.query_raw(sql, none).await?;
    let dst = target.query_raw(sql, none).await?;
    futures_util::pin_mut!(src);
    futures_util::pin_mut!(dst);
    merge(&mut src, &mut dst, mode).await
}

async fn merge<S>(src: &mut S, dst: &mut S, mode: Mode) -> Result<ScanCount, tokio_postgres::Error>
where
    S: Stream<Item = Result<Row, tokio_postgres::Error>> + Unpin,
{
    let mut count = ScanCount::default();
    let mut b = next(dst).await?;
    while let Some((sk, sv)) = next(src).await? {
        count.compared += 1;
        while let Some((dk, _)) = b {
            if dk < sk {
                b = next(dst).await?;
            } else {
                break;
            }
        }
        if let Some((dk, dv)) = b {
            if dk == sk && (mode == Mode::Set || dv == sv) {
                count.leaks += 1;
            }
        }
    }
    Ok(count)
}

async fn next<S>(s: &mut S) -> Result<Option<(i64, i64)>, tokio_postgres::Error>
where
    S: Stream<Item = Result<Row, tokio_postgres::Error>> + Unpin,
{
    match s.next().await {
        Some(Ok(row)) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
        Some(Err(e)) => Err(e),
        None => Ok(None),
    }
}
