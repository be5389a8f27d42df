//! A parsed plan checked against the target and turned into generators: tables in
//! foreign-key order, row counts, one generator per column. Every problem (unknown table or
//! column, a generator that does not fit, a column nothing can fill, a parent without rows, a
//! cycle through NOT NULL keys) is collected before any row is written.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio_postgres::Client;

use super::columns::{sequence_fits, stream, Gen};
use super::plan::{Count, SeedPlan, TableEntry};
use super::rows::{Seeder, TableGen};
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
                });
            }
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
    /// `per_parent`); a cycle is refused unless a nullable key breaks it (that key is NULL).
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
                if p == i || self.breakable(entry, t, fk) {
                    continue;
                }
                after[i].insert(p);
            }
        }
        let mut order = Vec::new();
        let mut done = vec![false; found.len()];
        while order.len() < found.len() {
            let ready = (0..found.len()).find(|&i| !done[i] && after[i].iter().all(|&p| done[p]));
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

    /// A foreign key whose columns may all be NULL and that the plan does not fill
    /// explicitly: it does not order the tables (its columns stay NULL, closing a cycle).
    fn breakable(&self, entry: &TableEntry, table: &Table, fk: &ForeignKey) -> bool {
        fk.columns.iter().all(|c| {
            !entry.columns.iter().any(|e| &e.name == c)
                && table
                    .columns
                    .iter()
                    .any(|col| &col.name == c && !col.not_null)
        }) && self.references_back(fk)
    }

    /// Whether the referenced table (transitively) references the referencing one.
    fn references_back(&self, fk: &ForeignKey) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![fk.referenced_table];
        while let Some(t) = stack.pop() {
            if t == fk.table {
                return true;
            }
            if seen.insert(t) {
                stack.extend(self.fks_of(t).map(|f| f.referenced_table));
            }
        }
        false
    }

    async fn table_gen(
        &mut self,
        entry: &TableEntry,
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
            let fk = self
                .fks_of(table.oid)
                .find(|fk| fk.columns.contains(&col.name));
            let explicit = entry.columns.iter().find(|c| c.name == col.name);
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
                    let referenced = match (&entry.count, fk) {
                        // A nullable key closing a cycle stays NULL (see `breakable`).
                        (_, Some(fk)) if self.breakable(entry, table, fk) => {
                            kept.push(col.clone());
                            gens.push(Gen::Null);
                            domains.push(String::new());
                            continue;
                        }
                        _ => referenced,
                    };
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
                let (parent_col, draw_domain) = match (str_of("column"), fk) {
                    (Some(c), _) => (c.to_string(), None),
                    (None, Some(fk)) if fk.referenced_table == parent.oid => {
                        let at = fk.columns.iter().position(|c| c == &info.name).unwrap_or(0);
                        (
                            fk.referenced_columns[at].clone(),
                            Some(format!("fk {} ({})", entry.name, fk.columns.join(", "))),
                        )
                    }
                    _ if parent.primary_key.len() == 1 => (parent.primary_key[0].clone(), None),
                    _ => return one(format!("say which `column` of {parent_name} to reference")),
                };
                let existing = spec.get("existing").and_then(toml::Value::as_bool);
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
                        let filter = str_of("where");
                        let values = target::existing_values(
                            self.client,
                            &parent.qualified(),
                            std::slice::from_ref(&parent_col),
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
                        let values = values.into_iter().next().unwrap_or_default();
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
