//! The foreign-key graph a closure walks, read from `pg_catalog` inside the snapshot: the
//! relations (copied tables and partitioned tables, each with the copied tables that hold its
//! rows) and the foreign keys as declared (a partitioned table's key once, not per partition).

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::catalog::{quote_ident, Table};

/// A relation rows can be selected from: a copied table, or a partitioned table whose rows
/// live in its leaf partitions.
#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub partitioned: bool,
    /// The copied tables holding its rows: itself, or its leaf partitions.
    pub leaves: Vec<u32>,
    /// Primary-key columns (the key a `percent` sample hashes); empty without one.
    pub primary_key: Vec<String>,
    /// The partitioned table at the top of its tree, or itself.
    pub top: u32,
}

impl Relation {
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `ONLY "s"."t"` for a table (inheritance children are tables of their own), the
    /// partitioned table itself otherwise: what `FROM` reads to see exactly its rows.
    pub fn scan_sql(&self) -> String {
        let name = format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name));
        if self.partitioned {
            name
        } else {
            format!("ONLY {name}")
        }
    }
}

/// A foreign key from `child (columns)` to `parent (parent_columns)`.
#[derive(Debug, Clone)]
pub struct Edge {
    pub name: String,
    pub child: u32,
    pub parent: u32,
    pub columns: Vec<String>,
    pub parent_columns: Vec<String>,
    /// Every referencing column accepts NULL.
    pub nullable: bool,
}

#[derive(Debug, Default)]
pub struct Graph {
    pub relations: HashMap<u32, Relation>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The relations holding rows of the copied `tables`, and the foreign keys between them.
    pub async fn load(
        client: &Client,
        tables: &[Table],
        server_version_num: u32,
    ) -> Result<Graph, tokio_postgres::Error> {
        const KEY_COLUMNS: &str = "ARRAY(SELECT a.attname::text FROM unnest({key}) WITH \
             ORDINALITY k(n, o) JOIN pg_catalog.pg_attribute a ON a.attrelid = {rel} AND \
             a.attnum = k.n ORDER BY k.o)";
        let columns =
            |key: &str, rel: &str| KEY_COLUMNS.replace("{key}", key).replace("{rel}", rel);
        let sql = format!(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind = 'p', \
             (SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p \
              ON p.oid = i.inhparent AND p.relkind = 'p' WHERE i.inhrelid = c.oid), \
             COALESCE((SELECT {} FROM pg_catalog.pg_constraint co \
              WHERE co.conrelid = c.oid AND co.contype = 'p'), '{{}}') \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p')",
            columns("co.conkey", "co.conrelid")
        );
        let copied: HashMap<u32, &Table> = tables.iter().map(|t| (t.oid, t)).collect();
        let mut parent_of: HashMap<u32, u32> = HashMap::new();
        let mut graph = Graph::default();
        for r in client.query(&sql, &[]).await? {
            let oid: u32 = r.get(0);
            if let Some(parent) = r.get::<_, Option<u32>>(4) {
                parent_of.insert(oid, parent);
            }
            let partitioned: bool = r.get(3);
            if !partitioned && !copied.contains_key(&oid) {
                continue;
            }
            graph.relations.insert(
                oid,
                Relation {
                    oid,
                    schema: r.get(1),
                    name: r.get(2),
                    partitioned,
                    leaves: if partitioned { Vec::new() } else { vec![oid] },
                    primary_key: r.get(5),
                    top: oid,
                },
            );
        }
        // Each copied partition is a leaf of every partitioned table above it.
        for leaf in tables.iter().map(|t| t.oid) {
            let mut at = leaf;
            let mut depth = 0;
            while let Some(&parent) = parent_of.get(&at) {
                if let Some(rel) = graph.relations.get_mut(&parent) {
                    rel.leaves.push(leaf);
                }
                at = parent;
                depth += 1;
                if depth > 64 {
                    break;
                }
            }
            if let Some(rel) = graph.relations.get_mut(&leaf) {
                rel.top = at;
            }
        }
        let tops: Vec<(u32, u32)> = graph
            .relations
            .keys()
            .map(|&oid| {
                let mut at = oid;
                while let Some(&p) = parent_of.get(&at) {
                    at = p;
                }
                (oid, at)
            })
            .collect();
        for (oid, top) in tops {
            if let Some(rel) = graph.relations.get_mut(&oid) {
                rel.top = top;
            }
        }
        graph.relations.retain(|_, r| !r.leaves.is_empty());

        // Declared keys only: the clones PostgreSQL adds per partition have a parent.
        let declared = if server_version_num >= 110000 {
            " AND co.conparentid = 0"
        } else {
            ""
        };
        let sql = format!(
            "SELECT co.conname::text, co.conrelid, co.confrelid, {}, {}, \
             NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = co.conrelid \
              AND a.attnum = ANY(co.conkey) AND a.attnotnull) \
             FROM pg_catalog.pg_constraint co WHERE co.contype = 'f'{declared}",
            columns("co.conkey", "co.conrelid"),
            columns("co.confkey", "co.confrelid"),
        );
        for r in client.query(&sql, &[]).await? {
            let edge = Edge {
                name: r.get(0),
                child: r.get(1),
                parent: r.get(2),
                columns: r.get(3),
                parent_columns: r.get(4),
                nullable: r.get(5),
            };
            if graph.relations.contains_key(&edge.child)
                && graph.relations.contains_key(&edge.parent)
            {
                graph.edges.push(edge);
            }
        }
        graph.edges.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(graph)
    }

    /// The relation a name means: `schema.table` exactly, or `table` in `public`, else in the
    /// one schema that has it. Parts may be double-quoted (`"Sales"."Order"`).
    pub fn find(&self, name: &str) -> Option<&Relation> {
        let parts = split_name(name)?;
        match parts.as_slice() {
            [schema, table] => self
                .relations
                .values()
                .find(|r| &r.schema == schema && &r.name == table),
            [table] => {
                let named: Vec<&Relation> = self
                    .relations
                    .values()
                    .filter(|r| &r.name == table)
                    .collect();
                named
                    .iter()
                    .find(|r| r.schema == "public")
                    .or(if named.len() == 1 {
                        named.first()
                    } else {
                        None
                    })
                    .copied()
            }
            _ => None,
        }
    }
}

/// `a.b`, `"A"."b.c"` → its parts, unquoted; `None` for an unterminated quote.
fn split_name(name: &str) -> Option<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut chars = name.trim().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                parts.last_mut()?.push('"');
            }
            ('"', true) => quoted = false,
            ('.', false) => parts.push(String::new()),
            (c, _) => parts.last_mut()?.push(c),
        }
    }
    (!quoted).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::split_name;

    #[test]
    fn names_split_at_dots_outside_quotes() {
        assert_eq!(
            split_name("public.t"),
            Some(vec!["public".into(), "t".into()])
        );
        assert_eq!(
            split_name("\"Sales\".\"Order \"\"x\"\".y\""),
            Some(vec!["Sales".into(), "Order \"x\".y".into()])
        );
        assert_eq!(split_name("\"Customer\""), Some(vec!["Customer".into()]));
        assert_eq!(split_name("\"open"), None);
    }
}
