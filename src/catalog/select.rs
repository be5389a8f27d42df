//! `--table` / `--exclude-table` patterns, and the foreign-key closure check: copying rows of a
//! table whose referenced table stays empty would only fail later, when the foreign key is
//! validated, so it is refused up front with the tables named.

use std::collections::HashSet;

use super::Table;

/// Glob match with `*` (any run) and `?` (one character), case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `schema.table` patterns match the qualified name; patterns without a dot match the table
/// name in any schema.
pub fn pattern_matches(pattern: &str, table: &Table) -> bool {
    match pattern.split_once('.') {
        Some((schema, name)) => glob_match(schema, &table.schema) && glob_match(name, &table.name),
        None => glob_match(pattern, &table.name),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("--table {0:?} matches no table")]
    NoMatch(String),
    #[error(
        "these tables reference tables that would stay empty, so their foreign keys could not \
         be validated: {0}; copy the referenced tables too (--table) or exclude the referencing ones"
    )]
    OpenForeignKeys(String),
}

/// The tables whose rows are copied.
pub fn select(
    tables: &[Table],
    include: &[String],
    exclude: &[String],
) -> Result<Vec<Table>, SelectError> {
    for pattern in include {
        if !tables.iter().any(|t| pattern_matches(pattern, t)) {
            return Err(SelectError::NoMatch(pattern.clone()));
        }
    }
    let chosen: Vec<Table> = tables
        .iter()
        .filter(|t| include.is_empty() || include.iter().any(|p| pattern_matches(p, t)))
        .filter(|t| !exclude.iter().any(|p| pattern_matches(p, t)))
        .cloned()
        .collect();
    let chosen_oids: HashSet<u32> = chosen.iter().map(|t| t.oid).collect();
    let all_oids: HashSet<u32> = tables.iter().map(|t| t.oid).collect();
    let open: Vec<String> = chosen
        .iter()
        .flat_map(|t| {
            t.references
                .iter()
                // Partitioned parents are not in `tables`; their partitions are checked.
                .filter(|r| all_oids.contains(r) && !chosen_oids.contains(r))
                .filter_map(|r| tables.iter().find(|x| x.oid == *r))
                .map(|r| format!("{} → {}", t.display_name(), r.display_name()))
                .collect::<Vec<_>>()
        })
        .collect();
    if !open.is_empty() {
        return Err(SelectError::OpenForeignKeys(open.join(", ")));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(oid: u32, schema: &str, name: &str, references: Vec<u32>) -> Table {
        Table {
            oid,
            schema: schema.into(),
            name: name.into(),
            columns: Vec::new(),
            bytes: 0,
            pages: 0,
            estimated_rows: 0,
            unlogged: false,
            references,
            partition_root: None,
            primary_key: Vec::new(),
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("user?", "users"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c", "abd"));
        assert!(!glob_match("Users", "users"), "case-sensitive");
    }

    #[test]
    fn patterns_with_and_without_schema() {
        let t = table(1, "sales", "Order Lines", vec![]);
        assert!(pattern_matches("Order*", &t));
        assert!(pattern_matches("sales.*", &t));
        assert!(!pattern_matches("public.*", &t));
    }

    #[test]
    fn open_foreign_keys_are_refused() {
        let tables = vec![
            table(1, "public", "users", vec![]),
            table(2, "public", "orders", vec![1]),
        ];
        let err = select(&tables, &["orders".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("public.orders → public.users"));
        assert_eq!(
            select(&tables, &[], &["orders".into()])
                .map(|v| v.len())
                .ok(),
            Some(1)
        );
        assert!(matches!(
            select(&tables, &["nope".into()], &[]),
            Err(SelectError::NoMatch(_))
        ));
    }
}
