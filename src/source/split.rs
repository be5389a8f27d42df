//! Splitting a large table into ctid (block) ranges so that one huge table does not serialize
//! the run. Ranges use TID range scans (PostgreSQL 14+); older servers copy tables whole.

use std::sync::Arc;

use crate::catalog::Table;

/// A unit of copy work: a whole table, or one block range of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1-based index among the table's parts.
    pub index: usize,
    pub count: usize,
    /// `[first_block, end_block)`; `None` bounds are open, so rows in pages added after the
    /// size was read are never missed.
    pub first_block: Option<u64>,
    pub end_block: Option<u64>,
    /// A row subset: only these rows, perhaps with some columns replaced.
    pub rows: Option<Arc<RowFilter>>,
}

/// The rows of a table a subset copies, and the SELECT list when some of its columns are not
/// copied as stored (foreign keys set to NULL where the referenced row is not copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFilter {
    pub predicate: String,
    pub select_list: Option<String>,
}

impl Part {
    pub fn whole() -> Part {
        Part {
            index: 1,
            count: 1,
            first_block: None,
            end_block: None,
            rows: None,
        }
    }

    /// The whole table, restricted to a subset's rows.
    pub fn subset(rows: RowFilter) -> Part {
        Part {
            rows: Some(Arc::new(rows)),
            ..Part::whole()
        }
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// The WHERE clause selecting this part's rows, if any.
    pub fn predicate(&self) -> Option<String> {
        let lower = self.first_block.map(|b| format!("ctid >= '({b},0)'::tid"));
        let upper = self.end_block.map(|b| format!("ctid < '({b},0)'::tid"));
        let rows = self.rows.as_ref().map(|r| format!("({})", r.predicate));
        let all: Vec<String> = [lower, upper, rows].into_iter().flatten().collect();
        (!all.is_empty()).then(|| all.join(" AND "))
    }

    /// `part 2/4 (blocks 1000..2000)`, for progress and error messages.
    pub fn describe(&self) -> String {
        if self.is_whole() {
            return String::new();
        }
        let from = self.first_block.unwrap_or(0);
        let to = self
            .end_block
            .map(|b| b.to_string())
            .unwrap_or_else(|| "end".into());
        format!("part {}/{} (blocks {from}..{to})", self.index, self.count)
    }
}

/// Splits `table` into parts of about `split_bytes` each when it is larger than that and the
/// server supports TID range scans.
pub fn plan_parts(table: &Table, split_bytes: u64, server_version_num: u32) -> Vec<Part> {
    const BLOCK: u64 = 8192;
    let supports_tid_range = server_version_num >= 140000;
    if split_bytes == 0 || table.bytes <= split_bytes || !supports_tid_range {
        return vec![Part::whole()];
    }
    let blocks = table.bytes.div_ceil(BLOCK).max(1);
    let count = table.bytes.div_ceil(split_bytes).clamp(2, 1024) as usize;
    let per_part = blocks.div_ceil(count as u64).max(1);
    let mut parts = Vec::with_capacity(count);
    let mut start = 0u64;
    for index in 1..=count {
        let end = start + per_part;
        parts.push(Part {
            index,
            count,
            first_block: (index > 1).then_some(start),
            end_block: (index < count).then_some(end),
            rows: None,
        });
        start = end;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(bytes: u64) -> Table {
        Table {
            oid: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: Vec::new(),
            bytes,
            pages: bytes / 8192,
            estimated_rows: 0,
            unlogged: false,
            references: Vec::new(),
            partition_root: None,
            primary_key: Vec::new(),
        }
    }

    #[test]
    fn small_tables_and_old_servers_are_not_split() {
        assert_eq!(
            plan_parts(&table(1 << 20), 1 << 30, 150000),
            vec![Part::whole()]
        );
        assert_eq!(
            plan_parts(&table(4 << 30), 1 << 30, 130000),
            vec![Part::whole()]
        );
    }

    #[test]
    fn ranges_are_contiguous_and_open_at_both_ends() {
        let parts = plan_parts(&table(4 << 30), 1 << 30, 150000);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].first_block, None);
        assert_eq!(parts[3].end_block, None);
        for pair in parts.windows(2) {
            assert_eq!(pair[0].end_block, pair[1].first_block);
        }
        assert_eq!(
            parts[1].predicate().as_deref(),
            Some("ctid >= '(131072,0)'::tid AND ctid < '(262144,0)'::tid")
        );
    }
}
