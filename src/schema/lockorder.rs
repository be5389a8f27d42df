//! Which foreign keys must be added by one session so that post-data cannot deadlock.
//!
//! `ALTER TABLE child ADD FOREIGN KEY … REFERENCES parent` takes SHARE ROW EXCLUSIVE (a mode
//! that conflicts with itself) on the child, then on the parent, and holds both until it
//! commits. A session that waits holds at most its child's lock and waits for its parent's, so
//! every edge of a wait-for cycle goes from a child to its parent (or to another session
//! waiting for the same parent): a deadlock needs a directed cycle of tables in the foreign key
//! graph, each step taken by a different session. All tables of such a cycle lie in one
//! strongly connected component of that graph. Adding all foreign keys among the tables of one
//! component in one session, one statement (and transaction) at a time in archive order, leaves
//! at most one session per component holding a lock and waiting for another one of that
//! component, so no cycle can form. Foreign keys between components follow the condensation
//! of the graph, which is acyclic, so they may run in parallel with everything else.
//!
//! Everything else in post-data takes a single table's lock (index builds, constraints on one
//! table, ANALYZE) and waits for nothing while holding it, or runs in the final `pg_restore
//! -j`, which never runs two entries that lock the same table at once.

use std::collections::HashMap;

/// The strongly connected components with two tables or more of the directed graph `edges`
/// (referencing table → referenced table), as table → component number. Self-references
/// lock one table only and do not make a component.
pub fn cyclic_groups(edges: impl IntoIterator<Item = (u32, u32)>) -> HashMap<u32, usize> {
    let edges: Vec<(u32, u32)> = edges.into_iter().filter(|(a, b)| a != b).collect();
    let mut nodes: Vec<u32> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let position: HashMap<u32, usize> = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let mut next_of = vec![Vec::new(); nodes.len()];
    for (a, b) in &edges {
        next_of[position[a]].push(position[b]);
    }
    let mut groups = HashMap::new();
    for (number, component) in components(&next_of)
        .into_iter()
        .filter(|c| c.len() > 1)
        .enumerate()
    {
        for n in component {
            groups.insert(nodes[n], number);
        }
    }
    groups
}

/// Tarjan's algorithm without recursion (schemas with thousands of tables in a chain must not
/// overflow the stack).
fn components(next_of: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = next_of.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut counter = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, position of the next edge to follow)
        let mut calls = vec![(root, 0usize)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&(v, edge)) = calls.last() {
            if let Some(&w) = next_of[v].get(edge) {
                if let Some(top) = calls.last_mut() {
                    top.1 += 1;
                }
                if index[w] == UNSEEN {
                    index[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouped(edges: &[(u32, u32)]) -> Vec<Vec<u32>> {
        let groups = cyclic_groups(edges.iter().copied());
        let mut by_group: HashMap<usize, Vec<u32>> = HashMap::new();
        for (table, g) in groups {
            by_group.entry(g).or_default().push(table);
        }
        let mut out: Vec<Vec<u32>> = by_group
            .into_values()
            .map(|mut v| {
                v.sort_unstable();
                v
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn mutual_pairs_and_cycles_are_grouped_chains_are_not() {
        let edges = [
            (1, 2),
            (2, 1), // a pair
            (3, 3), // a self-reference alone
            (4, 5),
            (5, 6),
            (6, 4), // a three-cycle
            (7, 1),
            (7, 4), // references into both, referenced by nothing
            (8, 9),
            (9, 10), // a chain
            (2, 2),
            (5, 5), // self-references with partners
        ];
        assert_eq!(grouped(&edges), vec![vec![1, 2], vec![4, 5, 6]]);
    }

    #[test]
    fn cycles_joined_through_a_table_are_one_group() {
        // 1 ⇄ 2 and 2 → 3 → 1: one component of three.
        assert_eq!(
            grouped(&[(1, 2), (2, 1), (2, 3), (3, 1)]),
            vec![vec![1, 2, 3]]
        );
        // Two pairs joined by a one-way edge stay apart.
        assert_eq!(
            grouped(&[(1, 2), (2, 1), (2, 3), (3, 4), (4, 3)]),
            vec![vec![1, 2], vec![3, 4]]
        );
    }

    #[test]
    fn a_long_chain_closing_into_a_cycle_does_not_recurse() {
        let n = 100_000u32;
        let mut edges: Vec<(u32, u32)> = (0..n).map(|i| (i, i + 1)).collect();
        edges.push((n, 0));
        let groups = cyclic_groups(edges);
        assert_eq!(groups.len(), n as usize + 1);
    }
}
