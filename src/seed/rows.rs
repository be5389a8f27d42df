//! Rows of a resolved plan, produced on demand: any row `n` of any table can be computed on its
//! own (a reference to a generated parent recomputes the parent's key), so a table is split into
//! row ranges that lanes generate in parallel, and nothing but the current batch is held in
//! memory whatever the row count.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;

use super::columns::{rule_value, stream, synthetic_input, write_decimal, Gen};
use crate::catalog::Table;
use crate::codec::decode::{Field, RowBatch};
use crate::pipeline::{RowSource, Stop, TablePlan};
use crate::sanitize::spec::{Ctx, Outcome, RowAccess};
use crate::sanitize::{value, Key};
use crate::source::Part;

/// Rows per part: small enough that lanes share a large table, large enough to be cheap.
const ROWS_PER_PART: u64 = 250_000;

/// One table's generators, in the order of `table.columns` (the columns written).
pub struct TableGen {
    pub table: Table,
    pub gens: Vec<Gen>,
    /// Per column: the mapping domain of its rule, and the name its draws are keyed by.
    pub domains: Vec<String>,
    pub rows: u64,
    /// For `per_parent`: row offsets of each parent row's children (parents + 1 entries).
    pub parent_offsets: Option<Vec<u64>>,
    /// A rule of the table reads other columns of the row (`template`).
    pub reads_row: bool,
    /// Nullable foreign keys closing a cycle: NULL in the rows, set once every table is written.
    pub closing: Vec<Closing>,
}

/// A foreign key written NULL and set in the second pass (after every table's rows are in, so
/// the parent rows exist whatever the order), row by row through the primary key.
pub struct Closing {
    /// Positions in `table.columns` of the primary key, which finds each row.
    pub key: Vec<usize>,
    /// Positions in `table.columns` of the foreign key's columns.
    pub columns: Vec<usize>,
    /// The generated table referenced, and the positions of the columns taken from its row.
    pub parent: usize,
    pub parent_columns: Vec<usize>,
    /// The name draws are keyed by: one parent row for all columns of the key.
    pub domain: String,
}

/// Every generated table, in foreign-key order, under the plan's key.
pub struct Seeder {
    pub key: Key,
    pub tables: Vec<TableGen>,
    /// During the preflight: references are drawn among the first rows only (the sample).
    pub sample: Option<u64>,
    by_oid: HashMap<u32, usize>,
}

impl Seeder {
    pub fn new(key: Key, tables: Vec<TableGen>) -> Seeder {
        let by_oid = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.table.oid, i))
            .collect();
        Seeder {
            key,
            tables,
            sample: None,
            by_oid,
        }
    }

    /// The key derived from a plan's seed: same seed, same rows.
    pub fn key_for(seed: u64) -> Key {
        Key::from_secret(format!("restage seed plan {seed}").as_bytes())
    }

    /// The parent row of child row `n` of a `per_parent` table.
    fn parent_of(&self, table: usize, n: u64) -> u64 {
        match &self.tables[table].parent_offsets {
            Some(offsets) => offsets.partition_point(|&o| o <= n).saturating_sub(1) as u64,
            None => n,
        }
    }

    /// Rows of `table` the preflight writes: the first `sample`, whose references all point
    /// into the samples of their parents.
    pub fn sample_rows(&self, table: usize, sample: u64) -> u64 {
        let t = &self.tables[table];
        match &t.parent_offsets {
            Some(offsets) => {
                let parents = (offsets.len() as u64).saturating_sub(1).min(sample);
                offsets[parents as usize].min(sample)
            }
            None => t.rows.min(sample),
        }
    }

    /// Appends column `column` of row `n` of `table`; false for NULL.
    pub fn value(
        &self,
        table: usize,
        column: usize,
        n: u64,
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        let t = &self.tables[table];
        let domain = &t.domains[column];
        let oid_of = |g: &Gen| match g {
            Gen::Sequence { oid, .. } | Gen::Decimal { oid, .. } => *oid,
            _ => 0,
        };
        match &t.gens[column] {
            Gen::Rule {
                sanitizer,
                class,
                oid,
                taken,
                rows,
                max_chars,
            } => {
                let view = t.reads_row.then(|| RowView {
                    seeder: self,
                    table,
                    n,
                    inputs: t
                        .gens
                        .iter()
                        .map(|g| {
                            let mut v = Vec::new();
                            if let Gen::Rule {
                                class,
                                oid,
                                max_chars,
                                ..
                            } = g
                            {
                                synthetic_input(*class, *oid, n, *max_chars, &mut v);
                            }
                            v
                        })
                        .collect(),
                });
                let ctx = Ctx {
                    key: &self.key,
                    row: view.as_ref().map(|v| v as &dyn RowAccess),
                };
                rule_value(
                    sanitizer.as_ref(),
                    *class,
                    *oid,
                    *max_chars,
                    taken.as_deref(),
                    *rows,
                    n,
                    &ctx,
                    out,
                )
            }
            g @ Gen::Sequence { start, step, .. } => {
                value::write_int(oid_of(g), start + (n as i64) * step, out);
                Ok(true)
            }
            g @ Gen::Decimal {
                min, max, scale, ..
            } => {
                let u = stream(&self.key, "decimal_range", domain, n).unit();
                write_decimal(oid_of(g), min + u * (max - min), *scale, out)?;
                Ok(true)
            }
            Gen::Date { min, max } => {
                let d = stream(&self.key, "date_range", domain, n).range_i64(*min, *max);
                out.extend_from_slice(&(d as i32).to_be_bytes());
                Ok(true)
            }
            Gen::Timestamp { min, max } => {
                let us = stream(&self.key, "timestamp_range", domain, n).range_i64(*min, *max);
                out.extend_from_slice(&us.to_be_bytes());
                Ok(true)
            }
            Gen::Generated {
                table: parent,
                column: key,
                rows,
            } => {
                let cap = self.sample.map_or(*rows, |s| s.min(*rows)).max(1);
                let p = stream(&self.key, "reference", domain, n).below(cap);
                self.value(*parent, *key, p, out)
            }
            Gen::Existing(values) => {
                let p = stream(&self.key, "reference", domain, n).below(values.len() as u64);
                match values.get(p as usize) {
                    Some(v) => {
                        out.extend_from_slice(v);
                        Ok(true)
                    }
                    None => Err("the referenced table has no rows".into()),
                }
            }
            Gen::Parent {
                table: parent,
                column: key,
            } => {
                let p = self.parent_of(table, n);
                self.value(*parent, *key, p, out)
            }
            Gen::Null => Ok(false),
        }
    }

    /// Rows `rows` of `table` as one PGCOPY batch (tuples only, no header or trailer).
    pub fn batch(&self, table: usize, rows: Range<u64>) -> Result<RowBatch, String> {
        let t = &self.tables[table];
        encode_rows(t.gens.len(), rows, |n, c, out| {
            self.value(table, c, n, out)
                .map_err(|e| format!("column {}, row {n}: {e}", t.table.columns[c].name))
        })
    }

    /// The parent row that row `n` of `table` references through `closing`: drawn like any
    /// reference, and for a self-reference never the row itself (unless it is the only one).
    fn closing_parent(&self, table: usize, closing: &Closing, n: u64) -> u64 {
        let cap = self
            .sample
            .map_or(self.tables[closing.parent].rows, |s| {
                self.sample_rows(closing.parent, s)
            })
            .max(1);
        let itself = closing.parent == table && cap > 1 && n < cap;
        let p = stream(&self.key, "reference", &closing.domain, n).below(if itself {
            cap - 1
        } else {
            cap
        });
        if itself && p >= n {
            p + 1
        } else {
            p
        }
    }

    /// The second pass of `closing` (an index into `table`'s) for rows `rows`: one PGCOPY
    /// tuple per row holding its primary key, then the foreign key's values.
    pub fn closing_batch(
        &self,
        table: usize,
        closing: usize,
        rows: Range<u64>,
    ) -> Result<RowBatch, String> {
        let t = &self.tables[table];
        let c = &t.closing[closing];
        let keys = c.key.len();
        encode_rows(keys + c.columns.len(), rows, |n, i, out| {
            let written = if i < keys {
                self.value(table, c.key[i], n, out)
            } else {
                let parent = self.closing_parent(table, c, n);
                self.value(c.parent, c.parent_columns[i - keys], parent, out)
            };
            written.map_err(|e| format!("row {n}: {e}"))
        })
    }
}

/// Rows as one PGCOPY batch of `ncols` fields each, every field from `field(n, column, out)`
/// (false: NULL).
fn encode_rows(
    ncols: usize,
    rows: Range<u64>,
    mut field: impl FnMut(u64, usize, &mut Vec<u8>) -> Result<bool, String>,
) -> Result<RowBatch, String> {
    let count = (rows.end - rows.start) as usize;
    let mut data = Vec::with_capacity(count * (2 + ncols * 16));
    let mut row_starts = Vec::with_capacity(count + 1);
    let mut fields = Vec::with_capacity(count * ncols);
    for n in rows {
        row_starts.push(data.len() as u32);
        data.extend_from_slice(&(ncols as i16).to_be_bytes());
        for c in 0..ncols {
            let len_at = data.len();
            data.extend_from_slice(&[0; 4]);
            let start = data.len();
            let present = field(n, c, &mut data)?;
            let len = if present {
                (data.len() - start) as i32
            } else {
                data.truncate(start);
                -1
            };
            data[len_at..start].copy_from_slice(&len.to_be_bytes());
            fields.push(Field {
                start: start as u32,
                len,
            });
        }
    }
    row_starts.push(data.len() as u32);
    Ok(RowBatch {
        data: Bytes::from(data),
        ncols,
        rows: count,
        row_starts,
        fields,
    })
}

impl Seeder {
    /// The parts `table` is generated in.
    pub fn parts(&self, table: usize) -> Vec<Part> {
        let count = self.tables[table]
            .rows
            .div_ceil(ROWS_PER_PART)
            .clamp(1, 1024) as usize;
        (1..=count)
            .map(|index| Part {
                index,
                count,
                first_block: None,
                end_block: None,
                rows: None,
            })
            .collect()
    }

    /// The rows of one part.
    fn part_rows(&self, table: usize, part: &Part) -> Range<u64> {
        let rows = u128::from(self.tables[table].rows);
        let count = part.count.max(1) as u128;
        let at = |i: usize| (rows * i as u128 / count) as u64;
        at(part.index - 1)..at(part.index)
    }
}

impl RowSource for Seeder {
    fn produce(
        &self,
        plan: &TablePlan,
        part: &Part,
        batch_bytes: usize,
        emit: &mut dyn FnMut(RowBatch) -> bool,
    ) -> Result<u64, Stop> {
        let Some(&table) = self.by_oid.get(&plan.table.oid) else {
            return Err(Stop::Failed("the table is not in the seed plan".into()));
        };
        let range = self.part_rows(table, part);
        let mut at = range.start;
        // Batch size in rows, adjusted after the first batch to land near `batch_bytes`.
        let mut step = 1024u64;
        while at < range.end {
            let end = (at + step).min(range.end);
            let batch = self.batch(table, at..end)?;
            let per_row = (batch.data.len() as u64 / (end - at).max(1)).max(1);
            step = (batch_bytes as u64 / per_row).clamp(64, 1 << 20);
            if !emit(batch) {
                return Err(Stop::Cancelled);
            }
            at = end;
        }
        Ok(range.end - range.start)
    }
}

/// The row being generated, as `template` sees it: its synthetic inputs and generated values.
struct RowView<'a> {
    seeder: &'a Seeder,
    table: usize,
    n: u64,
    inputs: Vec<Vec<u8>>,
}

impl RowView<'_> {
    fn index(&self, column: &str) -> Result<usize, String> {
        self.seeder.tables[self.table]
            .table
            .columns
            .iter()
            .position(|c| c.name == column)
            .ok_or_else(|| format!("no generated column {column:?}"))
    }
}

impl RowAccess for RowView<'_> {
    fn original(&self, column: &str) -> Result<Option<&[u8]>, String> {
        Ok(Some(&self.inputs[self.index(column)?]))
    }

    fn sanitized(&self, column: &str, out: &mut Vec<u8>) -> Result<Outcome, String> {
        let c = self.index(column)?;
        Ok(if self.seeder.value(self.table, c, self.n, out)? {
            Outcome::Value
        } else {
            Outcome::Null
        })
    }
}
