//! The whole-target sweep: every column of every table and materialized view of the target is
//! read as text and searched for production values of the sanitized columns and, where the
//! rules keep a column, for personal data by shape ([`super::tokens`]).
//!
//! Memory: the production values are streamed from the source and kept only as 64-bit hashes
//! ([`Needles`]: one per distinct sanitized production value and one per distinct first token
//! of those values, 8 bytes and a control byte per slot of tables kept at least 7/16 full, so
//! at most about 42 bytes per value; ten million distinct values take some 400 MB); target
//! rows are streamed and searched a batch at a time (two batches in memory).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio_postgres::{Client, Row};

use super::tokens::{self, Generated, Needles, Shape};
use crate::catalog::quote_ident;

/// A relation of the target and the columns it has.
#[derive(Debug, Clone)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    pub matview: bool,
    pub columns: Vec<TargetColumn>,
}

impl Relation {
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

#[derive(Debug, Clone)]
pub struct TargetColumn {
    pub name: String,
    /// Its values can carry text (text types, json, xml, bytea, composites, user types and
    /// arrays of them), so shapes are looked for; numbers, dates and flags only hold needles.
    pub textual: bool,
    pub bytea: bool,
    /// A generated column (computed on the target from other columns).
    pub generated: bool,
}

/// How one column is swept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub needles: bool,
    pub shapes: bool,
}

/// Tables (leaf partitions included) and populated materialized views of the target.
pub async fn relations(target: &Client) -> Result<Vec<Relation>, tokio_postgres::Error> {
    let rows = target
        .query(
            "SELECT n.nspname::text, c.relname::text, c.relkind = 'm', a.attname::text, \
                    COALESCE(e.typcategory, t.typcategory)::text IN ('S', 'U', 'C', 'X', 'P'), \
                    COALESCE(NULLIF(t.typbasetype, 0), t.oid) = 'pg_catalog.bytea'::regtype, \
                    a.attgenerated <> '' \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
                  AND a.attnum > 0 AND NOT a.attisdropped \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_type e ON t.typcategory = 'A' AND e.oid = t.typelem \
             WHERE (c.relkind = 'r' OR (c.relkind = 'm' AND c.relispopulated)) \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
             ORDER BY 1, 2, a.attnum",
            &[],
        )
        .await?;
    let mut out: Vec<Relation> = Vec::new();
    for row in rows {
        let (schema, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let column = TargetColumn {
            name: row.try_get(3)?,
            textual: row.try_get(4)?,
            bytea: row.try_get(5)?,
            generated: row.try_get(6)?,
        };
        match out.last_mut() {
            Some(r) if r.schema == schema && r.name == name => r.columns.push(column),
            _ => out.push(Relation {
                schema,
                name,
                matview: row.try_get(2)?,
                columns: vec![column],
            }),
        }
    }
    Ok(out)
}

/// A sanitized column of the source whose production values are looked for.
#[derive(Debug, Clone)]
pub struct NeedleSource {
    /// `"schema"."table"`.
    pub table: String,
    pub column: String,
    /// Array column: its elements are the values.
    pub array: bool,
}

/// Hashes of the distinct production values of `sources` (the server deduplicates).
pub async fn needles(
    source: &Client,
    sources: &[NeedleSource],
) -> Result<Needles, tokio_postgres::Error> {
    let mut set = Needles::default();
    for s in sources {
        let col = quote_ident(&s.column);
        let sql = if s.array {
            format!(
                "SELECT DISTINCT v::text FROM ONLY {} AS t, unnest(t.{col}) AS v \
                 WHERE v IS NOT NULL",
                s.table
            )
        } else {
            format!(
                "SELECT DISTINCT {col}::text FROM ONLY {} WHERE {col} IS NOT NULL",
                s.table
            )
        };
        let none: [&str; 0] = [];
        let rows = source.query_raw(&sql, none).await?;
        futures_util::pin_mut!(rows);
        while let Some(row) = rows.next().await {
            let value: String = row?.try_get(0)?;
            set.insert(&value);
        }
    }
    Ok(set)
}

/// What was found in one column: values holding a needle, values of each shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnHits {
    pub production_values: u64,
    pub shapes: BTreeMap<Shape, u64>,
}

/// What the workers need to search the rows of one relation.
struct Search {
    bytea: Vec<bool>,
    looks: Vec<Look>,
    /// Indexes of the columns selected, in the query's order.
    wanted: Vec<usize>,
    needles: Arc<Needles>,
    generated: Arc<Generated>,
}

/// Streams `relation` from the target and counts, per column looked at, the values holding a
/// production value or a personal-data shape. `looks` is parallel to `relation.columns`.
pub async fn sweep(
    target: &Client,
    relation: &Relation,
    looks: &[Look],
    needles: &Arc<Needles>,
    generated: &Arc<Generated>,
) -> Result<Vec<ColumnHits>, tokio_postgres::Error> {
    let mut hits = vec![ColumnHits::default(); looks.len()];
    let wanted: Vec<usize> = (0..looks.len())
        .filter(|&i| looks[i].shapes || (looks[i].needles && !needles.is_empty()))
        .collect();
    if wanted.is_empty() {
        return Ok(hits);
    }
    let select: Vec<String> = wanted
        .iter()
        .map(|&i| format!("{}::text", quote_ident(&relation.columns[i].name)))
        .collect();
    let only = if relation.matview { "" } else { "ONLY " };
    let sql = format!(
        "SELECT {} FROM {only}{}.{}",
        select.join(", "),
        quote_ident(&relation.schema),
        quote_ident(&relation.name)
    );
    let search = Arc::new(Search {
        bytea: relation.columns.iter().map(|c| c.bytea).collect(),
        looks: looks.to_vec(),
        wanted,
        needles: Arc::clone(needles),
        generated: Arc::clone(generated),
    });
    let none: [&str; 0] = [];
    let rows = target.query_raw(&sql, none).await?;
    futures_util::pin_mut!(rows);
    // The search is CPU-bound and the rows independent: a batch is searched on every core
    // while the next one is read.
    let mut searching = None;
    loop {
        let mut batch = Vec::with_capacity(SWEEP_BATCH_ROWS);
        while batch.len() < SWEEP_BATCH_ROWS {
            match rows.next().await.transpose()? {
                Some(row) => batch.push(row),
                None => break,
            }
        }
        let done = batch.len() < SWEEP_BATCH_ROWS;
        if let Some(previous) = searching.take() {
            hits = merge_hits(hits, previous.await?);
        }
        if !batch.is_empty() {
            let (search, columns) = (Arc::clone(&search), looks.len());
            searching = Some(crate::pipeline::par_fold_owned(
                batch,
                move || vec![ColumnHits::default(); columns],
                move |acc, row| search_row(acc, row, &search),
                merge_hits,
            ));
        }
        if done {
            if let Some(last) = searching {
                hits = merge_hits(hits, last.await?);
            }
            return Ok(hits);
        }
    }
}

/// Rows searched together by the sweep's workers.
const SWEEP_BATCH_ROWS: usize = 4096;

/// Counts into `hits` what one row holds in the columns `search` wants.
fn search_row(
    hits: &mut [ColumnHits],
    row: &Row,
    search: &Search,
) -> Result<(), tokio_postgres::Error> {
    for (field, &i) in search.wanted.iter().enumerate() {
        let Some(value) = row.try_get::<_, Option<&str>>(field)? else {
            continue;
        };
        let text = tokens::searchable(value, search.bytea[i]);
        if search.looks[i].needles && tokens::holds_needle(&text, &search.needles) {
            hits[i].production_values += 1;
        }
        if search.looks[i].shapes {
            for shape in tokens::shapes(&text, &search.generated) {
                *hits[i].shapes.entry(shape).or_default() += 1;
            }
        }
    }
    Ok(())
}

/// Adds the counts of `b` to those of `a` (column by column).
fn merge_hits(mut a: Vec<ColumnHits>, b: Vec<ColumnHits>) -> Vec<ColumnHits> {
    for (x, y) in a.iter_mut().zip(b) {
        x.production_values += y.production_values;
        for (shape, count) in y.shapes {
            *x.shapes.entry(shape).or_default() += count;
        }
    }
    a
}
