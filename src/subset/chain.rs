//! Tables whose copied rows a SQL predicate names exactly, so the closure need not list them
//! row by row: a semi-join chain from the roots. A plain table (not partitioned, not a
//! partition) is such a chain table when
//! - it is a root, or reached downward along followed keys from members of chain tables other
//!   than itself (no cycle among them), and nothing else makes members of it;
//! - nothing pulls further rows of it in from below: every table that may hold copied rows and
//!   references it through a key that is not cut (`null`) is a chain table reached through
//!   that key alone (those rows reference members already, so following it back up adds none).
//!
//! Then its copied rows are its members and are exactly
//! `(root condition OR (key) IN (SELECT … FROM parent WHERE <parent's predicate>) …) AND
//! <where/percent>`, which the server evaluates as a semi-join: no ctid set crosses the wire,
//! and the read of the table is the same query as copying those rows by hand. Everything else
//! (self-references, cycles, partitions, rows added upward) keeps the general ctid walk.

use std::collections::{HashMap, HashSet};

use super::graph::Graph;
use super::spec::Follow;

/// Where the members of a chain table come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The rows matching root number `n` (index in the resolved roots).
    Root(usize),
    /// The rows referencing members of the parent through foreign key `n` (index in
    /// `graph.edges`).
    Down(usize),
}

/// The chain tables of one subset, with the sources of each.
#[derive(Debug, Default)]
pub struct Chains {
    sources: HashMap<u32, Vec<Source>>,
}

impl Chains {
    /// `roots`: the relation of each resolved root, in order; `excluded`: tables whose
    /// conditions must be evaluated once, by the walk, not again by every query that names
    /// their rows.
    pub fn find(
        graph: &Graph,
        follow: &[Follow],
        roots: &[u32],
        excluded: &HashSet<u32>,
    ) -> Chains {
        let (members, copied) = reach(graph, follow, roots);
        let family = |oid: u32| graph.relations.get(&oid).map_or(oid, |r| r.top);
        let mut candidates: Vec<u32> = graph
            .relations
            .values()
            .filter(|r| {
                !r.partitioned
                    && r.top == r.oid
                    && r.leaves == [r.oid]
                    && copied.contains(&r.oid)
                    && !excluded.contains(&r.oid)
            })
            .map(|r| r.oid)
            .collect();
        candidates.sort_unstable();

        // Members only from roots and from chain tables above: built parents first, so a
        // cycle or a self-reference never gets in.
        let mut sources: HashMap<u32, Vec<Source>> = HashMap::new();
        loop {
            let mut grew = false;
            for &table in &candidates {
                if sources.contains_key(&table) {
                    continue;
                }
                let mut found: Vec<Source> = roots
                    .iter()
                    .enumerate()
                    .filter(|(_, &root)| root == table)
                    .map(|(n, _)| Source::Root(n))
                    .collect();
                let mut ready = true;
                for (i, edge) in graph.edges.iter().enumerate() {
                    let brings_members = follow[i] == Follow::Follow
                        && edge.child == table
                        && members.contains(&family(edge.parent));
                    if !brings_members {
                        continue;
                    }
                    if edge.parent == table || !sources.contains_key(&edge.parent) {
                        ready = false;
                        break;
                    }
                    found.push(Source::Down(i));
                }
                if ready && !found.is_empty() {
                    sources.insert(table, found);
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }

        // Nothing may come up from below, and a table whose parent left stops being a chain.
        loop {
            let gone: Vec<u32> = sources
                .iter()
                .filter(|(&table, from)| {
                    let parent_gone = from.iter().any(|s| match s {
                        Source::Down(i) => !sources.contains_key(&graph.edges[*i].parent),
                        Source::Root(_) => false,
                    });
                    let pulled_up = graph.edges.iter().enumerate().any(|(i, edge)| {
                        edge.parent == table
                            && follow[i] != Follow::Null
                            && copied.contains(&family(edge.child))
                            && sources.get(&edge.child).map(Vec::as_slice)
                                != Some(&[Source::Down(i)][..])
                    });
                    parent_gone || pulled_up
                })
                .map(|(&table, _)| table)
                .collect();
            if gone.is_empty() {
                break;
            }
            for table in gone {
                sources.remove(&table);
            }
        }
        Chains { sources }
    }

    /// The sources of a chain table; `None` for a table the ctid walk handles.
    pub fn sources(&self, table: u32) -> Option<&[Source]> {
        self.sources.get(&table).map(Vec::as_slice)
    }

    pub fn contains(&self, table: u32) -> bool {
        self.sources.contains_key(&table)
    }

    /// The chain tables, each after the chain tables its members come from.
    pub fn in_order(&self, graph: &Graph) -> Vec<u32> {
        let mut done: Vec<u32> = Vec::new();
        let mut left: Vec<u32> = self.sources.keys().copied().collect();
        left.sort_unstable();
        while !left.is_empty() {
            let before = left.len();
            left.retain(|table| {
                let ready = self.sources[table].iter().all(|s| match s {
                    Source::Down(i) => done.contains(&graph.edges[*i].parent),
                    Source::Root(_) => true,
                });
                if ready {
                    done.push(*table);
                }
                !ready
            });
            if left.len() == before {
                // Unreachable: sources only name tables built before them.
                done.append(&mut left);
            }
        }
        done
    }
}

/// The names `condition` calls (`name(`, lowercased unless quoted, string literals skipped;
/// SQL keywords such as `IN (` come along and match no function) and whether it names the
/// current date or time.
pub fn called_names(condition: &str) -> (Vec<String>, bool) {
    const CLOCKS: [&str; 5] = [
        "current_date",
        "current_time",
        "current_timestamp",
        "localtime",
        "localtimestamp",
    ];
    let mut called = Vec::new();
    let mut clock = false;
    let chars: Vec<char> = condition.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c == '\'' {
            // A string literal: nothing in it is called.
            at += 1;
            while at < chars.len() && chars[at] != '\'' {
                at += 1;
            }
            at += 1;
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '"' {
            let start = at;
            let quoted = c == '"';
            at += 1;
            while at < chars.len()
                && (if quoted {
                    chars[at - 1] != '"' || at == start + 1
                } else {
                    chars[at].is_alphanumeric() || chars[at] == '_' || chars[at] == '$'
                })
            {
                at += 1;
            }
            let word: String = chars[start..at].iter().collect();
            let word = if quoted {
                word.trim_matches('"').to_string()
            } else {
                word.to_lowercase()
            };
            clock |= CLOCKS.contains(&word.as_str());
            let mut next = at;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            if chars.get(next) == Some(&'(') {
                called.push(word);
            }
            continue;
        }
        at += 1;
    }
    (called, clock)
}

/// Families (top relations) that may hold members, and that may hold copied rows: an
/// over-approximation of the walk, ignoring filters and which rows match.
fn reach(graph: &Graph, follow: &[Follow], roots: &[u32]) -> (HashSet<u32>, HashSet<u32>) {
    let family = |oid: u32| graph.relations.get(&oid).map_or(oid, |r| r.top);
    let mut members: HashSet<u32> = roots.iter().map(|&r| family(r)).collect();
    let mut copied = members.clone();
    loop {
        let mut grew = false;
        for (i, edge) in graph.edges.iter().enumerate() {
            let (child, parent) = (family(edge.child), family(edge.parent));
            if follow[i] == Follow::Follow && members.contains(&parent) {
                grew |= members.insert(child);
                grew |= copied.insert(child);
            }
            if follow[i] != Follow::Null && copied.contains(&child) {
                grew |= copied.insert(parent);
            }
        }
        if !grew {
            return (members, copied);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subset::graph::{Edge, Relation};

    fn graph(tables: &[u32], edges: &[(u32, u32)]) -> Graph {
        let mut g = Graph::default();
        for &oid in tables {
            g.relations.insert(
                oid,
                Relation {
                    oid,
                    schema: "public".into(),
                    name: format!("t{oid}"),
                    partitioned: false,
                    leaves: vec![oid],
                    primary_key: vec!["id".into()],
                    top: oid,
                },
            );
        }
        for (n, &(child, parent)) in edges.iter().enumerate() {
            g.edges.push(Edge {
                name: format!("fk{n}"),
                child,
                parent,
                columns: vec!["p".into()],
                parent_columns: vec!["id".into()],
                nullable: true,
            });
        }
        g
    }

    fn chain_tables(g: &Graph, follow: &[Follow], roots: &[u32]) -> Vec<u32> {
        let chains = Chains::find(g, follow, roots, &HashSet::new());
        chains.in_order(g)
    }

    #[test]
    fn a_downward_chain_from_the_root_is_predicates() {
        // 2 references 1, 3 references 2; 4 is unrelated.
        let g = graph(&[1, 2, 3, 4], &[(2, 1), (3, 2)]);
        let follow = [Follow::Follow; 2];
        assert_eq!(chain_tables(&g, &follow, &[1]), [1, 2, 3]);
        let chains = Chains::find(&g, &follow, &[1], &HashSet::new());
        assert_eq!(chains.sources(3), Some(&[Source::Down(1)][..]));
        assert_eq!(chains.sources(1), Some(&[Source::Root(0)][..]));
        // A table whose filter must run once takes the tables below and above it along.
        let chains = Chains::find(&g, &follow, &[1], &HashSet::from([2]));
        assert_eq!(chains.in_order(&g), Vec::<u32>::new());
    }

    #[test]
    fn rows_pulled_up_from_below_need_the_ctid_walk() {
        // 2 references 1 and 3: 3 gets rows only upward, so it keeps the ctid walk; 2 and 1
        // stay chains.
        let g = graph(&[1, 2, 3], &[(2, 1), (2, 3)]);
        let follow = [Follow::Follow; 2];
        assert_eq!(chain_tables(&g, &follow, &[1]), [1, 2]);
        // Following a key only upward: its referencing rows pull their parents in.
        let g = graph(&[1, 2], &[(2, 1)]);
        assert_eq!(chain_tables(&g, &[Follow::Up], &[2]), [2]);
        // Cut keys pull nothing.
        assert_eq!(chain_tables(&g, &[Follow::Null], &[2]), [2]);
    }

    #[test]
    fn self_references_cycles_and_diamonds() {
        // 2 references 1 and itself: a row of 2 reached through the self-reference may
        // reference any row of 1, so neither is a chain.
        let g = graph(&[1, 2], &[(2, 1), (2, 2)]);
        assert_eq!(
            chain_tables(&g, &[Follow::Follow; 2], &[1]),
            Vec::<u32>::new()
        );
        // A root referencing itself keeps the ctid walk, a table below it too.
        let g = graph(&[1, 2], &[(1, 1), (2, 1)]);
        assert_eq!(
            chain_tables(&g, &[Follow::Follow; 2], &[1]),
            Vec::<u32>::new()
        );
        // 2 and 3 reference each other below root 1.
        let g = graph(&[1, 2, 3], &[(2, 1), (3, 2), (2, 3)]);
        assert_eq!(
            chain_tables(&g, &[Follow::Follow; 3], &[1]),
            Vec::<u32>::new()
        );
        // A diamond: 4 references both 2 and 3, each below 1. A row of 4 that came down from
        // 3 pulls in a row of 2 that need not be a member, so 2 (and likewise 3) is not a
        // chain, nor 4 below them, nor 1 above them.
        let g = graph(&[1, 2, 3, 4], &[(2, 1), (3, 1), (4, 2), (4, 3)]);
        assert_eq!(
            chain_tables(&g, &[Follow::Follow; 4], &[1]),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn calls_and_clocks_are_found_outside_literals() {
        let (called, clock) = called_names("id % 10 = 0 AND name <> 'random()'");
        assert!(called.is_empty() && !clock, "{called:?}");
        let (called, clock) =
            called_names("random () < 0.5 OR public.Lower(x) IN ('a') OR \"F\"(y)");
        assert_eq!(called, ["random", "lower", "in", "F"]);
        assert!(!clock);
        assert!(called_names("at > CURRENT_DATE - 7").1);
    }

    #[test]
    fn partitions_keep_the_ctid_walk() {
        // 2 is a partition: it keeps the ctid walk, and so does 1, whose rows it references.
        let mut g = graph(&[1, 2, 3], &[(2, 1)]);
        if let Some(r) = g.relations.get_mut(&2) {
            r.top = 9;
        }
        assert_eq!(chain_tables(&g, &[Follow::Follow], &[1]), Vec::<u32>::new());
        assert_eq!(chain_tables(&g, &[Follow::Follow], &[3]), [3]);
    }
}
