//! Rules against the live schema: every column of every copied table gets a decision (an
//! explicit entry, a pattern default, or the mapping of the key it references), or is listed
//! as undecided. Unknown tables and columns are reported with their place in the file.

use std::collections::{HashMap, HashSet};

use super::diagnostic::Diagnostic;
use super::file::{Entry, RuleFile, Undecided};
use crate::catalog::{select::glob_match, SourceCatalog, Table};
use crate::sanitize::compose::edit_distance;

/// Why a column is treated the way it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Its own entry under `[tables."…".columns]`.
    Explicit,
    /// A `[defaults.columns]` glob.
    Pattern { glob: String },
    /// It references a key whose values a rule changes: the same mapping follows.
    ForeignKey { references: String },
}

#[derive(Debug, Clone)]
pub struct Decided {
    pub entry: Entry,
    /// Mapping domain: equal inputs map alike in every column sharing it.
    pub domain: String,
    pub origin: Origin,
}

impl Decided {
    /// What makes one mapping: the rule and the domain (equal inputs, equal outputs).
    pub fn mapping(&self) -> (String, String) {
        (self.entry.rule().to_string(), self.domain.clone())
    }
}

#[derive(Debug, Clone)]
pub struct ColumnDecision {
    pub column: String,
    pub type_name: String,
    /// None: undecided.
    pub decided: Option<Decided>,
    /// Marked `{ undecided = "…" }` in a rules file (then `decided` is None).
    pub marked: Option<Undecided>,
}

impl ColumnDecision {
    /// The column travels unchanged (kept, or let through undecided).
    pub fn passes_through(&self) -> bool {
        self.decided
            .as_ref()
            .is_none_or(|d| d.entry.is_plain_keep())
    }
}

#[derive(Debug, Clone)]
pub struct TableDecisions {
    pub oid: u32,
    pub name: String,
    /// In the table's column order.
    pub columns: Vec<ColumnDecision>,
}

#[derive(Debug, Clone, Default)]
pub struct Resolution {
    pub tables: Vec<TableDecisions>,
    /// Rule + domain pairs that also rule a unique column (named here): every column mapping
    /// in them takes the unique-preserving form, so equal values stay equal across the domain.
    pub unique_domains: HashMap<(String, String), String>,
}

impl Resolution {
    /// `(table, column, type)` of every column no rule decides.
    pub fn undecided(&self) -> Vec<(String, String, String)> {
        self.tables
            .iter()
            .flat_map(|t| {
                t.columns
                    .iter()
                    .filter(|c| c.decided.is_none())
                    .map(|c| (t.name.clone(), c.column.clone(), c.type_name.clone()))
            })
            .collect()
    }

    /// `table.column (type)` of every column no rule decides, with the place and reason of
    /// its `undecided` mark when it has one.
    pub fn undecided_described(&self) -> Vec<String> {
        self.tables
            .iter()
            .flat_map(|t| {
                t.columns
                    .iter()
                    .filter(|c| c.decided.is_none())
                    .map(|c| match &c.marked {
                        Some(m) => format!(
                            "{}.{} ({}): marked undecided at {}: {}",
                            t.name,
                            c.column,
                            c.type_name,
                            m.place(),
                            m.reason
                        ),
                        None => format!("{}.{} ({})", t.name, c.column, c.type_name),
                    })
            })
            .collect()
    }

    pub fn table(&self, oid: u32) -> Option<&TableDecisions> {
        self.tables.iter().find(|t| t.oid == oid)
    }
}

/// The domain a column's entry maps in: its `domain`, else the rule's name, so the same rule
/// maps equal values alike across columns (joins on sanitized values keep matching).
fn domain_of(entry: &Entry) -> String {
    match entry.spec.get("domain").and_then(toml::Value::as_str) {
        Some(d) => d.to_string(),
        None => entry.rule().to_string(),
    }
}

/// Decides every column of `tables` (the tables whose rows are copied); the problems found
/// come with what could be decided, so later checks can report theirs too.
pub fn resolve(
    files: &[RuleFile],
    catalog: &SourceCatalog,
    tables: &[Table],
) -> (Resolution, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let explicit = explicit_entries(files, catalog, &mut problems);
    let marks = undecided_marks(files, catalog, &explicit, &mut problems);

    let mut resolution = Resolution::default();
    for table in tables {
        let name = table.display_name();
        let own = explicit.get(&name);
        let root = table.partition_root.as_ref().and_then(|r| explicit.get(r));
        let own_marks = marks.get(&name);
        let root_marks = table.partition_root.as_ref().and_then(|r| marks.get(r));
        let columns = table
            .columns
            .iter()
            .map(|col| {
                let marked = own_marks
                    .and_then(|m| m.get(&col.name))
                    .or_else(|| root_marks.and_then(|m| m.get(&col.name)))
                    .cloned();
                if marked.is_some() {
                    // A mark is a person's "not yet": no pattern default decides for them.
                    return ColumnDecision {
                        column: col.name.clone(),
                        type_name: col.type_name.clone(),
                        decided: None,
                        marked,
                    };
                }
                let decided = own
                    .and_then(|m| m.get(&col.name))
                    .or_else(|| root.and_then(|m| m.get(&col.name)))
                    .map(|entry| Decided {
                        domain: domain_of(entry),
                        entry: entry.clone(),
                        origin: Origin::Explicit,
                    })
                    .or_else(|| pattern_for(files, &name, &col.name));
                ColumnDecision {
                    column: col.name.clone(),
                    type_name: col.type_name.clone(),
                    decided,
                    marked: None,
                }
            })
            .collect();
        resolution.tables.push(TableDecisions {
            oid: table.oid,
            name: table.display_name(),
            columns,
        });
    }
    follow_foreign_keys(&mut resolution, catalog, &explicit, files, &mut problems);
    resolution.unique_domains = unique_domains(files, &explicit, catalog, &resolution);
    (resolution, problems)
}

/// A column's own entry (or its partition root's), else the first matching pattern default.
fn decide(
    files: &[RuleFile],
    explicit: &HashMap<String, HashMap<String, Entry>>,
    table: &Table,
    column: &str,
) -> Option<Decided> {
    let name = table.display_name();
    let root = table.partition_root.as_ref().and_then(|r| explicit.get(r));
    explicit
        .get(&name)
        .and_then(|m| m.get(column))
        .or_else(|| root.and_then(|m| m.get(column)))
        .map(|entry| Decided {
            domain: domain_of(entry),
            entry: entry.clone(),
            origin: Origin::Explicit,
        })
        .or_else(|| pattern_for(files, &name, column))
}

/// Rule + domain pairs that change the values of a unique column anywhere in the source (not
/// only in the tables of this run, so a subset maps as a full clone does), or of a column
/// following a key, with the first such column.
fn unique_domains(
    files: &[RuleFile],
    explicit: &HashMap<String, HashMap<String, Entry>>,
    catalog: &SourceCatalog,
    resolution: &Resolution,
) -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    for table in &catalog.tables {
        for col in table.columns.iter().filter(|c| c.unique) {
            if let Some(d) = decide(files, explicit, table, &col.name) {
                // A rule that cannot keep values distinct is refused on the unique column
                // itself; it says nothing about the other columns of its domain.
                let preserving = crate::sanitize::registry::lookup(d.entry.rule())
                    .is_some_and(|r| r.spec().unique_preserving);
                if preserving && !d.entry.is_plain_keep() {
                    out.entry(d.mapping())
                        .or_insert_with(|| format!("{}.{}", table.display_name(), col.name));
                }
            }
        }
    }
    for table in &resolution.tables {
        for c in &table.columns {
            if let Some(d) = &c.decided {
                if matches!(d.origin, Origin::ForeignKey { .. }) {
                    out.entry(d.mapping())
                        .or_insert_with(|| format!("{}.{}", table.name, c.column));
                }
            }
        }
    }
    out
}

/// Each table's columns by `schema.table`: plain tables and partitioned tables (whose
/// columns are their partitions').
fn known_columns(catalog: &SourceCatalog) -> HashMap<String, Vec<&str>> {
    let mut known: HashMap<String, Vec<&str>> = HashMap::new();
    for t in &catalog.tables {
        known
            .entry(t.display_name())
            .or_default()
            .extend(t.columns.iter().map(|c| c.name.as_str()));
        if let Some(root) = &t.partition_root {
            let cols = known.entry(root.clone()).or_default();
            for c in &t.columns {
                if !cols.contains(&c.name.as_str()) {
                    cols.push(c.name.as_str());
                }
            }
        }
    }
    known
}

/// `{ undecided = "…" }` marks by `schema.table` → column, checked against the catalog and
/// against entries deciding the same column (unknown tables are reported with the entries).
fn undecided_marks(
    files: &[RuleFile],
    catalog: &SourceCatalog,
    explicit: &HashMap<String, HashMap<String, Entry>>,
    problems: &mut Vec<Diagnostic>,
) -> HashMap<String, HashMap<String, Undecided>> {
    let known = known_columns(catalog);
    let mut out: HashMap<String, HashMap<String, Undecided>> = HashMap::new();
    for file in files {
        for section in &file.tables {
            let Some(columns) = known.get(&section.name) else {
                continue;
            };
            for (col, mark) in &section.undecided {
                let at = |message: String| Diagnostic {
                    file: mark.file.clone(),
                    line: mark.line,
                    column: mark.column,
                    table: Some(section.name.clone()),
                    column_name: Some(col.clone()),
                    message,
                };
                if !columns.contains(&col.as_str()) {
                    let hint = closest(columns.iter().copied(), col);
                    problems.push(at(format!("no column {col:?} in this table{hint}")));
                    continue;
                }
                let decided = explicit.get(&section.name).and_then(|m| m.get(col));
                let slot = out.entry(section.name.clone()).or_default();
                let first = decided
                    .map(|e| format!("{}:{}:{}", e.file.display(), e.line, e.column))
                    .or_else(|| slot.get(col).map(Undecided::place));
                if let Some(first) = first {
                    problems.push(at(format!(
                        "marked undecided, but also entered at {first}; keep one entry"
                    )));
                    continue;
                }
                slot.insert(col.clone(), mark.clone());
            }
        }
    }
    out
}

/// Explicit entries by `schema.table` → column, checked against the catalog.
fn explicit_entries(
    files: &[RuleFile],
    catalog: &SourceCatalog,
    problems: &mut Vec<Diagnostic>,
) -> HashMap<String, HashMap<String, Entry>> {
    let known = known_columns(catalog);
    let mut out: HashMap<String, HashMap<String, Entry>> = HashMap::new();
    for file in files {
        for section in &file.tables {
            let Some(columns) = known.get(&section.name) else {
                let hint = closest(known.keys().map(String::as_str), &section.name);
                problems.push(
                    Diagnostic::at(
                        &file.path,
                        &file.text,
                        section.entry_offset,
                        format!("no table {} in the source{hint}", section.name),
                    )
                    .for_column(&section.name, None),
                );
                continue;
            };
            for (col, entry) in &section.columns {
                if !columns.contains(&col.as_str()) {
                    let hint = closest(columns.iter().copied(), col);
                    problems.push(
                        entry
                            .diagnostic(format!("no column {col:?} in this table{hint}"))
                            .for_column(&section.name, Some(col)),
                    );
                    continue;
                }
                let slot = out.entry(section.name.clone()).or_default();
                if let Some(first) = slot.get(col) {
                    problems.push(
                        entry
                            .diagnostic(format!(
                                "decided twice: already at {}:{}:{}",
                                first.file.display(),
                                first.line,
                                first.column
                            ))
                            .for_column(&section.name, Some(col)),
                    );
                    continue;
                }
                slot.insert(col.clone(), entry.clone());
            }
        }
    }
    out
}

fn closest<'a>(candidates: impl Iterator<Item = &'a str>, name: &str) -> String {
    candidates
        .map(|c| (edit_distance(&c.to_lowercase(), &name.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

/// The first `[defaults.columns]` glob, in file order, matching the column name, or
/// `table.column` / `schema.table.column` when the glob has dots.
fn pattern_for(files: &[RuleFile], table: &str, column: &str) -> Option<Decided> {
    let short_table = table.split_once('.').map_or(table, |(_, t)| t);
    files.iter().flat_map(|f| &f.defaults).find_map(|p| {
        let hit = match p.glob.matches('.').count() {
            0 => glob_match(&p.glob, column),
            1 => glob_match(&p.glob, &format!("{short_table}.{column}")),
            _ => glob_match(&p.glob, &format!("{table}.{column}")),
        };
        hit.then(|| Decided {
            domain: domain_of(&p.entry),
            entry: p.entry.clone(),
            origin: Origin::Pattern {
                glob: p.glob.clone(),
            },
        })
    })
}

/// A rule that changes a referenced key's values applies to the referencing columns too, with
/// the same domain, so foreign keys still validate. Repeats until chains settle.
fn follow_foreign_keys(
    resolution: &mut Resolution,
    catalog: &SourceCatalog,
    explicit: &HashMap<String, HashMap<String, Entry>>,
    files: &[RuleFile],
    problems: &mut Vec<Diagnostic>,
) {
    let name_of = |oid: u32| -> Option<String> {
        catalog
            .tables
            .iter()
            .find(|t| t.oid == oid)
            .map(Table::display_name)
            .or_else(|| catalog.partitioned.get(&oid).cloned())
    };
    // The column of the table `oid`, or of any partition when `oid` is a partitioned table.
    // A plain table has no partitions: matching the partition root of every table would then
    // match all tables without one, and take the first same-named column of any of them.
    let type_of = |oid: u32, column: &str| -> Option<(u32, i32)> {
        let root = catalog.partitioned.get(&oid);
        catalog
            .tables
            .iter()
            .filter(|t| t.oid == oid || root.is_some_and(|r| t.partition_root.as_ref() == Some(r)))
            .flat_map(|t| &t.columns)
            .find(|c| c.name == column)
            .map(|c| (c.type_oid, c.typmod))
    };
    let mut reported = HashSet::new();
    for _round in 0..16 {
        let mut changed = false;
        for fk in &catalog.foreign_keys {
            let Some(ti) = resolution.tables.iter().position(|t| t.oid == fk.table) else {
                continue;
            };
            let Some(ref_name) = name_of(fk.referenced_table) else {
                continue;
            };
            for (col, ref_col) in fk.columns.iter().zip(&fk.referenced_columns) {
                let referenced = decision_of(
                    resolution,
                    explicit,
                    files,
                    fk.referenced_table,
                    &ref_name,
                    ref_col,
                );
                let Some(referenced) = referenced.filter(|d| !d.entry.is_plain_keep()) else {
                    continue;
                };
                let table = &mut resolution.tables[ti];
                let Some(ci) = table.columns.iter().position(|c| &c.column == col) else {
                    continue;
                };
                let here = &table.columns[ci];
                if here.marked.is_some() {
                    // Left for a person to decide; it stays undecided (and listed) until then.
                    continue;
                }
                let same = here.decided.as_ref().is_some_and(|d| {
                    d.entry.spec == referenced.entry.spec && d.domain == referenced.domain
                });
                if same {
                    continue;
                }
                let place = format!("{ref_name}.{ref_col}");
                let explicit_here = matches!(
                    here.decided.as_ref().map(|d| &d.origin),
                    Some(Origin::Explicit)
                );
                if explicit_here {
                    if reported.insert((table.name.clone(), col.clone())) {
                        let d = here.decided.as_ref().map(|d| d.entry.clone());
                        if let Some(entry) = d {
                            problems.push(
                                entry
                                    .diagnostic(format!(
                                        "references {place}, whose rule `{}` changes its values; \
                                         remove this entry: the same mapping is applied to \
                                         referencing columns automatically",
                                        referenced.entry.rule()
                                    ))
                                    .for_column(&table.name, Some(col)),
                            );
                        }
                    }
                    continue;
                }
                let types = (
                    type_of(fk.table, col),
                    type_of(fk.referenced_table, ref_col),
                );
                if types.0 != types.1 && reported.insert((table.name.clone(), col.clone())) {
                    problems.push(
                        referenced
                            .entry
                            .diagnostic(format!(
                                "the rule on {place} would have to follow the foreign key from \
                                 {}.{col}, whose type differs; give both columns the same type \
                                 or keep the key",
                                table.name
                            ))
                            .for_column(&ref_name, Some(ref_col)),
                    );
                    continue;
                }
                table.columns[ci].decided = Some(Decided {
                    entry: referenced.entry.clone(),
                    domain: referenced.domain.clone(),
                    origin: Origin::ForeignKey { references: place },
                });
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// The decision for a referenced column: from the resolution when the table is copied, else
/// from the rules as written (partitioned parents, tables created empty).
fn decision_of(
    resolution: &Resolution,
    explicit: &HashMap<String, HashMap<String, Entry>>,
    files: &[RuleFile],
    oid: u32,
    name: &str,
    column: &str,
) -> Option<Decided> {
    if let Some(t) = resolution.table(oid) {
        return t
            .columns
            .iter()
            .find(|c| c.column == column)
            .and_then(|c| c.decided.clone());
    }
    explicit
        .get(name)
        .and_then(|m| m.get(column))
        .map(|entry| Decided {
            domain: domain_of(entry),
            entry: entry.clone(),
            origin: Origin::Explicit,
        })
        .or_else(|| pattern_for(files, name, column))
}
