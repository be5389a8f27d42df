//! Rules files → a validated decision for every copied column → the sanitizers the clone runs.
//!
//! `file` parses (strict, every problem with file, line and column), `resolve` decides each
//! column against the live schema (explicit entry, pattern default, or the mapping of the key
//! it references) and `build` turns decisions into sanitizers after checking each rule fits its
//! column (type, NOT NULL, UNIQUE, varchar(n)). No I/O but reading the files. `suggest` writes
//! the skeleton `restage rules init` starts from.

pub mod diagnostic;
pub mod file;
pub mod resolve;
pub mod run_values;
pub mod schema_text;
pub mod suggest;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use diagnostic::Diagnostic;
pub use file::{Entry, RuleFile};
pub use resolve::{resolve, ColumnDecision, Decided, Origin, Resolution, TableDecisions};

use crate::catalog::{Column, SourceCatalog, Table, TypeCatalog};
use crate::sanitize::dictionary::Dictionary;
use crate::sanitize::{self, ColumnInfo, ColumnSanitizer, TypeClass};

/// Reads and parses every file; all problems of all files together.
pub fn load(paths: &[PathBuf]) -> Result<Vec<RuleFile>, Vec<Diagnostic>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (file, mut p) = file::parse(path, text);
                problems.append(&mut p);
                files.extend(file);
            }
            Err(e) => problems.push(Diagnostic::in_file(path, format!("cannot read: {e}"))),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// Sanitizers per table oid, one slot per column (None: the column passes through as bytes).
pub type Sanitizers = HashMap<u32, Vec<Option<Arc<dyn ColumnSanitizer>>>>;

/// What a rule sees of a catalog column.
pub fn column_info(table: &Table, col: &Column, types: &TypeCatalog) -> ColumnInfo {
    let (scalar, array, is_enum) = types.resolve(col.type_oid);
    let type_name = types.get(scalar).map_or("", |t| t.name.as_str());
    let class = TypeClass::of_scalar(scalar, type_name, is_enum);
    let max_chars = match scalar {
        sanitize::oids::VARCHAR | sanitize::oids::BPCHAR if col.typmod >= 4 && !array => {
            Some((col.typmod - 4) as usize)
        }
        _ => None,
    };
    ColumnInfo {
        table: table.display_name(),
        name: col.name.clone(),
        type_name: col.type_name.clone(),
        class,
        scalar_oid: scalar,
        array,
        max_chars,
        fields: field_infos(&table.display_name(), scalar, types, 0),
        not_null: col.not_null,
        unique: col.unique,
    }
}

/// Deepest composite nesting described to rules (deeper fields are not addressable).
const MAX_FIELD_DEPTH: usize = 16;

/// What a rule sees of the fields of a composite type (nested composites included).
fn field_infos(table: &str, composite: u32, types: &TypeCatalog, depth: usize) -> Vec<ColumnInfo> {
    if depth >= MAX_FIELD_DEPTH {
        return Vec::new();
    }
    types
        .named_fields(composite)
        .into_iter()
        .map(|(name, oid)| {
            let (scalar, array, is_enum) = types.resolve(oid);
            let type_name = types
                .get(scalar)
                .map_or_else(|| builtin_type_name(scalar).to_string(), |t| t.name.clone());
            ColumnInfo {
                table: table.to_string(),
                name: name.to_string(),
                type_name: if array {
                    format!("{type_name}[]")
                } else {
                    type_name.clone()
                },
                class: TypeClass::of_scalar(scalar, &type_name, is_enum),
                scalar_oid: scalar,
                array,
                max_chars: None,
                fields: field_infos(table, scalar, types, depth + 1),
                not_null: false,
                unique: false,
            }
        })
        .collect()
}

/// Names of the built-in scalar types rules know, for messages about composite fields.
fn builtin_type_name(oid: u32) -> &'static str {
    use sanitize::oids;
    match oid {
        oids::BOOL => "boolean",
        oids::BYTEA => "bytea",
        oids::NAME => "name",
        oids::INT8 => "bigint",
        oids::INT2 => "smallint",
        oids::INT4 => "integer",
        oids::TEXT => "text",
        oids::JSON => "json",
        oids::CIDR => "cidr",
        oids::FLOAT4 => "real",
        oids::FLOAT8 => "double precision",
        oids::INET => "inet",
        oids::BPCHAR => "character",
        oids::VARCHAR => "character varying",
        oids::DATE => "date",
        oids::TIMESTAMP => "timestamp without time zone",
        oids::TIMESTAMPTZ => "timestamp with time zone",
        oids::NUMERIC => "numeric",
        oids::UUID => "uuid",
        oids::JSONB => "jsonb",
        _ => "a built-in type",
    }
}

/// Builds the sanitizers of every ruled column, checking each rule against its column and
/// the columns it reads.
pub fn build(
    resolution: &Resolution,
    catalog: &SourceCatalog,
    tables: &[Table],
) -> Result<Sanitizers, Vec<Diagnostic>> {
    build_with(resolution, catalog, tables, None)
}

/// [`build`] with the run's dictionary of production values (for `scrub`).
pub fn build_with(
    resolution: &Resolution,
    catalog: &SourceCatalog,
    tables: &[Table],
    dictionary: Option<&Arc<Dictionary>>,
) -> Result<Sanitizers, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut out = Sanitizers::new();
    let unique_domains: sanitize::UniqueDomains =
        resolution.unique_domains.keys().cloned().collect();
    for table in tables {
        let Some(decisions) = resolution.table(table.oid) else {
            continue;
        };
        let infos: Vec<ColumnInfo> = table
            .columns
            .iter()
            .map(|c| column_info(table, c, &catalog.types))
            .collect();
        let mut slots: Vec<Option<Arc<dyn ColumnSanitizer>>> = vec![None; table.columns.len()];
        for (i, decision) in decisions.columns.iter().enumerate() {
            let Some(decided) = &decision.decided else {
                continue;
            };
            if decision.passes_through() {
                continue;
            }
            let Some(info) = infos.get(i) else { continue };
            // A column following a key maps exactly as the key does: as a unique column (with
            // the same type and length, checked when the rule was propagated). A column whose
            // rule + domain also rules a unique column maps as that one does, so equal values
            // stay equal across the domain.
            let shared_unique = resolution
                .unique_domains
                .get(&decided.mapping())
                .filter(|_| !info.unique);
            let following;
            let info =
                if matches!(decided.origin, Origin::ForeignKey { .. }) || shared_unique.is_some() {
                    following = ColumnInfo {
                        unique: true,
                        ..info.clone()
                    };
                    &following
                } else {
                    info
                };
            let place = |message: String| {
                let mut d = decided
                    .entry
                    .diagnostic(message)
                    .for_column(&decisions.name, Some(&decision.column));
                if let Origin::ForeignKey { references } = &decided.origin {
                    d.message.push_str(&format!(
                        " (applied because the column references {references})"
                    ));
                } else if let Origin::Pattern { glob } = &decided.origin {
                    d.message
                        .push_str(&format!(" (from the default for {glob:?})"));
                }
                if let Some(unique) = shared_unique {
                    d.message.push_str(&format!(
                        " (the column takes the unique form because its domain {:?} also maps \
                         the unique column {unique})",
                        decided.domain
                    ));
                }
                d
            };
            match sanitize::build_column_in(
                &decided.entry.spec,
                info,
                &infos,
                &decided.domain,
                &unique_domains,
                dictionary,
            ) {
                Ok(s) => {
                    for read in s.reads() {
                        if !infos.iter().any(|c| c.name == read.column) {
                            problems.push(place(format!(
                                "reads column {:?}, which this table does not have",
                                read.column
                            )));
                        }
                    }
                    slots[i] = Some(Arc::from(s));
                }
                Err(errors) => problems.extend(errors.into_iter().map(place)),
            }
        }
        problems.extend(read_cycles(table, decisions, &slots));
        out.insert(table.oid, slots);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Rules that read other columns' sanitized values must not read each other in a circle.
fn read_cycles(
    table: &Table,
    decisions: &TableDecisions,
    slots: &[Option<Arc<dyn ColumnSanitizer>>],
) -> Vec<Diagnostic> {
    let index: HashMap<&str, usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let edges: Vec<Vec<usize>> = slots
        .iter()
        .map(|s| {
            s.as_ref().map_or_else(Vec::new, |s| {
                s.reads()
                    .iter()
                    .filter(|r| r.sanitized)
                    .filter_map(|r| index.get(r.column.as_str()).copied())
                    .collect()
            })
        })
        .collect();
    let mut problems = Vec::new();
    for start in 0..edges.len() {
        // Depth-first from `start`; a path back to it is a cycle.
        let mut stack = vec![start];
        let mut seen = vec![false; edges.len()];
        let mut cycle = false;
        while let Some(n) = stack.pop() {
            for &next in &edges[n] {
                if next == start {
                    cycle = true;
                } else if !seen[next] {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        if cycle {
            if let Some(d) = decisions.columns[start].decided.as_ref() {
                problems.push(
                    d.entry
                        .diagnostic("reads sanitized values in a circle (a column whose rule reads this one's sanitized value is read back)")
                        .for_column(&decisions.name, Some(&decisions.columns[start].column)),
                );
            }
        }
    }
    problems
}
