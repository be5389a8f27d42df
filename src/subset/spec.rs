//! What a subset run was asked for: roots (`--subset "schema.table: WHERE"`), and from the
//! rules files per-table `where` filters, `percent` samples and how each foreign key is
//! followed. Parsed before any connection opens; names are resolved later, against the schema.

use crate::rules::file::Placed;
use crate::rules::RuleFile;

use super::SubsetError;

/// How a foreign key is followed from the referenced rows to the rows referencing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Default: the rows referencing a member row belong to it and are copied with it.
    Follow,
    /// Only upward: a referenced row is copied when needed, its referencing rows are not.
    Up,
    /// Neither: the referencing column is copied as NULL where its row is not copied anyway.
    Null,
}

impl Follow {
    fn parse(text: &str) -> Option<Follow> {
        match text {
            "follow" => Some(Follow::Follow),
            "up" => Some(Follow::Up),
            "null" => Some(Follow::Null),
            _ => None,
        }
    }
}

/// A `--subset` root: the rows of `table` matching `condition`.
#[derive(Debug, Clone, PartialEq)]
pub struct Root {
    pub table: String,
    pub condition: String,
}

/// A setting for one table, as written, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct ForTable<T> {
    pub table: String,
    pub value: T,
    /// `--subset` or `file:line:column`.
    pub origin: String,
}

/// Everything a subset run needs from the command line and the rules files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubsetSpec {
    pub roots: Vec<Root>,
    pub filters: Vec<ForTable<String>>,
    pub percents: Vec<ForTable<f64>>,
    /// Referencing table, its columns (`a` or `a,b`) → how that foreign key is followed.
    pub references: Vec<ForTable<(Vec<String>, Follow)>>,
}

impl SubsetSpec {
    /// From `--subset` values and the rules files; `None` when nothing asks for a subset (a
    /// `references` section alone changes nothing).
    pub fn parse(
        subsets: &[String],
        files: &[RuleFile],
    ) -> Result<Option<SubsetSpec>, SubsetError> {
        let mut spec = SubsetSpec::default();
        for text in subsets {
            spec.roots.push(parse_root(text)?);
        }
        for file in files {
            for table in &file.tables {
                let s = &table.subset;
                if let Some(Placed { value, place }) = &s.filter {
                    spec.filters.push(ForTable {
                        table: table.name.clone(),
                        value: value.clone(),
                        origin: place.clone(),
                    });
                }
                if let Some(Placed { value, place }) = &s.percent {
                    spec.percents.push(ForTable {
                        table: table.name.clone(),
                        value: *value,
                        origin: place.clone(),
                    });
                }
                for (columns, Placed { value, place }) in &s.references {
                    let follow = Follow::parse(value).ok_or_else(|| SubsetError::Spec {
                        origin: place.clone(),
                        message: format!("unknown way to follow a foreign key: {value:?}"),
                    })?;
                    let columns = columns.split(',').map(|c| c.trim().to_string()).collect();
                    spec.references.push(ForTable {
                        table: table.name.clone(),
                        value: (columns, follow),
                        origin: place.clone(),
                    });
                }
            }
        }
        let asked = !spec.roots.is_empty() || !spec.filters.is_empty() || !spec.percents.is_empty();
        Ok(asked.then_some(spec))
    }
}

/// `schema.table: condition` (the first colon ends the name; `::` casts in the condition are
/// fine).
fn parse_root(text: &str) -> Result<Root, SubsetError> {
    let bad = |message: &str| SubsetError::Spec {
        origin: "--subset".into(),
        message: format!("{text:?}: {message}"),
    };
    let (table, condition) = text
        .split_once(':')
        .ok_or_else(|| bad("expected \"schema.table: WHERE condition\""))?;
    let (table, condition) = (table.trim(), condition.trim());
    if table.is_empty() {
        return Err(bad("the table name is missing before the colon"));
    }
    if condition.is_empty() {
        return Err(bad(
            "the condition after the colon is missing (\"true\" takes every row)",
        ));
    }
    Ok(Root {
        table: table.to_string(),
        condition: condition.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_split_at_the_first_colon() {
        let root = parse_root("public.tenants: id = 42 AND name::text <> ''").ok();
        assert_eq!(
            root,
            Some(Root {
                table: "public.tenants".into(),
                condition: "id = 42 AND name::text <> ''".into()
            })
        );
        for bad in ["tenants", ": id = 1", "tenants:  "] {
            let err = parse_root(bad).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.starts_with("--subset: ")),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn rules_files_give_filters_samples_and_follow_rules_with_their_places() {
        let text = "[tables.orders]\nwhere = \"total > 10\"\npercent = 12.5\n\
                    [tables.orders.references]\n\"a, b\" = \"up\"\n";
        let (file, problems) =
            crate::rules::file::parse(std::path::Path::new("r.toml"), text.to_string());
        assert!(problems.is_empty(), "{problems:?}");
        let files: Vec<RuleFile> = file.into_iter().collect();
        let spec = SubsetSpec::parse(&[], &files).ok().flatten();
        let Some(spec) = spec else { panic!("no spec") };
        assert_eq!(spec.filters[0].table, "public.orders");
        assert_eq!(spec.filters[0].value, "total > 10");
        assert_eq!(spec.filters[0].origin, "r.toml:2:9");
        assert_eq!(spec.percents[0].value, 12.5);
        assert_eq!(
            spec.references[0].value,
            (vec!["a".to_string(), "b".to_string()], Follow::Up)
        );
        assert_eq!(SubsetSpec::parse(&[], &[]).ok(), Some(None));
    }

    #[test]
    fn bad_subset_settings_point_at_their_place() {
        let text =
            "[tables.orders]\npercent = 0\nwhere = 3\n[tables.orders.references]\nx = \"maybe\"\n";
        let (_, problems) =
            crate::rules::file::parse(std::path::Path::new("r.toml"), text.to_string());
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("r.toml:2:11:"), "{problems:?}");
        assert!(problems[1].starts_with("r.toml:3:9:"), "{problems:?}");
        assert!(problems[2].starts_with("r.toml:5:5:"), "{problems:?}");
    }
}
