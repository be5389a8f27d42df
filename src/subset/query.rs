//! The SQL of a closure: row identities (`tableoid`, `ctid`) of matching rows read in bulk with
//! binary COPY, and predicates selecting a set of rows by `ctid`. Within one snapshot a row's
//! ctid does not change, so a ctid set names exactly the rows the closure chose, for any
//! table, with or without a key, and the server reads them with a TID scan.

use futures_util::StreamExt;
use tokio_postgres::Client;

use crate::codec::decode::{CopyDecoder, RowBatch};
use crate::codec::CodecError;

/// A row of one table: block number in the high bits, line pointer in the low 16.
pub type Tid = u64;

fn tid(block: u32, offset: u16) -> Tid {
    (u64::from(block) << 16) | u64::from(offset)
}

/// `'{"(0,1)","(3,7)"}'::pg_catalog.tid[]`, sorted.
pub fn tid_array(tids: &[Tid]) -> String {
    let mut sorted = tids.to_vec();
    sorted.sort_unstable();
    let mut out = String::with_capacity(12 * sorted.len() + 32);
    out.push_str("'{");
    for (i, t) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"({},{})\"", t >> 16, t & 0xffff));
    }
    out.push_str("}'::pg_catalog.tid[]");
    out
}

/// `ctid = ANY(…)` on the rows of one table, or `false` for none.
pub fn rows_predicate(alias: &str, tids: &[Tid]) -> String {
    if tids.is_empty() {
        return "false".into();
    }
    let column = if alias.is_empty() {
        "ctid".to_string()
    } else {
        format!("{alias}.ctid")
    };
    format!("{column} = ANY({})", tid_array(tids))
}

/// `alias."a", alias."b"`: a select list.
pub fn column_list(alias: &str, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}.{}", crate::catalog::quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(alias."a", alias."b")`: a row to compare.
pub fn column_tuple(alias: &str, columns: &[String]) -> String {
    format!("({})", column_list(alias, columns))
}

/// A deterministic sample: the rows whose key (primary key, or the whole row without one)
/// hashes below `percent` of the range. Keyed by the rows' own values, not `random()`: the
/// same rows every run.
pub fn sample_predicate(alias: &str, primary_key: &[String], percent: f64) -> String {
    let key = if primary_key.is_empty() {
        format!("{alias}.*")
    } else {
        column_list(alias, primary_key)
    };
    let basis_points = (percent * 100.0).round() as i64;
    format!(
        "(('x' || pg_catalog.substr(pg_catalog.md5(ROW({key})::text), 1, 7))::bit(28)::int \
         % 10000) < {basis_points}"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}", crate::pgerr::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("malformed COPY data from the source: {0}")]
    Codec(#[from] CodecError),
    #[error("a (tableoid, ctid) row of unexpected width from the source")]
    Width,
}

/// Reads `(tableoid, ctid)` pairs: `select` must produce exactly those two columns.
pub async fn row_ids(client: &Client, select: &str) -> Result<Vec<(u32, Tid)>, ReadError> {
    let sql = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let stream = client.copy_out(sql.as_str()).await?;
    futures_util::pin_mut!(stream);
    let mut decoder = CopyDecoder::new(2);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        decoder.feed(&chunk?);
        while let Some(batch) = decoder.take_batch(1 << 20)? {
            push_ids(&batch, &mut out)?;
        }
    }
    if let Some(batch) = decoder.finish()? {
        push_ids(&batch, &mut out)?;
    }
    Ok(out)
}

/// `oid` (4 bytes) and `tid` (block 4 bytes, line pointer 2 bytes) of each row.
fn push_ids(batch: &RowBatch, out: &mut Vec<(u32, Tid)>) -> Result<(), ReadError> {
    let bad = || ReadError::Width;
    for row in 0..batch.rows {
        let oid = batch.field(row, 0).ok_or_else(bad)?;
        let t = batch.field(row, 1).ok_or_else(bad)?;
        let oid = <[u8; 4]>::try_from(oid).map_err(|_| bad())?;
        if t.len() != 6 {
            return Err(bad());
        }
        let block = u32::from_be_bytes([t[0], t[1], t[2], t[3]]);
        let line = u16::from_be_bytes([t[4], t[5]]);
        out.push((u32::from_be_bytes(oid), tid(block, line)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tid_sets_become_sorted_array_literals() {
        assert_eq!(
            rows_predicate("t", &[tid(3, 7), tid(0, 1)]),
            "t.ctid = ANY('{\"(0,1)\",\"(3,7)\"}'::pg_catalog.tid[])"
        );
        assert_eq!(rows_predicate("", &[]), "false");
        assert_eq!(
            column_tuple("c", &["a".into(), "B\"".into()]),
            "(c.\"a\", c.\"B\"\"\")"
        );
    }

    #[test]
    fn samples_hash_the_key() {
        let p = sample_predicate("t", &["id".into()], 12.5);
        assert!(p.contains("ROW(t.\"id\")") && p.ends_with("< 1250"), "{p}");
        assert!(sample_predicate("t", &[], 1.0).contains("ROW(t.*)"));
    }
}
