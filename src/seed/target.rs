//! What seeding asks the target beyond the shared catalog: which columns the database fills
//! itself (defaults, identity, serial), enum labels and CHECK constraints per column, blocks of
//! sequence values, and values already present (parents to reference, unique values to avoid).

use std::collections::HashMap;

use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Client;

use crate::catalog::quote_ident;

#[derive(Debug, Clone, Default)]
pub struct ColumnFacts {
    /// The column has a default or is an identity column.
    pub defaulted: bool,
    /// Qualified name of the sequence of an identity or serial column.
    pub sequence: Option<String>,
    /// Labels of an enum column (or of an enum under its domain), in sort order.
    pub labels: Vec<String>,
    /// `pg_get_constraintdef` of the CHECK constraints on this column alone (its table's and
    /// its domain's, `VALUE` replaced by the column's name).
    pub checks: Vec<String>,
}

/// Facts by (table oid, column name).
pub type Facts = HashMap<(u32, String), ColumnFacts>;

pub async fn column_facts(client: &Client) -> Result<Facts, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attrelid, a.attname::text, a.atthasdef OR a.attidentity <> '', \
                    pg_catalog.pg_get_serial_sequence(a.attrelid::regclass::text, a.attname), \
                    ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e \
                          WHERE e.enumtypid IN (a.atttypid, t.typbasetype) \
                          ORDER BY e.enumsortorder), \
                    ARRAY(SELECT replace(pg_catalog.pg_get_constraintdef(k.oid), 'VALUE', \
                                         pg_catalog.quote_ident(a.attname)) \
                          FROM pg_catalog.pg_constraint k \
                          WHERE k.contype = 'c' AND ((k.conrelid = a.attrelid \
                                AND k.conkey = ARRAY[a.attnum]) OR k.contypid = a.atttypid)) \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await?;
    let mut facts = Facts::new();
    for r in rows {
        let oid: u32 = r.get(0);
        let name: String = r.get(1);
        facts.insert(
            (oid, name),
            ColumnFacts {
                defaulted: r.get(2),
                sequence: r.get(3),
                labels: r.get(4),
                checks: r.get(5),
            },
        );
    }
    Ok(facts)
}

/// Reserves `count` values of `sequence` for `table.column`, past both the sequence and the
/// column's largest value; returns the first. The sequence ends at the last reserved value,
/// so rows the application inserts later get the values after it.
pub async fn reserve(
    client: &Client,
    sequence: &str,
    table: &str,
    column: &str,
    count: u64,
) -> Result<i64, tokio_postgres::Error> {
    let sql = format!(
        "SELECT pg_catalog.setval($1::text::regclass, GREATEST(pg_catalog.nextval($1::text::regclass) - 1, \
                (SELECT COALESCE(max({col}), 0)::int8 FROM {table})) + $2::int8)",
        col = quote_ident(column),
    );
    let last: i64 = client
        .query_one(&sql, &[&sequence, &(count as i64)])
        .await?
        .get(0);
    Ok(last - count as i64 + 1)
}

/// One past the largest value of an integer column (1 for an empty table).
pub async fn next_after_max(
    client: &Client,
    table: &str,
    column: &str,
) -> Result<i64, tokio_postgres::Error> {
    let sql = format!(
        "SELECT COALESCE(max({})::int8, 0) + 1 FROM {table}",
        quote_ident(column)
    );
    Ok(client.query_one(&sql, &[]).await?.get(0))
}

/// A value in its binary form, whatever its type.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The non-NULL binary values of `columns` (each a list, in one shared row order) of the rows
/// of `table` matching `filter`.
pub async fn existing_values(
    client: &Client,
    table: &str,
    columns: &[String],
    filter: Option<&str>,
) -> Result<Vec<Vec<Vec<u8>>>, tokio_postgres::Error> {
    let list = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!("SELECT {list} FROM {table} WHERE ");
    sql.push_str(
        &columns
            .iter()
            .map(|c| format!("{} IS NOT NULL", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" AND "),
    );
    if let Some(f) = filter {
        sql.push_str(&format!(" AND ({f})"));
    }
    sql.push_str(&format!(" ORDER BY {list}"));
    let rows = client.query(&sql, &[]).await?;
    let mut out = vec![Vec::with_capacity(rows.len()); columns.len()];
    for r in rows {
        for (i, values) in out.iter_mut().enumerate() {
            values.push(r.get::<_, Raw>(i).0);
        }
    }
    Ok(out)
}

/// Whether `table` holds any row.
pub async fn has_rows(client: &Client, table: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
        .await?
        .get(0))
}
