//! Which post-data work can start before all data is in, and what it waits for.
//!
//! - each index of a copied table: as soon as that table's rows are in;
//! - each primary key / unique constraint of a plain table: `CREATE UNIQUE INDEX` (which runs
//!   alongside other index builds on the same table) then `ADD CONSTRAINT … USING INDEX`
//!   (instant). Replayed as dumped, `ADD CONSTRAINT … PRIMARY KEY` would hold an ACCESS
//!   EXCLUSIVE lock for the whole build and serialize the table's indexes;
//! - each foreign key between two copied tables: once both tables and their indexes are done;
//!   the foreign keys among tables that reference each other (a cycle in the foreign key
//!   graph) together, one after the other in one session, so they cannot deadlock (see
//!   `lockorder`);
//! - everything else (triggers, policies, constraints on partitioned tables…) at the end,
//!   from the archive, with `pg_restore -j`.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{lockorder, TocEntry};
use crate::catalog::{quote_ident, Constraint, SourceCatalog, Table};

/// One unit of post-data work.
#[derive(Debug, Clone)]
pub enum PostAction {
    /// Restore these archive entries with pg_restore.
    Restore(Vec<TocEntry>),
    /// Run one SQL statement built from the source catalog.
    Sql(String),
}

/// What an item does, which decides what it must wait for: builds on one table run side by
/// side; attaching a constraint locks the table exclusively, so it waits for that table's
/// builds; foreign keys lock both tables against ANALYZE and builds, so they come last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Build,
    Attach,
    ForeignKey,
}

#[derive(Debug, Clone)]
pub struct PostItem {
    pub label: String,
    pub kind: ItemKind,
    /// The table the work belongs to (for timing).
    pub table: u32,
    /// Tables whose rows must all be in first.
    pub after_tables: Vec<u32>,
    /// Items (indexes into `PostDataPlan::items`) that must finish first.
    pub after_items: Vec<usize>,
    pub action: PostAction,
    /// Run-time parameters (`name=value`) for the session that does the work.
    pub settings: &'static [&'static str],
}

/// Session settings for adding a foreign key. PostgreSQL validates the existing rows with one
/// anti-join of the referencing table against the referenced one, planned without parallel
/// workers. The planner's usual pick, a hash anti join, probes a hash table of every referenced
/// key once per referencing row; once that table outgrows the CPU caches the probes are cache
/// misses, which the planner does not cost. Merging the two sides in key order (both btree
/// indexes, or a sort where the referencing columns have no index) measured faster on
/// PostgreSQL 15, 6 M referencing rows: against 2 M keys, 4.3–5.3 s hashed and 1.9–2.1 s
/// merged from indexes, 4.8–6.0 s hashed and 4.0 s sort-merged without an index; against 200 k
/// keys, 1.1–1.2 s and 0.8–0.9 s; against 10 k keys, 1.0–1.4 s and 0.8–1.1 s. So hashing is
/// off for the validation only; the planner still chooses between merge and nested loop.
pub const FOREIGN_KEY_SETTINGS: &[&str] = &["enable_hashjoin=off"];

#[derive(Debug, Default)]
pub struct PostDataPlan {
    pub items: Vec<PostItem>,
    /// Archive entries handled by `items`; the final restore skips them.
    pub handled: HashSet<u32>,
}

impl PostDataPlan {
    /// Items of `table` other than foreign keys, optionally of one kind.
    pub fn items_of(&self, table: u32, kind: Option<ItemKind>) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.table == table && i.kind != ItemKind::ForeignKey)
            .filter(|(_, i)| kind.is_none_or(|k| i.kind == k))
            .map(|(n, _)| n)
            .collect()
    }
}

pub fn plan(entries: &[TocEntry], catalog: &SourceCatalog, copied: &[Table]) -> PostDataPlan {
    let names: HashMap<u32, &Table> = copied.iter().map(|t| (t.oid, t)).collect();
    let mut plan = PostDataPlan::default();
    let mut foreign_keys = Vec::new();
    for entry in entries {
        match entry.desc.as_str() {
            "INDEX" => {
                let Some(table) = catalog.index_tables.get(&entry.object_oid) else {
                    continue;
                };
                let Some(t) = names.get(table) else { continue };
                push(
                    &mut plan,
                    entry,
                    ItemKind::Build,
                    *table,
                    vec![*table],
                    label(t, "index"),
                );
            }
            "CONSTRAINT" => {
                let Some(c) = catalog.constraints.get(&entry.object_oid) else {
                    continue;
                };
                let Some(t) = names.get(&c.table) else {
                    continue;
                };
                match unique_via_index(c, t) {
                    Some((create, attach)) => {
                        plan.items.push(PostItem {
                            label: label(t, &format!("index for {}", c.name)),
                            kind: ItemKind::Build,
                            table: c.table,
                            after_tables: vec![c.table],
                            after_items: Vec::new(),
                            action: PostAction::Sql(create),
                            settings: &[],
                        });
                        plan.items.push(PostItem {
                            label: label(t, &format!("constraint {}", c.name)),
                            kind: ItemKind::Attach,
                            table: c.table,
                            after_tables: vec![c.table],
                            // Filled in below, once every build of the table is known.
                            after_items: Vec::new(),
                            action: PostAction::Sql(attach),
                            settings: &[],
                        });
                        plan.handled.insert(entry.dump_id);
                    }
                    None => {
                        // Replayed as dumped, it locks the table exclusively while it builds.
                        push(
                            &mut plan,
                            entry,
                            ItemKind::Attach,
                            c.table,
                            vec![c.table],
                            label(t, &format!("constraint {}", c.name)),
                        );
                    }
                }
            }
            "FK CONSTRAINT" => foreign_keys.push(entry),
            _ => {}
        }
    }
    for n in 0..plan.items.len() {
        if plan.items[n].kind == ItemKind::Attach {
            plan.items[n].after_items = plan.items_of(plan.items[n].table, Some(ItemKind::Build));
        }
    }
    // Foreign keys whose two tables are copied (the others are left to the final restore).
    let foreign_keys: Vec<(&TocEntry, &Constraint)> = foreign_keys
        .into_iter()
        .filter_map(|e| catalog.constraints.get(&e.object_oid).map(|c| (e, c)))
        .filter(|(_, c)| names.contains_key(&c.table) && names.contains_key(&c.referenced))
        .collect();
    let groups =
        lockorder::cyclic_groups(foreign_keys.iter().map(|(_, c)| (c.table, c.referenced)));
    let mut grouped: BTreeMap<usize, Vec<(&TocEntry, &Constraint)>> = BTreeMap::new();
    for (entry, c) in foreign_keys {
        let group = groups
            .get(&c.table)
            .filter(|g| groups.get(&c.referenced) == Some(g));
        if let Some(&g) = group {
            grouped.entry(g).or_default().push((entry, c));
            continue;
        }
        let Some(t) = names.get(&c.table) else {
            continue;
        };
        // Validation locks both tables against builds and ANALYZE: wait for all of them
        // (the caller adds its own per-table work to `after_items` too).
        let mut after = plan.items_of(c.table, None);
        after.extend(plan.items_of(c.referenced, None));
        let mut tables = vec![c.table];
        if c.referenced != c.table {
            tables.push(c.referenced);
        }
        let n = push(
            &mut plan,
            entry,
            ItemKind::ForeignKey,
            c.table,
            tables,
            label(t, &format!("foreign key {}", c.name)),
        );
        plan.items[n].after_items = after;
        plan.items[n].settings = FOREIGN_KEY_SETTINGS;
    }
    for members in grouped.into_values() {
        push_group(&mut plan, &names, &members);
    }
    plan
}

/// The foreign keys among one group of tables that reference each other, as one item: one
/// pg_restore session adds them one at a time, in archive order (see `lockorder`).
fn push_group(
    plan: &mut PostDataPlan,
    names: &HashMap<u32, &Table>,
    members: &[(&TocEntry, &Constraint)],
) {
    let Some((_, first)) = members.first() else {
        return;
    };
    let mut tables: Vec<u32> = members
        .iter()
        .flat_map(|(_, c)| [c.table, c.referenced])
        .collect();
    tables.sort_unstable();
    tables.dedup();
    let mut after = Vec::new();
    for t in &tables {
        after.extend(plan.items_of(*t, None));
    }
    let mut shown: Vec<String> = tables
        .iter()
        .filter_map(|t| names.get(t).map(|t| t.display_name()))
        .collect();
    shown.sort();
    let entries: Vec<TocEntry> = members.iter().map(|(e, _)| (*e).clone()).collect();
    plan.handled.extend(entries.iter().map(|e| e.dump_id));
    plan.items.push(PostItem {
        label: format!(
            "{} foreign keys among {} (tables referencing each other)",
            entries.len(),
            shown.join(", ")
        ),
        kind: ItemKind::ForeignKey,
        table: first.table,
        after_tables: tables,
        after_items: after,
        action: PostAction::Restore(entries),
        settings: FOREIGN_KEY_SETTINGS,
    });
}

fn push(
    plan: &mut PostDataPlan,
    entry: &TocEntry,
    kind: ItemKind,
    table: u32,
    after_tables: Vec<u32>,
    label: String,
) -> usize {
    plan.handled.insert(entry.dump_id);
    plan.items.push(PostItem {
        label,
        kind,
        table,
        after_tables,
        after_items: Vec::new(),
        action: PostAction::Restore(vec![entry.clone()]),
        settings: &[],
    });
    plan.items.len() - 1
}

fn label(table: &Table, what: &str) -> String {
    format!("{} {what}", table.display_name())
}

/// `CREATE UNIQUE INDEX …` and `ALTER TABLE … ADD CONSTRAINT … USING INDEX …` for a primary
/// key or unique constraint, when the catalog allows it.
fn unique_via_index(c: &Constraint, table: &Table) -> Option<(String, String)> {
    let def = c.index_def.as_deref()?;
    let kind = match c.kind {
        'p' => "PRIMARY KEY",
        'u' => "UNIQUE",
        _ => return None,
    };
    let mut attach = format!(
        "ALTER TABLE ONLY {} ADD CONSTRAINT {} {kind} USING INDEX {}",
        table.qualified(),
        quote_ident(&c.name),
        quote_ident(&c.name)
    );
    if c.deferrable {
        attach.push_str(" DEFERRABLE");
        if c.initially_deferred {
            attach.push_str(" INITIALLY DEFERRED");
        }
    }
    Some((def.to_string(), attach))
}
