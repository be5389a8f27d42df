//! A parsed plan checked against the target and turned into generators: tables in
//! foreign-key order, row counts, one generator per column. Every problem (unknown table or
//! column, a generator that does not fit, a column nothing can fill, a parent without rows, a
//! cycle through NOT NULL keys) is collected before any row is written.
//!
//! A cycle of foreign keys between the plan's tables is broken at nullable keys: those are
//! written NULL and set in a second pass once every table's rows are in (`Closing`), so they
//! still point at generated rows. The columns of a multi-column key come from one parent row.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio_postgres::Client;

use super::columns::{sequence_fits, stream, Gen};
use super::plan::{qualify, ColumnEntry, Count, SeedPlan, TableEntry};
use super::rows::{Closing, Seeder, TableGen};
use super::suggest::{suggest, Suggestion};
use super::target::{self, ColumnFacts, Facts};
use crate::catalog::{ForeignKey, SourceCatalog, Table};
use crate::rules::column_info;
use crate::rules::diagnostic::Diagnostic;
use crate::sanitize::spec::{ColumnInfo, TypeClass};
use crate::sanitize::{compose, value};

/// Everything that can go wrong: plan problems (each at its place) or a database error.
pub enum ResolveError {
    Plan(Vec<Diagnostic>),
    Database(String),
}

impl From<tokio_postgres::Error> for ResolveError {
    fn from(e: tokio_postgres::Error) -> Self {
        ResolveError::Database(crate::pgerr::describe(&e))
    }
}

struct Ctx<'a> {
    plan: &'a SeedPlan,
    catalog: &'a SourceCatalog,
    facts: &'a Facts,
    client: &'a Client,
    problems: Vec<Diagnostic>,
    /// Plan table name → index in generation order.
    order: HashMap<String, usize>,
    /// Foreign keys closed in the second pass, by (table oid, columns).
    deferred: HashSet<(u32, Vec<String>)>,
    /// Their columns as the tables are resolved, turned into `Closing`s at the end.
    pending: Vec<Pending<'a>>,
}

/// A deferred foreign key of one generated table, before its parent is resolved.
struct Pending<'a> {
    /// Index of the table in generation order.
    table: usize,
    entry: &'a TableEntry,
    fk: &'a ForeignKey,
    /// Position of each column in the written columns, and the parent column it takes.
    columns: Vec<(usize, String)>,
}

/// How a foreign key between two of the plan's tables orders them.
#[derive(PartialEq)]
enum Edge {
    /// Its values need no generated parent (a column set NULL, existing rows).
    Free,
    /// The parent's rows first, unless a cycle needs the key closed in the second pass.
    Closable,
    /// The parent's rows first.
    Required,
}

/// Resolves `plan` against the target behind `client` under `seed`.
pub async fn resolve(
    plan: &SeedPlan,
    catalog: &SourceCatalog,
    facts: &Facts,
    client: &Client,
    seed: u64,
) -> Result<Seeder, ResolveError> {
    let mut cx = Ctx {
        plan,
        catalog,
        facts,
        client,
        problems: Vec::new(),
        order: HashMap::new(),
        deferred: HashSet::new(),
        pending: Vec::new(),
    };
    let key = Seeder::key_for(seed);
    let entries = cx.ordered_tables();
    if !cx.problems.is_empty() {
        return Err(ResolveError::Plan(cx.problems));
    }
    let mut tables: Vec<TableGen> = Vec::new();
    for (i, (entry, table)) in entries.iter().enumerate() {
        cx.order.insert(entry.name.clone(), i);
        let (rows, parent_offsets) = match &entry.count {
            Count::Rows(n) => (*n, None),
            Count::PerParent { parent, min, max } => match cx.order.get(parent) {
                Some(&p) if p < i => {
                    let parents = tables[p].rows;
                    let mut offsets = Vec::with_capacity(parents as usize + 1);
                    let mut total = 0u64;
                    offsets.push(0);
                    for r in 0..parents {
                        total +=
                            min + stream(&key, "per_parent", &entry.name, r).below(max - min + 1);
                        offsets.push(total);
                    }
                    (total, Some(offsets))
                }
                _ => {
                    cx.problems.push(
                        plan.at(entry.line, entry.column, format!(
                            "`per_parent` names {parent}, which this plan does not generate rows for"
                        ))
                        .for_column(&entry.name, None),
                    );
                    continue;
                }
            },
        };
        match cx.table_gen(entry, table, rows, &tables).await? {
            Some(mut gen) => {
                gen.parent_offsets = parent_offsets;
                tables.push(gen);
            }
            None => {
                // Keep indexes aligned with `order`: a placeholder that is never run.
                tables.push(TableGen {
                    table: (*table).clone(),
                    gens: Vec::new(),
                    domains: Vec::new(),
                    rows: 0,
                    parent_offsets: None,
                    reads_row: false,
                    closing: Vec::new(),
                });
            }
        }
    }
    for pending in std::mem::take(&mut cx.pending) {
        if let Some(closing) = cx.closing(&pending, &tables) {
            tables[pending.table].closing.push(closing);
        }
    }
    if !cx.problems.is_empty() {
        return Err(ResolveError::Plan(cx.problems));
    }
    Ok(Seeder::new(key, tables))
}

impl<'a> Ctx<'a> {
    fn table_named(&self, name: &str) -> Option<&'a Table> {
        self.catalog
            .tables
            .iter()
            .find(|t| t.display_name() == name)
    }

    /// The plan's tables, parents before children (foreign keys between plan tables and
    /// `per_parent`). A cycle is broken at closable keys (nullable, see `edge`): the first
    /// table in plan order whose other parents are all placed goes first, and its keys to
    /// tables not yet placed are deferred to the second pass, as are closable
    /// self-references. A cycle through NOT NULL keys is refused.
    fn ordered_tables(&mut self) -> Vec<(&'a TableEntry, &'a Table)> {
        let mut found = Vec::new();
        for entry in &self.plan.tables {
            match self.table_named(&entry.name) {
                Some(t) => found.push((entry, t)),
                None => {
                    let hint = closest(
                        self.catalog.tables.iter().map(|t| t.display_name()),
                        &entry.name,
                    );
                    self.problems.push(self.plan.at(
                        entry.line,
                        entry.column,
                        format!("no table {}{hint} in the target", entry.name),
                    ));
                }
            }
        }
        let index: HashMap<u32, usize> = found
            .iter()
            .enumerate()
            .map(|(i, (_, t))| (t.oid, i))
            .collect();
        let mut after: Vec<HashSet<usize>> = vec![HashSet::new(); found.len()];
        let mut closable: Vec<Vec<(usize, &'a ForeignKey)>> = vec![Vec::new(); found.len()];
        for (i, (entry, t)) in found.iter().enumerate() {
            if let Count::PerParent { parent, .. } = &entry.count {
                if let Some(p) = found.iter().position(|(e, _)| &e.name == parent) {
                    after[i].insert(p);
                }
            }
            for fk in self.fks_of(t.oid) {
                let Some(&p) = index.get(&fk.referenced_table) else {
                    continue;
                };
                match self.edge(entry, t, fk) {
                    Edge::Closable if p == i => {
                        self.deferred.insert(fk_id(fk));
                    }
                    // A NOT NULL self-reference points at rows already in the target.
                    Edge::Free | Edge::Required if p == i => {}
                    Edge::Free => {}
                    Edge::Closable => closable[i].push((p, fk)),
                    Edge::Required => {
                        after[i].insert(p);
                    }
                }
            }
        }
        let mut order = Vec::new();
        let mut done = vec![false; found.len()];
        while order.len() < found.len() {
            let placeable = |i: usize| !done[i] && after[i].iter().all(|&p| done[p]);
            let ready = (0..found.len())
                .find(|&i| placeable(i) && closable[i].iter().all(|&(p, _)| done[p]))
                .or_else(|| (0..found.len()).find(|&i| placeable(i)));
            let Some(i) = ready else {
                let stuck: Vec<String> = (0..found.len())
                    .filter(|&i| !done[i])
                    .map(|i| found[i].0.name.clone())
                    .collect();
                let first = found[(0..found.len()).find(|&i| !done[i]).unwrap_or(0)].0;
                self.problems.push(self.plan.at(
                    first.line,
                    first.column,
                    format!(
                        "the foreign keys between {} form a cycle through NOT NULL columns: \
                         no order lets every row reference an existing one",
                        stuck.join(", ")
                    ),
                ));
                break;
            };
            for &(p, fk) in &closable[i] {
                if !done[p] {
                    self.deferred.insert(fk_id(fk));
                }
            }
            done[i] = true;
            order.push(found[i]);
        }
        order
    }

    fn fks_of(&self, table: u32) -> impl Iterator<Item = &'a ForeignKey> + 'a {
        self.catalog
            .foreign_keys
            .iter()
            .filter(move |fk| fk.table == table)
    }

    /// How `fk` (of `table`, to another plan table) orders the tables. A column the plan
    /// sets NULL makes the key reference nothing (MATCH SIMPLE), and rows already in the
    /// target need no order. A key is closable when every column is nullable and either left
    /// to the default or a `reference` to the generated rows of the key's table.
    fn edge(&self, entry: &TableEntry, table: &Table, fk: &ForeignKey) -> Edge {
        let specs: Vec<Option<&ColumnEntry>> = fk
            .columns
            .iter()
            .map(|c| entry.columns.iter().find(|e| &e.name == c))
            .collect();
        let existing =
            |e: &ColumnEntry| e.spec.get("existing").and_then(toml::Value::as_bool) == Some(true);
        if specs.iter().flatten().any(|e| e.rule() == "null")
            || specs
                .iter()
                .all(|e| e.is_some_and(|e| e.rule() == "reference" && existing(e)))
        {
            return Edge::Free;
        }
        let parent = self
            .catalog
            .tables
            .iter()
            .find(|t| t.oid == fk.referenced_table)
            .map(Table::display_name);
        let closable = fk.columns.iter().zip(&specs).all(|(c, spec)| {
            let nullable = table
                .columns
                .iter()
                .any(|col| &col.name == c && !col.not_null);
            nullable
                && spec.is_none_or(|e| {
                    e.rule() == "reference"
                        && !existing(e)
                        && e.spec
                            .get("table")
                            .and_then(toml::Value::as_str)
                            .map(qualify)
                            == parent
                })
        });
        if closable {
            Edge::Closable
        } else {
            Edge::Required
        }
    }

    fn is_deferred(&self, fk: &ForeignKey) -> bool {
        self.deferred.contains(&fk_id(fk))
    }

    /// The foreign key a column's value is drawn for when it is in several: the widest (its
    /// row fixes the most columns, and a parent row holds valid narrower keys), then one whose
    /// columns are all NOT NULL (it must hold), then by referenced table and columns, so every
    /// run picks the same. A key with a nullable column whose parent has no rows (`empty`)
    /// is left to that column being NULL and draws nothing.
    fn owner(&self, table: &Table, column: &str, empty: &HashSet<u32>) -> Option<&'a ForeignKey> {
        let not_null = |fk: &ForeignKey| {
            fk.columns.iter().all(|c| {
                table
                    .columns
                    .iter()
                    .any(|col| &col.name == c && col.not_null)
            })
        };
        self.fks_of(table.oid)
            .filter(|fk| fk.columns.iter().any(|c| c == column))
            .filter(|fk| not_null(fk) || !empty.contains(&fk.referenced_table))
            .max_by_key(|fk| {
                (
                    fk.columns.len(),
                    not_null(fk),
                    Reverse((self.name_of(fk.referenced_table), fk.columns.clone())),
                )
            })
    }

    /// Tables `table` references that neither this plan nor the target gives a row.
    async fn empty_parents(&self, table: &Table) -> Result<HashSet<u32>, ResolveError> {
        let mut empty = HashSet::new();
        for fk in self.fks_of(table.oid) {
            let name = self.name_of(fk.referenced_table);
            let generated = self
                .plan
                .tables
                .iter()
                .any(|e| e.name == name && e.count != Count::Rows(0));
            let Some(parent) = self.table_named(&name) else {
                continue;
            };
            if !generated && !target::has_rows(self.client, &parent.qualified()).await? {
                empty.insert(fk.referenced_table);
            }
        }
        Ok(empty)
    }

    fn name_of(&self, oid: u32) -> String {
        self.catalog
            .tables
            .iter()
            .find(|t| t.oid == oid)
            .map(Table::display_name)
            .unwrap_or_default()
    }

    /// Whether some column of `fk` is drawn for another key: the row drawn for `fk` cannot
    /// fix that column too.
    fn overlapped(&self, table: &Table, fk: &ForeignKey, empty: &HashSet<u32>) -> bool {
        fk.columns.iter().any(|c| {
            self.owner(table, c, empty)
                .is_some_and(|owner| !std::ptr::eq(owner, fk))
        })
    }

    /// Records column `position` (written columns) of a deferred key of the table being
    /// resolved (index `table`), taking `parent_column` of the parent row.
    fn defer(
        &mut self,
        table: usize,
        entry: &'a TableEntry,
        fk: &'a ForeignKey,
        position: usize,
        parent_column: String,
    ) {
        let at = self
            .pending
            .iter()
            .position(|p| p.table == table && std::ptr::eq(p.fk, fk));
        let at = at.unwrap_or_else(|| {
            self.pending.push(Pending {
                table,
                entry,
                fk,
                columns: Vec::new(),
            });
            self.pending.len() - 1
        });
        self.pending[at].columns.push((position, parent_column));
    }

    /// The second pass of a deferred key, once every table is resolved; None when the parent
    /// gets no rows (the key stays NULL) or on a problem (recorded).
    fn closing(&mut self, pending: &Pending<'a>, tables: &[TableGen]) -> Option<Closing> {
        let entry = pending.entry;
        let columns = pending.fk.columns.join(", ");
        let parent_name = self.name_of(pending.fk.referenced_table);
        let parent = *self.order.get(&parent_name)?;
        let own = &tables[pending.table];
        if tables[parent].rows == 0 || own.rows == 0 {
            return None;
        }
        let mut problem = |message: String| {
            self.problems.push(
                self.plan
                    .at(entry.line, entry.column, message)
                    .for_column(&entry.name, None),
            );
        };
        let mut parent_columns = Vec::new();
        for (_, name) in &pending.columns {
            match tables[parent]
                .table
                .columns
                .iter()
                .position(|c| &c.name == name)
            {
                Some(at) => parent_columns.push(at),
                None => {
                    problem(format!(
                        "({columns}) closes a foreign-key cycle and must point at generated rows \
                         of {parent_name}, but {parent_name}.{name} is left to the database; give \
                         it a generator, or set ({columns}) to \"null\""
                    ));
                    return None;
                }
            }
        }
        let key: Option<Vec<usize>> = own
            .table
            .primary_key
            .iter()
            .map(|k| own.table.columns.iter().position(|c| &c.name == k))
            .collect();
        let key = match key {
            Some(key) if !key.is_empty() => key,
            _ => {
                problem(format!(
                    "({columns}) closes a foreign-key cycle and is set after every table is \
                     written, row by row through the primary key, which this plan does not \
                     generate (none, or left to the database); give its columns a generator, or \
                     set ({columns}) to \"null\""
                ));
                return None;
            }
        };
        Some(Closing {
            key,
            columns: pending.columns.iter().map(|(at, _)| *at).collect(),
            parent,
            parent_columns,
            domain: format!("fk {} ({columns})", entry.name),
        })
    }

    async fn table_gen(
        &mut self,
        entry: &'a TableEntry,
        table: &Table,
        rows: u64,
        done: &[TableGen],
    ) -> Result<Option<TableGen>, ResolveError> {
        let qualified = table.qualified();
        for c in &entry.columns {
            if !table.columns.iter().any(|col| col.name == c.name) {
                let hint = closest(table.columns.iter().map(|c| c.name.clone()), &c.name);
                self.problems.push(
                    self.plan
                        .at(
                            c.line,
                            c.column,
                            format!("no such column{hint} (or it is generated)"),
                        )
                        .for_column(&entry.name, Some(&c.name)),
                );
            }
        }
        let infos: Vec<ColumnInfo> = table
            .columns
            .iter()
            .map(|c| column_info(table, c, &self.catalog.types))
            .collect();
        let has_rows = target::has_rows(self.client, &qualified).await?;
        let empty = self.empty_parents(table).await?;
        let mut kept = Vec::new();
        let mut gens = Vec::new();
        let mut domains = Vec::new();
        let mut reads_row = false;
        let no_facts = ColumnFacts::default();
        for (col, info) in table.columns.iter().zip(&infos) {
            let facts = self
                .facts
                .get(&(table.oid, col.name.clone()))
                .unwrap_or(&no_facts);
            let explicit = entry.columns.iter().find(|c| c.name == col.name);
            let deferred = self
                .fks_of(table.oid)
                .find(|fk| fk.columns.contains(&col.name) && self.is_deferred(fk));
            if let Some(fk) = deferred {
                // NULL now, the parent row's key in the second pass.
                let at = fk.columns.iter().position(|c| c == &col.name).unwrap_or(0);
                let parent_column = explicit
                    .and_then(|e| e.spec.get("column"))
                    .and_then(toml::Value::as_str)
                    .map_or_else(|| fk.referenced_columns[at].clone(), str::to_string);
                self.defer(done.len(), entry, fk, kept.len(), parent_column);
                kept.push(col.clone());
                gens.push(Gen::Null);
                domains.push(String::new());
                continue;
            }
            let fk = self.owner(table, &col.name, &empty);
            let (spec, place) = match explicit {
                Some(e) => (e.spec.clone(), Some(e)),
                None => {
                    let referenced = fk.and_then(|fk| {
                        self.catalog
                            .tables
                            .iter()
                            .find(|t| t.oid == fk.referenced_table)
                            .map(Table::display_name)
                    });
                    // A nullable column of a key whose other columns are drawn for another key
                    // stays NULL: the key then references nothing (MATCH SIMPLE), where a
                    // value of its own would pair with another row's.
                    // So does one of a key to a table without rows.
                    let parent_empty = fk.is_none()
                        && self
                            .fks_of(table.oid)
                            .any(|k| k.columns.contains(&col.name));
                    let overlapped = fk.is_some_and(|fk| self.overlapped(table, fk, &empty));
                    if (parent_empty || overlapped) && !info.not_null {
                        kept.push(col.clone());
                        gens.push(Gen::Null);
                        domains.push(String::new());
                        continue;
                    }
                    match suggest(info, facts, referenced.as_deref()) {
                        Suggestion::Generate(spec, _) => (spec, None),
                        Suggestion::Database(_) => continue,
                        Suggestion::Impossible(why) => {
                            self.problems.push(
                                self.plan
                                    .at(
                                        entry.line,
                                        entry.column,
                                        format!(
                                        "column {} cannot be generated: {why}; name a generator \
                                         in [tables.\"{}\".columns]",
                                        col.name, entry.name
                                    ),
                                    )
                                    .for_column(&entry.name, Some(&col.name)),
                            );
                            continue;
                        }
                    }
                }
            };
            let domain = spec
                .get("domain")
                .and_then(toml::Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}.{}", entry.name, col.name));
            let built = self
                .column_gen(
                    entry,
                    table,
                    info,
                    facts,
                    fk,
                    &spec,
                    rows,
                    has_rows,
                    done,
                    place.is_some(),
                )
                .await?;
            match built {
                Ok((gen, draw_domain)) => {
                    if let Gen::Rule { sanitizer, .. } = &gen {
                        reads_row |= !sanitizer.reads().is_empty();
                    }
                    kept.push(col.clone());
                    gens.push(gen);
                    domains.push(draw_domain.unwrap_or(domain));
                }
                Err(problems) => {
                    for p in problems {
                        let (line, column) =
                            place.map_or((entry.line, entry.column), |e| (e.line, e.column));
                        self.problems.push(
                            self.plan
                                .at(line, column, p)
                                .for_column(&entry.name, Some(&col.name)),
                        );
                    }
                }
            }
        }
        let mut written = table.clone();
        written.columns = kept;
        Ok(Some(TableGen {
            table: written,
            gens,
            domains,
            rows,
            parent_offsets: None,
            reads_row,
            closing: Vec::new(),
        }))
    }

    /// One column's generator from its entry; the domain its draws use when it is not the
    /// column's own (the columns of one composite foreign key draw the same parent row).
    #[allow(clippy::too_many_arguments)]
    async fn column_gen(
        &self,
        entry: &TableEntry,
        table: &Table,
        info: &ColumnInfo,
        facts: &ColumnFacts,
        fk: Option<&ForeignKey>,
        spec: &toml::Table,
        rows: u64,
        has_rows: bool,
        done: &[TableGen],
        explicit: bool,
    ) -> Result<Result<(Gen, Option<String>), Vec<String>>, ResolveError> {
        let rule = spec.get("rule").and_then(toml::Value::as_str).unwrap_or("");
        let str_of = |k: &str| spec.get(k).and_then(toml::Value::as_str);
        let num_of = |k: &str| {
            spec.get(k)
                .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        };
        let one = |m: String| Ok(Err(vec![m]));
        let oid = info.scalar_oid;
        Ok(Ok(match rule {
            "sequence" => {
                if info.class != TypeClass::Integer || info.array {
                    return one(format!(
                        "`sequence` needs an integer column, not {}",
                        info.type_name
                    ));
                }
                let step = spec
                    .get("step")
                    .and_then(toml::Value::as_integer)
                    .unwrap_or(1);
                let start = match (
                    spec.get("start").and_then(toml::Value::as_integer),
                    &facts.sequence,
                ) {
                    (Some(s), _) => s,
                    (None, Some(seq)) if step == 1 => {
                        target::reserve(self.client, seq, &table.qualified(), &info.name, rows)
                            .await?
                    }
                    _ => {
                        target::next_after_max(self.client, &table.qualified(), &info.name).await?
                    }
                };
                if !sequence_fits(oid, start, step, rows) {
                    return one(format!(
                        "{rows} rows need more distinct values than {} holds from {start}",
                        info.type_name
                    ));
                }
                (Gen::Sequence { start, step, oid }, None)
            }
            "decimal_range" => {
                let (Some(min), Some(max)) = (num_of("min"), num_of("max")) else {
                    return one("`min` and `max` must be numbers".into());
                };
                if info.class != TypeClass::Numeric || min > max {
                    return one(format!(
                        "`decimal_range` needs a numeric column and min ≤ max (column is {})",
                        info.type_name
                    ));
                }
                let scale = spec
                    .get("scale")
                    .and_then(toml::Value::as_integer)
                    .unwrap_or(2);
                (
                    Gen::Decimal {
                        min,
                        max,
                        scale: scale.clamp(0, 30) as u32,
                        oid,
                    },
                    None,
                )
            }
            "date_range" | "timestamp_range" => {
                let date = rule == "date_range";
                let parse = |k: &str| -> Result<i64, String> {
                    let s = str_of(k).ok_or_else(|| format!("`{k}` must be a string"))?;
                    if date {
                        value::parse_date(s)
                    } else {
                        value::parse_timestamp(s)
                    }
                };
                let (min, max) = match (parse("min"), parse("max")) {
                    (Ok(a), Ok(b)) if a <= b => (a, b),
                    (Err(e), _) | (_, Err(e)) => return one(e),
                    _ => return one("`min` is after `max`".into()),
                };
                match (date, info.class) {
                    (true, TypeClass::Date) => (Gen::Date { min, max }, None),
                    (false, TypeClass::Timestamp) => (Gen::Timestamp { min, max }, None),
                    _ => return one(format!("`{rule}` does not fit a {} column", info.type_name)),
                }
            }
            "reference" => {
                let parent_name = str_of("table").map(|t| {
                    if t.contains('.') {
                        t.to_string()
                    } else {
                        format!("public.{t}")
                    }
                });
                let Some(parent_name) = parent_name else {
                    return one("`table` must be a string".into());
                };
                let Some(parent) = self.table_named(&parent_name) else {
                    return one(format!("no table {parent_name} in the target"));
                };
                let (parent_col, draw_domain, key) = match (str_of("column"), fk) {
                    (Some(c), _) => (c.to_string(), None, None),
                    (None, Some(fk)) if fk.referenced_table == parent.oid => {
                        let at = fk.columns.iter().position(|c| c == &info.name).unwrap_or(0);
                        (
                            fk.referenced_columns[at].clone(),
                            Some(format!("fk {} ({})", entry.name, fk.columns.join(", "))),
                            Some((fk, at)),
                        )
                    }
                    _ if parent.primary_key.len() == 1 => {
                        (parent.primary_key[0].clone(), None, None)
                    }
                    _ => return one(format!("say which `column` of {parent_name} to reference")),
                };
                // The columns of one key share its `existing` and `where`: one row for all.
                let (existing, filter) = match key {
                    Some((fk, _)) => key_reference(entry, fk),
                    None => (
                        spec.get("existing").and_then(toml::Value::as_bool),
                        str_of("where").map(str::to_string),
                    ),
                };
                let filter = filter.as_deref();
                let generated = self
                    .order
                    .get(&parent_name)
                    .copied()
                    .filter(|&p| p < done.len());
                let per_parent = matches!(&entry.count, Count::PerParent { parent, .. } if parent == &parent_name);
                match (generated, existing) {
                    (Some(p), None | Some(false)) => {
                        let Some(c) = done[p]
                            .table
                            .columns
                            .iter()
                            .position(|c| c.name == parent_col)
                        else {
                            return one(format!(
                                "{parent_name}.{parent_col} is not generated by this plan"
                            ));
                        };
                        if per_parent {
                            (
                                Gen::Parent {
                                    table: p,
                                    column: c,
                                },
                                None,
                            )
                        } else {
                            (
                                Gen::Generated {
                                    table: p,
                                    column: c,
                                    rows: done[p].rows,
                                },
                                draw_domain,
                            )
                        }
                    }
                    (None, Some(false)) => {
                        return one(format!("{parent_name} gets no rows from this plan"));
                    }
                    _ => {
                        // A key's columns are read together, in one row order, so the same
                        // draw takes every column from one row.
                        let (columns, at) = match key {
                            Some((fk, at)) => (fk.referenced_columns.as_slice(), at),
                            None => (std::slice::from_ref(&parent_col), 0),
                        };
                        let values = target::existing_values(
                            self.client,
                            &parent.qualified(),
                            columns,
                            filter,
                        )
                        .await
                        .map_err(|e| {
                            ResolveError::Database(format!(
                                "reading {parent_name}.{parent_col}{}: {}",
                                filter.map(|f| format!(" where {f}")).unwrap_or_default(),
                                crate::pgerr::describe(&e)
                            ))
                        })?;
                        let values = values.into_iter().nth(at).unwrap_or_default();
                        if values.is_empty() && !explicit && !info.not_null {
                            // An unmentioned nullable key without parents to point to.
                            return Ok(Ok((Gen::Null, None)));
                        }
                        if values.is_empty() && rows > 0 {
                            return one(format!(
                                "reference to {parent_name}: it has no rows{} to point to",
                                filter.map(|f| format!(" where {f}")).unwrap_or_default()
                            ));
                        }
                        (Gen::Existing(Arc::new(values)), draw_domain)
                    }
                }
            }
            _ => {
                let unique_rule = crate::sanitize::registry::lookup(rule)
                    .map(|r| r.spec().unique_preserving)
                    .unwrap_or(false);
                // A rule that may repeat values is fine on a unique column for a single row
                // (one tenant's name); more rows are refused below.
                let mut col = info.clone();
                col.unique = info.unique && unique_rule;
                let sanitizer =
                    match compose::build_column(spec, &col, std::slice::from_ref(&col), "") {
                        Ok(s) => s,
                        Err(problems) => return Ok(Err(problems)),
                    };
                if info.unique && !unique_rule && rows > 1 && fk.is_none() {
                    return one(format!(
                        "the column is unique but `{rule}` may repeat values; use a \
                         unique-preserving generator (sequence, hash, uuid, email, …)"
                    ));
                }
                let taken = if info.unique && has_rows {
                    let values = target::existing_values(
                        self.client,
                        &table.qualified(),
                        std::slice::from_ref(&info.name),
                        None,
                    )
                    .await?;
                    Some(Arc::new(
                        values
                            .into_iter()
                            .next()
                            .unwrap_or_default()
                            .into_iter()
                            .collect(),
                    ))
                } else {
                    None
                };
                (
                    Gen::Rule {
                        sanitizer,
                        class: info.class,
                        oid,
                        taken,
                        rows,
                        max_chars: info.max_chars,
                    },
                    None,
                )
            }
        }))
    }
}

/// `existing` and `where` of the `reference` entries of a key's columns (the first given).
fn key_reference(entry: &TableEntry, fk: &ForeignKey) -> (Option<bool>, Option<String>) {
    let references = || {
        fk.columns.iter().filter_map(|c| {
            entry
                .columns
                .iter()
                .find(|e| &e.name == c && e.rule() == "reference")
        })
    };
    (
        references().find_map(|e| e.spec.get("existing").and_then(toml::Value::as_bool)),
        references().find_map(|e| {
            e.spec
                .get("where")
                .and_then(toml::Value::as_str)
                .map(str::to_string)
        }),
    )
}

/// A foreign key's identity within one catalog.
fn fk_id(fk: &ForeignKey) -> (u32, Vec<String>) {
    (fk.table, fk.columns.clone())
}

fn closest(candidates: impl Iterator<Item = String>, name: &str) -> String {
    candidates
        .map(|c| {
            (
                compose::edit_distance(&c.to_lowercase(), &name.to_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| format!(" (did you mean {c}?)"))
        .unwrap_or_default()
}
