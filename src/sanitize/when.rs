//! `when`: conditional branches of a column's entry.
//!
//! ```toml
//! email = { rule = "email", when = [
//!   { matches = "@ourcompany\\.com$", rule = "keep" },          # this column's value
//!   { column = "kind", equals = "staff", rule = "keep" },       # another column (original)
//!   { is_null = true, rule = "null" },
//! ] }
//! ```
//! Each branch has exactly one of `equals` (text form equals), `matches` (regex on the text
//! form) or `is_null`, an optional `column` (default: this column), and is itself an entry
//! (`rule`, `domain`, parameters) checked like the column's own. The first matching branch
//! applies; otherwise the entry's own rule.

use regex::Regex;

use super::compose::build_entry;
use super::spec::*;
use super::value;

/// Keys of a branch that are its condition, not its entry.
pub const CONDITION_KEYS: &[&str] = &["column", "equals", "matches", "is_null"];

enum Cond {
    Equals(String),
    Matches(Regex),
    IsNull(bool),
}

pub struct Branch {
    /// Another column tested (None: this column's value).
    column: Option<ColumnInfo>,
    cond: Cond,
    then: Box<dyn ColumnSanitizer>,
}

pub struct When {
    branches: Vec<Branch>,
    otherwise: Box<dyn ColumnSanitizer>,
    /// This column (for the text form of its values).
    this: Option<ColumnInfo>,
}

impl When {
    pub fn new(branches: Vec<(Branch, ColumnInfo)>, otherwise: Box<dyn ColumnSanitizer>) -> When {
        let this = branches.first().map(|(_, c)| c.clone());
        When {
            branches: branches.into_iter().map(|(b, _)| b).collect(),
            otherwise,
            this,
        }
    }
}

/// Parses and builds the `when` list; None when any branch has a problem.
pub fn build_branches(
    when: &toml::Value,
    column: &ColumnInfo,
    row: &[ColumnInfo],
    domain: &str,
    unique_domains: &UniqueDomains,
    dictionary: Option<&std::sync::Arc<super::dictionary::Dictionary>>,
    problems: &mut Vec<String>,
) -> Option<Vec<(Branch, ColumnInfo)>> {
    let Some(list) = when.as_array() else {
        problems.push(
            "`when` must be a list of branches such as [{ matches = \"…\", rule = \"keep\" }]"
                .into(),
        );
        return None;
    };
    let before = problems.len();
    let mut out = Vec::new();
    for (i, b) in list.iter().enumerate() {
        let n = i + 1;
        let Some(t) = b.as_table() else {
            problems.push(format!("`when` branch {n} must be a table"));
            continue;
        };
        let other = match t.get("column") {
            None => None,
            Some(toml::Value::String(c)) if *c == column.name => None,
            Some(toml::Value::String(c)) => match row.iter().find(|r| &r.name == c) {
                Some(r) if r.array => {
                    problems.push(format!(
                        "`when` branch {n}: column {c:?} is an array and cannot be tested"
                    ));
                    continue;
                }
                Some(r) => Some(r.clone()),
                None => {
                    problems.push(format!("`when` branch {n}: no column {c:?} in this table"));
                    continue;
                }
            },
            Some(_) => {
                problems.push(format!("`when` branch {n}: `column` must be a string"));
                continue;
            }
        };
        let tested = other.as_ref().unwrap_or(column);
        let conds: Vec<&str> = ["equals", "matches", "is_null"]
            .into_iter()
            .filter(|k| t.contains_key(*k))
            .collect();
        if conds.len() != 1 {
            problems.push(format!(
                "`when` branch {n} needs exactly one of `equals`, `matches`, `is_null`"
            ));
            continue;
        }
        let needs_text = conds[0] != "is_null";
        if needs_text && !value::displayable(tested.class) {
            problems.push(format!(
                "`when` branch {n}: values of type {} cannot be compared as text",
                tested.type_name
            ));
            continue;
        }
        let cond = match (conds[0], &t[conds[0]]) {
            ("is_null", toml::Value::Boolean(b)) => Cond::IsNull(*b),
            ("is_null", _) => {
                problems.push(format!(
                    "`when` branch {n}: `is_null` must be true or false"
                ));
                continue;
            }
            ("matches", toml::Value::String(re)) => match Regex::new(re) {
                Ok(r) => Cond::Matches(r),
                Err(e) => {
                    problems.push(format!(
                        "`when` branch {n}: `matches` is not a valid regex: {e}"
                    ));
                    continue;
                }
            },
            ("matches", _) => {
                problems.push(format!("`when` branch {n}: `matches` must be a string"));
                continue;
            }
            (_, toml::Value::String(s)) => Cond::Equals(s.clone()),
            (_, toml::Value::Integer(i)) => Cond::Equals(i.to_string()),
            (_, toml::Value::Boolean(b)) => Cond::Equals(b.to_string()),
            (_, toml::Value::Float(f)) => Cond::Equals(f.to_string()),
            (_, _) => {
                problems.push(format!(
                    "`when` branch {n}: `equals` must be a string, number or boolean"
                ));
                continue;
            }
        };
        let entry: toml::Table = t
            .iter()
            .filter(|(k, _)| !CONDITION_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut branch_problems = Vec::new();
        let then = build_entry(
            &entry,
            column,
            row,
            domain,
            unique_domains,
            dictionary,
            &mut branch_problems,
        );
        problems.extend(
            branch_problems
                .into_iter()
                .map(|p| format!("`when` branch {n}: {p}")),
        );
        if let Some(then) = then {
            out.push((
                Branch {
                    column: other,
                    cond,
                    then,
                },
                column.clone(),
            ));
        }
    }
    (problems.len() == before).then_some(out)
}

impl When {
    fn matches(
        &self,
        b: &Branch,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        text: &mut String,
    ) -> Result<bool, SanitizeError> {
        let (tested, info) = match &b.column {
            None => (input, self.this.as_ref()),
            Some(c) => {
                let row = ctx
                    .row
                    .ok_or_else(|| value::err(format!("when: column {}: no row access", c.name)))?;
                (row.original(&c.name).map_err(value::err)?, Some(c))
            }
        };
        if let Cond::IsNull(want) = b.cond {
            return Ok(tested.is_none() == want);
        }
        let (Some(v), Some(info)) = (tested, info) else {
            return Ok(false);
        };
        text.clear();
        value::display(info, v, text)?;
        Ok(match &b.cond {
            Cond::Equals(e) => text == e,
            Cond::Matches(r) => r.is_match(text),
            Cond::IsNull(_) => false,
        })
    }
}

impl ColumnSanitizer for When {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let mut text = String::new();
        for b in &self.branches {
            if self.matches(b, input, ctx, &mut text)? {
                return b.then.sanitize(input, ctx, out);
            }
        }
        self.otherwise.sanitize(input, ctx, out)
    }

    fn reads(&self) -> Vec<ColumnRead> {
        let mut reads = Vec::new();
        for b in &self.branches {
            if let Some(c) = &b.column {
                reads.push(ColumnRead {
                    column: c.name.clone(),
                    sanitized: false,
                });
            }
            reads.extend(b.then.reads());
        }
        reads.extend(self.otherwise.reads());
        let mut unique = Vec::new();
        for r in reads {
            if !unique.contains(&r) {
                unique.push(r);
            }
        }
        unique
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::build_column;
    use crate::sanitize::testing::{column, key, run};

    struct Row(Vec<(String, Option<Vec<u8>>)>);

    impl RowAccess for Row {
        fn original(&self, column: &str) -> Result<Option<&[u8]>, String> {
            self.0
                .iter()
                .find(|(c, _)| c == column)
                .map(|(_, v)| v.as_deref())
                .ok_or_else(|| format!("no column {column}"))
        }
        fn sanitized(&self, _column: &str, _out: &mut Vec<u8>) -> Result<Outcome, String> {
            Ok(Outcome::Same)
        }
    }

    fn cols() -> (ColumnInfo, Vec<ColumnInfo>) {
        let mut email = column(TypeClass::Text, oids::TEXT);
        email.name = "email".into();
        let mut kind = column(TypeClass::Text, oids::TEXT);
        kind.name = "kind".into();
        (email.clone(), vec![email, kind])
    }

    const ENTRY: &str = r#"
        rule = "email"
        when = [
          { matches = "@ourcompany\\.com$", rule = "keep" },
          { column = "kind", equals = "bot", rule = "constant", value = "bot@example.com" },
          { is_null = true, rule = "constant", value = "none@example.com", replace_null = true },
        ]
    "#;

    #[test]
    fn first_matching_branch_wins() {
        let (email, row) = cols();
        let entry: toml::Table = ENTRY.parse().expect("toml");
        let s = match build_column(&entry, &email, &row, "d") {
            Ok(s) => s,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(
            s.reads(),
            vec![ColumnRead {
                column: "kind".into(),
                sanitized: false
            }]
        );
        let k = key();
        let go = |v: Option<&[u8]>, kind: &[u8]| {
            let r = Row(vec![("kind".into(), Some(kind.to_vec()))]);
            let ctx = Ctx {
                key: &k,
                row: Some(&r),
            };
            let mut out = Vec::new();
            let o = s.sanitize(v, &ctx, &mut out).expect("sanitizes");
            (o, out)
        };
        assert_eq!(go(Some(b"me@ourcompany.com"), b"x").0, Outcome::Same);
        assert_eq!(go(Some(b"a@b.c"), b"bot").1, b"bot@example.com");
        assert_eq!(go(None, b"x").1, b"none@example.com");
        let (o, out) = go(Some(b"a@b.c"), b"human");
        assert_eq!(o, Outcome::Value);
        assert!(out.ends_with(b".com") || out.ends_with(b".net") || out.ends_with(b".org"));
        assert_eq!(run(s.as_ref(), Some(b"me@ourcompany.com")).0, Outcome::Same);
    }

    #[test]
    fn every_branch_problem_reported() {
        let (mut email, row) = cols();
        email.not_null = true;
        let entry: toml::Table = r#"
            rule = "email"
            when = [
              { matches = "(", rule = "keep" },
              { column = "nope", equals = "x", rule = "keep" },
              { equals = "x", is_null = true, rule = "keep" },
              { equals = "x", rule = "null" },
              { equals = "x", rule = "mask", keep_first = "a" },
            ]
        "#
        .parse()
        .expect("toml");
        let e = build_column(&entry, &email, &row, "d")
            .err()
            .expect("refused");
        assert_eq!(e.len(), 5, "{e:?}");
        assert!(e[0].contains("branch 1") && e[0].contains("regex"), "{e:?}");
        assert!(e[1].contains("nope"));
        assert!(e[2].contains("exactly one"));
        assert!(e[3].contains("NOT NULL"));
        assert!(e[4].contains("keep_first"));
    }
}
