//! Per-column transforms applied to decoded batches before encoding: the sanitizer rules, and
//! the rewrite of user-defined type OIDs embedded in binary arrays and records.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::catalog::Table;
use crate::codec::decode::{Field, RowBatch};
use crate::codec::encode::ReplacedColumn;
use crate::codec::typeoids::{remap_value_oids, TypeKind, TypeMap};
use crate::sanitize::{ColumnSanitizer, Ctx, Key, Outcome, RowAccess};

#[derive(Debug, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct TransformError {
    pub column: String,
    pub message: String,
}

/// Produces the replacement values of one column for some rows of a batch. Stateless and
/// shared across threads (the lanes run row ranges of one batch at once); scratch space lives
/// in the call.
pub trait ColumnTransform: Send + Sync {
    /// One field per row of `rows`, the first for `rows.start`.
    fn apply(&self, batch: &RowBatch, rows: Range<usize>)
        -> Result<ReplacedColumn, TransformError>;
}

/// Rewrites source type OIDs to the target's inside array/composite values of one column.
pub struct OidRemap {
    pub column: usize,
    pub column_name: String,
    pub kind: TypeKind,
    pub map: Arc<dyn TypeMap + Send + Sync>,
}

impl OidRemap {
    fn error(&self, e: impl std::fmt::Display) -> TransformError {
        TransformError {
            column: self.column_name.clone(),
            message: e.to_string(),
        }
    }
}

impl ColumnTransform for OidRemap {
    fn apply(
        &self,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<ReplacedColumn, TransformError> {
        let mut out = ReplacedColumn::with_capacity(self.column, rows.len(), 0);
        for row in rows {
            let value = batch.field(row, self.column);
            let start = out.values.len();
            out.push(value).map_err(|e| self.error(e))?;
            if value.is_some() {
                remap_value_oids(&mut out.values[start..], self.kind, self.map.as_ref())
                    .map_err(|e| self.error(e))?;
            }
        }
        Ok(out)
    }
}

/// Applies a sanitizer rule to one column.
pub struct Sanitize {
    pub column: usize,
    pub column_name: String,
    pub sanitizer: Arc<dyn ColumnSanitizer>,
    pub key: Arc<Key>,
    /// The table's columns, so rules can read other fields of the row.
    pub row: Arc<RowRules>,
    /// Rewrites type OIDs inside the sanitized values (arrays of enums and the like).
    pub remap: Option<OidRemap>,
}

/// A table's columns by name: COPY position and, when ruled, the sanitizer.
#[derive(Default)]
pub struct RowRules {
    pub columns: HashMap<String, RowColumn>,
}

impl RowRules {
    /// The columns of `table`, each with its sanitizer from `sanitizer_of(position)`.
    pub fn new(
        table: &Table,
        sanitizer_of: impl Fn(usize) -> Option<Arc<dyn ColumnSanitizer>>,
    ) -> RowRules {
        let columns = table
            .columns
            .iter()
            .enumerate()
            .map(|(position, c)| {
                let sanitizer = sanitizer_of(position);
                (
                    c.name.clone(),
                    RowColumn {
                        position,
                        sanitizer,
                    },
                )
            })
            .collect();
        RowRules { columns }
    }
}

pub struct RowColumn {
    pub position: usize,
    pub sanitizer: Option<Arc<dyn ColumnSanitizer>>,
}

impl ColumnTransform for Sanitize {
    fn apply(
        &self,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<ReplacedColumn, TransformError> {
        let mut out = self.sanitize_rows(batch, rows.start, rows.end)?;
        if let Some(remap) = &self.remap {
            for row in 0..out.fields.len() {
                let Some(range) = value_range(out.fields[row]) else {
                    continue;
                };
                remap_value_oids(&mut out.values[range], remap.kind, remap.map.as_ref())
                    .map_err(|e| self.error(e))?;
            }
        }
        Ok(out)
    }
}

/// The byte range of a non-NULL value in its column's values.
fn value_range(field: Field) -> Option<Range<usize>> {
    let start = usize::try_from(field.start).ok()?;
    let len = usize::try_from(field.len).ok()?;
    Some(start..start.checked_add(len)?)
}

impl Sanitize {
    fn error(&self, e: impl std::fmt::Display) -> TransformError {
        TransformError {
            column: self.column_name.clone(),
            message: e.to_string(),
        }
    }

    fn sanitize_rows(
        &self,
        batch: &RowBatch,
        start: usize,
        end: usize,
    ) -> Result<ReplacedColumn, TransformError> {
        let mut out = ReplacedColumn::with_capacity(self.column, end - start, 0);
        for row in start..end {
            let input = batch.field(row, self.column);
            let access = BatchRow {
                batch,
                row,
                rules: &self.row,
                key: &self.key,
            };
            let ctx = Ctx {
                key: &self.key,
                row: Some(&access),
            };
            let before = out.values.len();
            let outcome = self
                .sanitizer
                .sanitize(input, &ctx, &mut out.values)
                .map_err(|e| self.error(e))?;
            let recorded = match outcome {
                Outcome::Value => out.seal(before),
                Outcome::Null => {
                    out.values.truncate(before);
                    out.push(None)
                }
                Outcome::Same => {
                    out.values.truncate(before);
                    out.push(input)
                }
            };
            recorded.map_err(|e| self.error(e))?;
        }
        Ok(out)
    }
}

/// One row of a batch, seen by a rule that reads other columns.
struct BatchRow<'a> {
    batch: &'a RowBatch,
    row: usize,
    rules: &'a RowRules,
    key: &'a Key,
}

impl BatchRow<'_> {
    fn column(&self, column: &str) -> Result<&RowColumn, String> {
        self.rules
            .columns
            .get(column)
            .ok_or_else(|| format!("no column {column:?} in this table"))
    }
}

impl RowAccess for BatchRow<'_> {
    fn original(&self, column: &str) -> Result<Option<&[u8]>, String> {
        Ok(self.batch.field(self.row, self.column(column)?.position))
    }

    fn sanitized(&self, column: &str, out: &mut Vec<u8>) -> Result<Outcome, String> {
        let found = self.column(column)?;
        let input = self.batch.field(self.row, found.position);
        match &found.sanitizer {
            // The rules check refuses read cycles, so this recursion ends.
            Some(s) => {
                let ctx = Ctx {
                    key: self.key,
                    row: Some(self),
                };
                s.sanitize(input, &ctx, out)
                    .map_err(|e| format!("{column}: {e}"))
            }
            None => Ok(Outcome::Same),
        }
    }
}
