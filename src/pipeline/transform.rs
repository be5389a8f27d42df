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

impl ColumnTransform for OidRemap {
    fn apply(
        &self,
        batch: &RowBatch,
        rows: Range<usize>,
    ) -> Result<ReplacedColumn, TransformError> {
        let mut values = Vec::new();
        let mut fields = Vec::with_capacity(rows.len());
        for row in rows {
            match batch.field(row, self.column) {
                None => fields.push(Field { start: 0, len: -1 }),
                Some(value) => {
                    let start = values.len();
                    values.extend_from_slice(value);
                    remap_value_oids(&mut values[start..], self.kind, self.map.as_ref()).map_err(
                        |e| TransformError {
                            column: self.column_name.clone(),
                            message: e.to_string(),
                        },
                    )?;
                    fields.push(Field {
                        start: start as u32,
                        len: value.len() as i32,
                    });
                }
            }
        }
        Ok(ReplacedColumn {
            col: self.column,
            values,
            fields,
        })
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
        let (mut values, fields) = self.sanitize_rows(batch, rows.start, rows.end)?;
        if let Some(remap) = &self.remap {
            for f in fields.iter().filter(|f| f.len >= 0) {
                let range = f.start as usize..f.start as usize + f.len as usize;
                remap_value_oids(&mut values[range], remap.kind, remap.map.as_ref()).map_err(
                    |e| TransformError {
                        column: self.column_name.clone(),
                        message: e.to_string(),
                    },
                )?;
            }
        }
        Ok(ReplacedColumn {
            col: self.column,
            values,
            fields,
        })
    }
}

impl Sanitize {
    fn sanitize_rows(
        &self,
        batch: &RowBatch,
        start: usize,
        end: usize,
    ) -> Result<(Vec<u8>, Vec<Field>), TransformError> {
        let mut values = Vec::new();
        let mut fields = Vec::with_capacity(end - start);
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
            let before = values.len();
            let outcome = self
                .sanitizer
                .sanitize(input, &ctx, &mut values)
                .map_err(|e| TransformError {
                    column: self.column_name.clone(),
                    message: e.to_string(),
                })?;
            let field = match outcome {
                Outcome::Value => Field {
                    start: before as u32,
                    len: (values.len() - before) as i32,
                },
                Outcome::Null => Field { start: 0, len: -1 },
                Outcome::Same => match input {
                    None => Field { start: 0, len: -1 },
                    Some(v) => {
                        values.extend_from_slice(v);
                        Field {
                            start: before as u32,
                            len: v.len() as i32,
                        }
                    }
                },
            };
            fields.push(field);
        }
        Ok((values, fields))
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
