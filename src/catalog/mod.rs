//! The schema model restage needs to move data: tables with their copyable columns, sizes and
//! keys, sequences, type OIDs embedded in binary values, and what cannot be copied (large
//! objects, foreign tables). Read from `pg_catalog` inside the source snapshot.

mod access;
mod extensions;
mod fidelity;
mod queries;
pub mod schema_text;
pub mod select;
mod types;

pub use access::{check as check_access, AccessProblems};
pub use extensions::{
    compare as compare_extensions, list as list_extensions, Extension, ExtensionCheck,
};
pub use fidelity::{settle_copy_formats, unloadable_values, Fidelity};
pub use queries::{load, target_state, target_state_in, TargetState};
pub use types::{Shape, TypeCatalog, TypeInfo};

/// `schema.table` as PostgreSQL would print it quoted: used in SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table (or leaf partition) whose rows are copied.
#[derive(Debug, Clone)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// Copyable columns in attribute order: generated columns never travel.
    pub columns: Vec<Column>,
    /// On-disk size of the heap in bytes (the largest go first).
    pub bytes: u64,
    /// Heap pages, for splitting into ctid ranges.
    pub pages: u64,
    /// Planner estimate, for progress only.
    pub estimated_rows: u64,
    pub unlogged: bool,
    /// Oids of tables this one references through foreign keys.
    pub references: Vec<u32>,
    /// For a partition: `schema.table` of the partitioned table at the root of its tree (rules
    /// written for the partitioned table apply to its partitions).
    pub partition_root: Option<String>,
    /// Primary-key columns, in key order (empty without a primary key).
    pub primary_key: Vec<String>,
}

impl Table {
    /// `"schema"."table"`, for SQL.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// `schema.table` unquoted, for people.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// How the table's rows travel: text when a column's binary form would not survive.
    pub fn copy_format(&self) -> CopyFormat {
        if self.columns.iter().any(|c| c.needs_text) {
            CopyFormat::Text
        } else {
            CopyFormat::Binary
        }
    }

    /// ` (cols)` for `COPY t (cols)`, or nothing for a table without copyable columns: an
    /// empty list is a syntax error, and without one COPY takes exactly the columns that are
    /// not generated, which are none.
    pub fn copy_column_list(&self) -> String {
        if self.columns.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.column_list())
        }
    }

    /// The quoted column list for COPY.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The COPY format a table's rows travel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// PGCOPY: the fast path, values are never parsed or printed.
    Binary,
    /// COPY's text format, with session settings that make every value's text form exact and
    /// portable (see `TEXT_SESSION`).
    Text,
}

/// Settings under which a value's text form reads back as the same value on another database:
/// object names schema-qualified (`search_path` empty: `reg*` types print and parse
/// `schema.name`), dates, intervals and floats exact and unambiguous, money independent of the
/// server's locale, XML fragments accepted. Set on both ends of a text-format copy.
pub const TEXT_SESSION: &[(&str, &str)] = &[
    ("search_path", ""),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    ("lc_monetary", "C"),
    ("xmloption", "content"),
    ("TimeZone", "UTC"),
];

/// `SELECT set_config(…, true)` for every [`TEXT_SESSION`] setting: transaction-local.
pub fn text_session_sql() -> String {
    let sets = TEXT_SESSION
        .iter()
        .map(|(k, v)| format!("pg_catalog.set_config('{k}', '{v}', true)"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {sets}")
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    /// `format_type()` output, e.g. `character varying(40)`.
    pub type_name: String,
    pub not_null: bool,
    /// Binary values of this column embed user-defined type OIDs that must be rewritten to the
    /// target's OIDs (arrays or composites of enums, domains, composite types).
    pub embeds_user_oids: bool,
    /// Binary COPY does not carry this column's values faithfully (the `reg*` types travel as
    /// bare OIDs, `aclitem` has no binary form, the column holds an empty `tsquery`, which is
    /// not received back), so the whole table is copied in text form.
    pub needs_text: bool,
    /// `atttypmod` (e.g. n + 4 for varchar(n)); -1 when none.
    pub typmod: i32,
    /// Member of a primary key, UNIQUE constraint or unique index.
    pub unique: bool,
}

#[derive(Debug, Clone)]
pub struct Sequence {
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
}

impl Sequence {
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// A materialized view, refreshed on the target after the data is in.
#[derive(Debug, Clone)]
pub struct MatView {
    pub schema: String,
    pub name: String,
    pub populated: bool,
}

impl MatView {
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// A table constraint as post-data recreates it.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub name: String,
    /// Oid of the constrained table.
    pub table: u32,
    /// `p` primary key, `u` unique, `f` foreign key, `x` exclusion, `c` check, `t` trigger.
    pub kind: char,
    /// For foreign keys: the referenced table.
    pub referenced: u32,
    /// For primary key / unique constraints that can be built as `CREATE UNIQUE INDEX` and then
    /// attached with `ADD CONSTRAINT … USING INDEX` (ordinary, non-partition tables only):
    /// the index definition from `pg_get_indexdef`.
    pub index_def: Option<String>,
    pub deferrable: bool,
    pub initially_deferred: bool,
}

/// A foreign key, column by column (rules that change a key follow it to the referencing
/// columns). For a partitioned table the key is listed once per partition.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub table: u32,
    pub columns: Vec<String>,
    pub referenced_table: u32,
    pub referenced_columns: Vec<String>,
}

/// Everything read from the source inside the snapshot.
#[derive(Debug, Clone, Default)]
pub struct SourceCatalog {
    pub server_version_num: u32,
    pub tables: Vec<Table>,
    pub sequences: Vec<Sequence>,
    pub matviews: Vec<MatView>,
    /// Index oid → the table it belongs to (to schedule index builds per table).
    pub index_tables: std::collections::HashMap<u32, u32>,
    /// Every constraint that post-data creates, by constraint oid.
    pub constraints: std::collections::HashMap<u32, Constraint>,
    pub types: TypeCatalog,
    pub large_objects: Vec<u32>,
    pub large_object_count: u64,
    pub foreign_tables: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Partitioned tables' oid → `schema.table` (they hold no rows themselves).
    pub partitioned: std::collections::HashMap<u32, String>,
    /// Types whose values the binary form does not carry, or no database accepts.
    pub fidelity: Fidelity,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// With the server's message and SQLSTATE (the driver's own text is only "db error").
    #[error("reading the catalog: {}", crate::pgerr::describe(.0))]
    Query(#[from] tokio_postgres::Error),
    #[error("unexpected catalog value: {0}")]
    Unexpected(String),
}
