//! Per-column sanitizer rules: pure, deterministic under a secret key, `Send + Sync`.
//!
//! A rule is one file under `builtin/` plus one line in `registry.rs`. It declares what it
//! accepts and guarantees (`spec::RuleSpec`, also the source of `restage rules explain`), and
//! builds a `ColumnSanitizer` for one column from its parameters. Sanitizers see binary COPY
//! field values and write binary replacements; they never touch tokio, files or the network.

pub mod array;
pub mod builtin;
pub mod checksum;
#[cfg(test)]
mod claim_properties;
pub mod compose;
pub mod detect;
pub mod dictionary;
#[cfg(test)]
mod echo_properties;
pub mod json_scan;
pub mod key;
pub mod registry;
pub mod spec;
#[cfg(test)]
pub mod testing;
pub mod tsvector;
pub mod value;
pub mod when;

pub use compose::{build_column, build_column_in};

pub use key::Key;
pub use spec::oids;
pub use spec::{
    ColumnInfo, ColumnRead, ColumnSanitizer, Ctx, MaxLen, Outcome, OutputSource, ParamKind,
    ParamSpec, RowAccess, Rule, RuleArgs, RuleSpec, SanitizeError, TypeClass, UniqueDomains,
    NO_UNIQUE_DOMAINS,
};
