//! Row subsets: copy a referentially complete slice of production (one tenant, 5 % of the
//! customers) instead of every row. Roots and filters are parsed up front (`spec`), the
//! closure over the foreign keys is computed on the source inside the run's snapshot
//! (`graph`, `chain`, `closure`, `query`), and the result is one row selection per copied
//! table that the read end applies to its `COPY (SELECT …)`: a semi-join predicate for the
//! tables reached plainly downward from the roots, a ctid set for the rest.

mod chain;
mod closure;
mod graph;
mod query;
pub mod spec;

use std::collections::HashMap;

pub use closure::{compute, count_listed_rows, count_rows, count_rows_where, Walk};
pub use spec::{Follow, SubsetSpec};

/// The rows of one copied table a subset copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// Rows of the table in the snapshot (set by `count_listed_rows`, or counted later).
    pub source_rows: u64,
    /// Rows the closure listed; `None` where a predicate names them (the copy counts those).
    pub copied_rows: Option<u64>,
    /// WHERE clause selecting exactly those rows.
    pub predicate: String,
    /// The SELECT list when some foreign-key columns are copied as NULL (`null` rule).
    pub select_list: Option<String>,
}

/// Per copied table's oid.
pub type Subset = HashMap<u32, TableRows>;

#[derive(Debug, thiserror::Error)]
pub enum SubsetError {
    /// A malformed `--subset`, an unknown table, a foreign key that does not exist.
    #[error("{origin}: {message}")]
    Spec { origin: String, message: String },
    /// The server refused a root condition or `where` filter.
    #[error("{origin}: the condition on {table} is not valid SQL there: {message}")]
    Condition {
        origin: String,
        table: String,
        message: String,
    },
    #[error("{origin}: no row of {table} matches {condition:?}")]
    NoRows {
        origin: String,
        table: String,
        condition: String,
    },
    #[error("computing the subset on the source: {0}")]
    Source(String),
}
