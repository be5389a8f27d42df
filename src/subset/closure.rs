//! The referential closure, computed on the source inside the run's snapshot without writing
//! anything: root rows are selected, then foreign keys are walked to a fixpoint, a whole
//! frontier of rows per table and key at a time (one query each, never one per row).
//!
//! Two kinds of copied rows:
//! - members: root rows, and rows that reference a member through a followed foreign key
//!   (`follow`, the default) and pass their table's `where`/`percent`;
//! - references: rows a copied row references (upward, always, whatever the filters say:
//!   without them the foreign key could not validate).
//!
//! Only members bring the rows referencing them along, so a product pulled in by one order
//! line does not pull in every other order of that product.
//!
//! Tables whose rows are a plain semi-join chain from the roots (`chain`) are never listed:
//! their selection is a predicate the server evaluates, and the walk starts from them by that
//! predicate. Every other table is walked by `(tableoid, ctid)` sets.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use super::chain::{self, Chains, Source};
use super::graph::{Edge, Graph, Relation};
use super::query::{self, Tid};
use super::spec::{Follow, SubsetSpec};
use super::{SubsetError, TableRows};
use crate::catalog::{quote_ident, CopyFormat, Table};

/// A row newly copied, with the foreign key it came down through, if any.
type Arrived = (Tid, Option<usize>);

/// The copied rows of one table while the closure grows.
#[derive(Default)]
struct Rows {
    copied: HashSet<Tid>,
    members: HashSet<Tid>,
    /// Copied since their references were last followed, with the foreign key (index in
    /// `graph.edges`) a row came down through: that key needs no following back up, the row
    /// it references is a member already.
    new_copied: Vec<Arrived>,
    /// Became members since the rows referencing them were last followed.
    new_members: Vec<Tid>,
}

struct Resolved<'g> {
    graph: &'g Graph,
    /// Per top relation: `where` conditions with their origin.
    filters: HashMap<u32, Vec<(String, String)>>,
    /// Per top relation: the sampled percentage.
    percents: HashMap<u32, f64>,
    /// Per edge (index in `graph.edges`).
    follow: Vec<Follow>,
    /// Root relation, condition, origin.
    roots: Vec<(&'g Relation, String, String)>,
    /// Tables selected by a predicate rather than a ctid set.
    chains: Chains,
}

/// How the closure names the rows of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Semi-join chains from the roots as predicates, the rest as ctid sets.
    Auto,
    /// Every table as a ctid set: the general walk alone, to compare or diagnose.
    CtidOnly,
}

/// Computes the rows of each copied table.
pub async fn compute(
    client: &Client,
    spec: &SubsetSpec,
    tables: &[Table],
    server_version_num: u32,
    walk: Walk,
) -> Result<HashMap<u32, TableRows>, SubsetError> {
    let graph = Graph::load(client, tables, server_version_num)
        .await
        .map_err(|e| SubsetError::Source(crate::pgerr::describe(&e)))?;
    let mut resolved = resolve(spec, &graph)?;
    resolved.check_conditions(client).await?;
    if walk == Walk::Auto {
        let mut excluded = resolved.evaluated_once(client).await?;
        excluded.extend(resolved.read_as_text(tables));
        let root_tables: Vec<u32> = resolved.roots.iter().map(|(rel, _, _)| rel.oid).collect();
        resolved.chains = Chains::find(&graph, &resolved.follow, &root_tables, &excluded);
    }
    let mut rows: HashMap<u32, Rows> = tables.iter().map(|t| (t.oid, Rows::default())).collect();
    for (relation, condition, origin) in &resolved.roots {
        // A chain root is never listed: whether it matches anything is all the walk needs.
        let listed = !resolved.chains.contains(relation.oid);
        let sql = format!(
            "SELECT t.tableoid::oid, t.ctid FROM {} t WHERE ({condition}){}{}",
            relation.scan_sql(),
            resolved.restrictions(relation, "t"),
            if listed { "" } else { " LIMIT 1" }
        );
        let found = query::row_ids(client, &sql)
            .await
            .map_err(|e| SubsetError::Condition {
                origin: origin.clone(),
                table: relation.display_name(),
                message: e.to_string(),
            })?;
        if found.is_empty() {
            return Err(SubsetError::NoRows {
                origin: origin.clone(),
                table: relation.display_name(),
                condition: condition.clone(),
            });
        }
        if listed {
            add(&mut rows, found, true, None);
        }
    }
    resolved.walk_from_chains(client, &mut rows).await?;
    resolved.fixpoint(client, &mut rows).await?;

    let mut out = HashMap::new();
    for table in tables {
        let Some(r) = rows.get(&table.oid) else {
            continue;
        };
        let tids: Vec<Tid> = r.copied.iter().copied().collect();
        let chain = resolved
            .chains
            .contains(table.oid)
            .then(|| resolved.chain_predicate(table.oid, &table.qualified(), 0));
        // Rows listed for a chain table would be a bug of the analysis; copied all the same.
        let predicate = match &chain {
            Some(chain) if tids.is_empty() => chain.clone(),
            Some(chain) => format!("({chain}) OR {}", query::rows_predicate("", &tids)),
            None => query::rows_predicate("", &tids),
        };
        let copied_rows = chain.is_none().then_some(tids.len() as u64);
        tracing::debug!(
            "subset: {}: {}",
            table.display_name(),
            copied_rows.map_or_else(
                || "by semi-join predicate".to_string(),
                |n| format!("{n} rows listed by ctid")
            ),
        );
        out.insert(
            table.oid,
            TableRows {
                source_rows: 0,
                copied_rows,
                predicate,
                select_list: resolved.nulled_select_list(table, &rows),
            },
        );
    }
    Ok(out)
}

/// Sets the source rows of the subset tables whose every row may be listed (some listed, so
/// a source of as many rows is possible); such a table is then read whole (a plain scan beats
/// a TID scan). Returns the tables left to count: the source rows only tell people how many
/// rows were left out, so those may be counted while the run goes on.
pub async fn count_listed_rows(
    client: &Client,
    tables: &[Table],
    subset: &mut HashMap<u32, TableRows>,
) -> Result<Vec<(u32, String)>, SubsetError> {
    let mut later = Vec::new();
    for table in tables {
        let Some(rows) = subset.get_mut(&table.oid) else {
            continue;
        };
        if rows.copied_rows.unwrap_or(0) == 0 {
            later.push((table.oid, table.qualified()));
            continue;
        }
        rows.source_rows = count_rows(client, &table.qualified()).await?;
        if rows.copied_rows == Some(rows.source_rows) {
            rows.predicate = "true".to_string();
        }
    }
    Ok(later)
}

/// Rows of a table (`schema.table`, quoted) in the snapshot.
pub async fn count_rows(client: &Client, qualified: &str) -> Result<u64, SubsetError> {
    count_rows_where(client, qualified, "true").await
}

/// Rows of a table (`schema.table`, quoted) in the snapshot that `predicate` selects.
pub async fn count_rows_where(
    client: &Client,
    qualified: &str,
    predicate: &str,
) -> Result<u64, SubsetError> {
    let failed = |e: tokio_postgres::Error| SubsetError::Source(crate::pgerr::describe(&e));
    let sql = format!("SELECT pg_catalog.count(*) FROM ONLY {qualified} WHERE {predicate}");
    let row = client.query_one(&sql, &[]).await.map_err(failed)?;
    let all: i64 = row.try_get(0).map_err(failed)?;
    Ok(all.max(0) as u64)
}

/// Adds rows found (`via` the foreign key followed down to them); `member` rows also become
/// members.
fn add(rows: &mut HashMap<u32, Rows>, found: Vec<(u32, Tid)>, member: bool, via: Option<usize>) {
    for (table, tid) in found {
        // A row of a table that is not copied (--exclude-table) is not followed.
        let Some(r) = rows.get_mut(&table) else {
            continue;
        };
        if r.copied.insert(tid) {
            r.new_copied.push((tid, via));
        }
        if member && r.members.insert(tid) {
            r.new_members.push(tid);
        }
    }
}

fn resolve<'g>(spec: &SubsetSpec, graph: &'g Graph) -> Result<Resolved<'g>, SubsetError> {
    let find = |name: &str, origin: &str| {
        graph.find(name).ok_or_else(|| SubsetError::Spec {
            origin: origin.to_string(),
            message: format!("no copied table {name}"),
        })
    };
    // Filters and samples describe a whole partitioned table, not one of its partitions.
    let top_of = |name: &str, origin: &str| -> Result<&'g Relation, SubsetError> {
        let rel = find(name, origin)?;
        if rel.top != rel.oid {
            let top = graph
                .relations
                .get(&rel.top)
                .map_or_else(String::new, Relation::display_name);
            return Err(SubsetError::Spec {
                origin: origin.to_string(),
                message: format!(
                    "{} is a partition: name the partitioned table {top}",
                    rel.display_name()
                ),
            });
        }
        Ok(rel)
    };
    let mut filters: HashMap<u32, Vec<(String, String)>> = HashMap::new();
    for f in &spec.filters {
        let rel = top_of(&f.table, &f.origin)?;
        filters
            .entry(rel.oid)
            .or_default()
            .push((f.value.clone(), f.origin.clone()));
    }
    let mut percents = HashMap::new();
    for p in &spec.percents {
        percents.insert(top_of(&p.table, &p.origin)?.oid, p.value);
    }
    let mut follow = vec![Follow::Follow; graph.edges.len()];
    for r in &spec.references {
        let rel = find(&r.table, &r.origin)?;
        let (columns, how) = &r.value;
        let mut wanted = columns.clone();
        wanted.sort();
        let found = graph.edges.iter().position(|e| {
            let mut have = e.columns.clone();
            have.sort();
            e.child == rel.oid && have == wanted
        });
        let Some(i) = found else {
            return Err(SubsetError::Spec {
                origin: r.origin.clone(),
                message: format!(
                    "{} has no foreign key on ({})",
                    rel.display_name(),
                    columns.join(", ")
                ),
            });
        };
        if *how == Follow::Null && !graph.edges[i].nullable {
            return Err(SubsetError::Spec {
                origin: r.origin.clone(),
                message: format!(
                    "\"null\" needs nullable columns, but {}.({}) is NOT NULL",
                    rel.display_name(),
                    columns.join(", ")
                ),
            });
        }
        follow[i] = *how;
    }
    let mut roots = Vec::new();
    for root in &spec.roots {
        roots.push((
            top_of(&root.table, "--subset")?,
            root.condition.clone(),
            "--subset".to_string(),
        ));
    }
    if roots.is_empty() {
        // Without --subset, the filtered and sampled tables are the roots.
        let mut tops: Vec<u32> = filters.keys().chain(percents.keys()).copied().collect();
        tops.sort_unstable();
        tops.dedup();
        for top in tops {
            if let Some(rel) = graph.relations.get(&top) {
                roots.push((rel, "true".to_string(), "rules".to_string()));
            }
        }
    }
    Ok(Resolved {
        graph,
        filters,
        percents,
        follow,
        roots,
        chains: Chains::default(),
    })
}

impl Resolved<'_> {
    /// ` AND (where) AND (sample)` for rows of `relation` (named `alias`) that enter as members.
    fn restrictions(&self, relation: &Relation, alias: &str) -> String {
        let mut out = String::new();
        for (condition, _) in self.filters.get(&relation.top).into_iter().flatten() {
            out.push_str(&format!(" AND ({condition})"));
        }
        if let Some(percent) = self.percents.get(&relation.top) {
            let key = &self
                .graph
                .relations
                .get(&relation.top)
                .unwrap_or(relation)
                .primary_key;
            out.push_str(&format!(
                " AND {}",
                query::sample_predicate(alias, key, *percent)
            ));
        }
        out
    }

    /// The rows of chain table `table`, named `alias` in the enclosing query: its root
    /// conditions or a semi-join to each parent's own predicate, and its filters. `depth`
    /// numbers the aliases of the nested parents.
    fn chain_predicate(&self, table: u32, alias: &str, depth: usize) -> String {
        let Some((relation, sources)) = self
            .graph
            .relations
            .get(&table)
            .zip(self.chains.sources(table))
        else {
            return "false".to_string();
        };
        let mut any_of: Vec<String> = Vec::new();
        for source in sources {
            match *source {
                Source::Root(n) => {
                    let condition = self.roots.get(n).map_or("false", |r| r.1.as_str());
                    any_of.push(format!("({condition})"));
                }
                Source::Down(i) => {
                    let edge = &self.graph.edges[i];
                    let Some(parent) = self.graph.relations.get(&edge.parent) else {
                        continue;
                    };
                    let inner = format!("s{depth}");
                    any_of.push(format!(
                        "{} IN (SELECT {} FROM {} {inner} WHERE {})",
                        query::column_tuple(alias, &edge.columns),
                        query::column_list(&inner, &edge.parent_columns),
                        parent.scan_sql(),
                        self.chain_predicate(edge.parent, &inner, depth + 1)
                    ));
                }
            }
        }
        if any_of.is_empty() {
            return "false".to_string();
        }
        format!(
            "({}){}",
            any_of.join(" OR "),
            self.restrictions(relation, alias)
        )
    }

    /// Starts the walk from the chain tables: the rows they pull up from tables that are not
    /// chains, and the members they bring down into them, each one query by predicate.
    async fn walk_from_chains(
        &self,
        client: &Client,
        rows: &mut HashMap<u32, Rows>,
    ) -> Result<(), SubsetError> {
        for table in self.chains.in_order(self.graph) {
            let relation = self.relation(table)?;
            let known = self.chain_predicate(table, "k", 0);
            let described = format!("the rows of {}", relation.display_name());
            for (i, edge) in self.graph.edges.iter().enumerate() {
                if edge.child == table
                    && self.follow[i] != Follow::Null
                    && !self.chains.contains(edge.parent)
                {
                    let wanted = (self.relation(edge.parent)?, &edge.parent_columns[..]);
                    let from = (relation, &edge.columns[..], known.as_str());
                    let found = self
                        .matching(client, edge, wanted, from, &described, String::new())
                        .await?;
                    add(rows, found, false, None);
                }
                if edge.parent == table
                    && self.follow[i] == Follow::Follow
                    && !self.chains.contains(edge.child)
                {
                    let child = self.relation(edge.child)?;
                    let wanted = (child, &edge.columns[..]);
                    let from = (relation, &edge.parent_columns[..], known.as_str());
                    let restrictions = self.restrictions(child, "t");
                    let found = self
                        .matching(client, edge, wanted, from, &described, restrictions)
                        .await?;
                    add(rows, found, true, Some(i));
                }
            }
        }
        Ok(())
    }

    /// Tables read in COPY's text format, whose reading session sets its own `TimeZone` and
    /// `DateStyle` (a condition could select other rows there), and the parents they copy
    /// `null` keys to (whose rows that session tests): the walk lists their rows.
    fn read_as_text(&self, tables: &[Table]) -> HashSet<u32> {
        let text: HashSet<u32> = tables
            .iter()
            .filter(|t| t.copy_format() == CopyFormat::Text)
            .map(|t| t.oid)
            .collect();
        let mut out = text.clone();
        for (i, edge) in self.graph.edges.iter().enumerate() {
            let child_read_as_text = self
                .graph
                .relations
                .get(&edge.child)
                .is_some_and(|r| r.leaves.iter().any(|leaf| text.contains(leaf)));
            if self.follow[i] == Follow::Null && child_read_as_text {
                out.insert(edge.parent);
            }
        }
        out
    }

    /// Tables with a root condition or filter that could select other rows in another query
    /// of the run (a function the server does not mark immutable, such as `random()` or
    /// `now()`, whose transaction differs per reading connection; the current date or
    /// time): the walk evaluates those once and lists the rows.
    async fn evaluated_once(&self, client: &Client) -> Result<HashSet<u32>, SubsetError> {
        let mut conditions: Vec<(u32, &str)> = self
            .roots
            .iter()
            .map(|(rel, condition, _)| (rel.oid, condition.as_str()))
            .collect();
        for relation in self.graph.relations.values() {
            for (condition, _) in self.filters.get(&relation.top).into_iter().flatten() {
                conditions.push((relation.oid, condition.as_str()));
            }
        }
        let mut excluded = HashSet::new();
        for (table, condition) in conditions {
            let (called, clock) = chain::called_names(condition);
            let varies = clock
                || (!called.is_empty()
                    && client
                        .query_one(
                            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_proc \
                             WHERE proname = ANY($1::text[]) AND provolatile <> 'i')",
                            &[&called],
                        )
                        .await
                        .and_then(|row| row.try_get::<_, bool>(0))
                        .map_err(|e| SubsetError::Source(crate::pgerr::describe(&e)))?);
            if varies {
                excluded.insert(table);
            }
        }
        Ok(excluded)
    }

    /// Every `where` is planned once, so a bad one fails here, before anything is written,
    /// even if the walk would never reach its table.
    async fn check_conditions(&self, client: &Client) -> Result<(), SubsetError> {
        for (top, conditions) in &self.filters {
            let Some(rel) = self.graph.relations.get(top) else {
                continue;
            };
            for (condition, origin) in conditions {
                let sql = format!(
                    "SELECT 1 FROM {} t WHERE ({condition}) LIMIT 0",
                    rel.scan_sql()
                );
                client
                    .query(&sql, &[])
                    .await
                    .map_err(|e| SubsetError::Condition {
                        origin: origin.clone(),
                        table: rel.display_name(),
                        message: crate::pgerr::describe(&e),
                    })?;
            }
        }
        Ok(())
    }

    async fn fixpoint(
        &self,
        client: &Client,
        rows: &mut HashMap<u32, Rows>,
    ) -> Result<(), SubsetError> {
        loop {
            let mut copied: Vec<(u32, Vec<Arrived>)> = Vec::new();
            let mut members: Vec<(u32, Vec<Tid>)> = Vec::new();
            for (oid, r) in rows.iter_mut() {
                if !r.new_copied.is_empty() {
                    copied.push((*oid, std::mem::take(&mut r.new_copied)));
                }
                if !r.new_members.is_empty() {
                    members.push((*oid, std::mem::take(&mut r.new_members)));
                }
            }
            if copied.is_empty() && members.is_empty() {
                return Ok(());
            }
            for (leaf, arrived) in &copied {
                for (i, edge) in self.graph.edges.iter().enumerate() {
                    if self.follow[i] == Follow::Null || !self.holds(edge.child, *leaf) {
                        continue;
                    }
                    let tids: Vec<Tid> = arrived
                        .iter()
                        .filter(|(_, via)| *via != Some(i))
                        .map(|(tid, _)| *tid)
                        .collect();
                    if tids.is_empty() {
                        continue;
                    }
                    let found = self.referenced(client, edge, *leaf, &tids).await?;
                    add(rows, found, false, None);
                }
            }
            for (leaf, tids) in &members {
                for (i, edge) in self.graph.edges.iter().enumerate() {
                    if self.follow[i] != Follow::Follow || !self.holds(edge.parent, *leaf) {
                        continue;
                    }
                    let found = self.referencing(client, edge, *leaf, tids).await?;
                    add(rows, found, true, Some(i));
                }
            }
        }
    }

    /// Whether copied table `leaf` holds rows of `relation`.
    fn holds(&self, relation: u32, leaf: u32) -> bool {
        self.graph
            .relations
            .get(&relation)
            .is_some_and(|r| r.leaves.contains(&leaf))
    }

    fn relation(&self, oid: u32) -> Result<&Relation, SubsetError> {
        self.graph
            .relations
            .get(&oid)
            .ok_or_else(|| SubsetError::Source(format!("relation {oid} vanished from the graph")))
    }

    /// Rows of the edge's parent referenced by rows `tids` of `leaf`.
    async fn referenced(
        &self,
        client: &Client,
        edge: &Edge,
        leaf: u32,
        tids: &[Tid],
    ) -> Result<Vec<(u32, Tid)>, SubsetError> {
        let wanted = (self.relation(edge.parent)?, &edge.parent_columns[..]);
        let listed = query::rows_predicate("k", tids);
        let known = (self.relation(leaf)?, &edge.columns[..], listed.as_str());
        let described = format!("{} rows", tids.len());
        self.matching(client, edge, wanted, known, &described, String::new())
            .await
    }

    /// Rows of the edge's child (passing its filters) referencing rows `tids` of `leaf`.
    async fn referencing(
        &self,
        client: &Client,
        edge: &Edge,
        leaf: u32,
        tids: &[Tid],
    ) -> Result<Vec<(u32, Tid)>, SubsetError> {
        let child = self.relation(edge.child)?;
        let wanted = (child, &edge.columns[..]);
        let listed = query::rows_predicate("k", tids);
        let known = (
            self.relation(leaf)?,
            &edge.parent_columns[..],
            listed.as_str(),
        );
        let described = format!("{} rows", tids.len());
        self.matching(
            client,
            edge,
            wanted,
            known,
            &described,
            self.restrictions(child, "t"),
        )
        .await
    }

    /// The rows of `wanted` whose key columns equal those of the rows of `known` that its
    /// predicate (on alias `k`) selects, and satisfy `restrictions` (on alias `t`): one
    /// semi-join for a whole frontier.
    async fn matching(
        &self,
        client: &Client,
        edge: &Edge,
        wanted: (&Relation, &[String]),
        known: (&Relation, &[String], &str),
        described: &str,
        restrictions: String,
    ) -> Result<Vec<(u32, Tid)>, SubsetError> {
        let sql = format!(
            "SELECT t.tableoid::oid, t.ctid FROM {} t WHERE {} IN (SELECT {} FROM {} k WHERE {}){}",
            wanted.0.scan_sql(),
            query::column_tuple("t", wanted.1),
            query::column_list("k", known.1),
            known.0.scan_sql(),
            known.2,
            restrictions
        );
        let started = std::time::Instant::now();
        let found = query::row_ids(client, &sql).await.map_err(|e| {
            SubsetError::Source(format!("following foreign key {}: {e}", edge.name))
        })?;
        tracing::debug!(
            "subset: {} from {described} of {}: {} rows of {} in {:.3} s",
            edge.name,
            known.0.display_name(),
            found.len(),
            wanted.0.display_name(),
            started.elapsed().as_secs_f64()
        );
        Ok(found)
    }

    /// For a table with `null` foreign keys: its column list with each such column copied
    /// only where the row it references is copied too, NULL elsewhere.
    fn nulled_select_list(&self, table: &Table, rows: &HashMap<u32, Rows>) -> Option<String> {
        let mut replaced: HashMap<&str, String> = HashMap::new();
        let outer = table.qualified();
        for (i, edge) in self.graph.edges.iter().enumerate() {
            if self.follow[i] != Follow::Null || !self.holds(edge.child, table.oid) {
                continue;
            }
            let parent = self.graph.relations.get(&edge.parent)?;
            let mut kept: Vec<String> = Vec::new();
            for leaf in &parent.leaves {
                let Some(r) = rows.get(leaf) else { continue };
                let leaf_rel = self.graph.relations.get(leaf)?;
                if self.chains.contains(*leaf) {
                    kept.push(format!(
                        "EXISTS (SELECT 1 FROM {} p WHERE {} AND {} = {})",
                        leaf_rel.scan_sql(),
                        self.chain_predicate(*leaf, "p", 0),
                        query::column_tuple("p", &edge.parent_columns),
                        query::column_tuple(&outer, &edge.columns)
                    ));
                }
                if r.copied.is_empty() {
                    continue;
                }
                let tids: Vec<Tid> = r.copied.iter().copied().collect();
                kept.push(format!(
                    "EXISTS (SELECT 1 FROM {} p WHERE {} AND {} = {})",
                    leaf_rel.scan_sql(),
                    query::rows_predicate("p", &tids),
                    query::column_tuple("p", &edge.parent_columns),
                    query::column_tuple(&outer, &edge.columns)
                ));
            }
            let condition = if kept.is_empty() {
                "false".to_string()
            } else {
                kept.join(" OR ")
            };
            for column in &edge.columns {
                replaced.insert(
                    column,
                    format!(
                        "CASE WHEN {condition} THEN {outer}.{c} END AS {c}",
                        c = quote_ident(column)
                    ),
                );
            }
        }
        if replaced.is_empty() {
            return None;
        }
        let list = table
            .columns
            .iter()
            .map(|c| {
                replaced
                    .get(c.name.as_str())
                    .cloned()
                    .unwrap_or_else(|| quote_ident(&c.name))
            })
            .collect::<Vec<_>>()
            .join(", ");
        Some(list)
    }
}
