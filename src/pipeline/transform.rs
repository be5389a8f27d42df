//! Per-column transforms applied to decoded batches before encoding: the sanitizer rules, and
//! the rewrite of user-defined type OIDs embedded in binary arrays and records.

use std::sync::Arc;

use crate::codec::decode::{Field, RowBatch};
use crate::codec::encode::ReplacedColumn;
use crate::codec::typeoids::{remap_value_oids, TypeKind, TypeMap};

#[derive(Debug, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct TransformError {
    pub column: String,
    pub message: String,
}

/// Produces the replacement values of one column for a batch. Stateless and shared across
/// threads; scratch space lives in the call.
pub trait ColumnTransform: Send + Sync {
    fn apply(&self, batch: &RowBatch) -> Result<ReplacedColumn, TransformError>;
}

/// Rewrites source type OIDs to the target's inside array/composite values of one column.
pub struct OidRemap {
    pub column: usize,
    pub column_name: String,
    pub kind: TypeKind,
    pub map: Arc<dyn TypeMap + Send + Sync>,
}

impl ColumnTransform for OidRemap {
    fn apply(&self, batch: &RowBatch) -> Result<ReplacedColumn, TransformError> {
        let mut values = Vec::new();
        let mut fields = Vec::with_capacity(batch.rows);
        for row in 0..batch.rows {
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
