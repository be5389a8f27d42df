//! Which post-data work can start before all data is in, and what it waits for.
//!
//! - each index of a copied table: as soon as that table's rows are in;
//! - each primary key / unique constraint of a plain table: `CREATE UNIQUE INDEX` (which runs
//!   alongside other index builds on the same table) then `ADD CONSTRAINT … USING INDEX`
//!   (instant). Replayed as dumped, `ADD CONSTRAINT … PRIMARY KEY` would hold an ACCESS
//!   EXCLUSIVE lock for the whole build and serialize the table's indexes;
//! - each foreign key between two copied tables: once both tables and their indexes are done;
//! - everything else (triggers, policies, constraints on partitioned tables…) at the end,
//!   from the archive, with `pg_restore -j`.

use std::collections::{HashMap, HashSet};

use super::TocEntry;
use crate::catalog::{quote_ident, Constraint, SourceCatalog, Table};

/// One unit of post-data work.
#[derive(Debug, Clone)]
pub enum PostAction {
    /// Restore these archive entries with pg_restore.
    Restore(Vec<TocEntry>),
    /// Run one SQL statement built from the source catalog.
    Sql(String),
}

#[derive(Debug, Clone)]
pub struct PostItem {
    pub label: String,
    /// The table the work belongs to (for timing).
    pub table: u32,
    /// Tables whose rows must all be in first.
    pub after_tables: Vec<u32>,
    /// Items (indexes into `PostDataPlan::items`) that must finish first.
    pub after_items: Vec<usize>,
    pub action: PostAction,
}

#[derive(Debug, Default)]
pub struct PostDataPlan {
    pub items: Vec<PostItem>,
    /// Archive entries handled by `items`; the final restore skips them.
    pub handled: HashSet<u32>,
}

impl PostDataPlan {
    /// Items that build indexes or constraints of `table`.
    pub fn items_of(&self, table: u32) -> Vec<usize> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.table == table && !i.after_tables.iter().any(|t| *t != table))
            .map(|(n, _)| n)
            .collect()
    }
}

pub fn plan(entries: &[TocEntry], catalog: &SourceCatalog, copied: &[Table]) -> PostDataPlan {
    let names: HashMap<u32, &Table> = copied.iter().map(|t| (t.oid, t)).collect();
    let mut plan = PostDataPlan::default();
    let mut per_table: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut foreign_keys = Vec::new();
    for entry in entries {
        match entry.desc.as_str() {
            "INDEX" => {
                let Some(table) = catalog.index_tables.get(&entry.object_oid) else {
                    continue;
                };
                let Some(t) = names.get(table) else { continue };
                let n = push(
                    &mut plan,
                    entry,
                    *table,
                    vec![*table],
                    Vec::new(),
                    label(t, "index"),
                );
                per_table.entry(*table).or_default().push(n);
            }
            "CONSTRAINT" => {
                let Some(c) = catalog.constraints.get(&entry.object_oid) else {
                    continue;
                };
                let Some(t) = names.get(&c.table) else {
                    continue;
                };
                let items = match unique_via_index(c, t) {
                    Some((create, attach)) => {
                        let first = plan.items.len();
                        plan.items.push(PostItem {
                            label: label(t, &format!("index for {}", c.name)),
                            table: c.table,
                            after_tables: vec![c.table],
                            after_items: Vec::new(),
                            action: PostAction::Sql(create),
                        });
                        plan.items.push(PostItem {
                            label: label(t, &format!("constraint {}", c.name)),
                            table: c.table,
                            after_tables: vec![c.table],
                            after_items: vec![first],
                            action: PostAction::Sql(attach),
                        });
                        plan.handled.insert(entry.dump_id);
                        vec![first, first + 1]
                    }
                    None => vec![push(
                        &mut plan,
                        entry,
                        c.table,
                        vec![c.table],
                        Vec::new(),
                        label(t, &format!("constraint {}", c.name)),
                    )],
                };
                per_table.entry(c.table).or_default().extend(items);
            }
            "FK CONSTRAINT" => foreign_keys.push(entry),
            _ => {}
        }
    }
    for entry in foreign_keys {
        let Some(c) = catalog.constraints.get(&entry.object_oid) else {
            continue;
        };
        let (Some(t), Some(_)) = (names.get(&c.table), names.get(&c.referenced)) else {
            continue;
        };
        // Validation locks both tables against index builds: wait for them.
        let mut after: Vec<usize> = per_table.get(&c.table).cloned().unwrap_or_default();
        after.extend(per_table.get(&c.referenced).cloned().unwrap_or_default());
        let mut tables = vec![c.table];
        if c.referenced != c.table {
            tables.push(c.referenced);
        }
        push(
            &mut plan,
            entry,
            c.table,
            tables,
            after,
            label(t, &format!("foreign key {}", c.name)),
        );
    }
    plan
}

fn push(
    plan: &mut PostDataPlan,
    entry: &TocEntry,
    table: u32,
    after_tables: Vec<u32>,
    after_items: Vec<usize>,
    label: String,
) -> usize {
    plan.handled.insert(entry.dump_id);
    plan.items.push(PostItem {
        label,
        table,
        after_tables,
        after_items,
        action: PostAction::Restore(vec![entry.clone()]),
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
