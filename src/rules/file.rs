//! One rules file: TOML → defaults and per-table column entries, each with its place in the
//! file. Strict: unknown keys, misplaced values, unknown rules and bad parameters are all
//! reported, not just the first.
//!
//! ```toml
//! [defaults.columns]            # glob over column names, used where a table says nothing
//! "*_at" = "keep"
//! [tables."public.users".columns]
//! email = { rule = "email", domain = "email" }
//! id = "keep"
//! notes = { undecided = "free text with email addresses in it" }   # stops check and clone
//! ```

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostic::Diagnostic;
use crate::sanitize::{compose, registry};

/// A column decision as written: the rule entry (always a table with `rule`) and where it is.
#[derive(Debug, Clone)]
pub struct Entry {
    pub spec: toml::Table,
    pub file: PathBuf,
    /// Byte offset of the entry's value, for diagnostics found later (against the schema).
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

impl Entry {
    pub fn rule(&self) -> &str {
        self.spec
            .get("rule")
            .and_then(toml::Value::as_str)
            .unwrap_or("")
    }

    /// `keep` without conditions: the column travels as bytes, untouched.
    pub fn is_plain_keep(&self) -> bool {
        self.rule() == "keep" && !self.spec.contains_key("when")
    }

    pub fn diagnostic(&self, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            table: None,
            column_name: None,
            message: message.into(),
        }
    }
}

/// A column left for a person to decide, `col = { undecided = "why" }`: written by
/// `restage rules init` where it would not guess, and refused like a column without an entry
/// (reported with its reason and place) until it is replaced by a rule or `"keep"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecided {
    pub reason: String,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Undecided {
    /// `file:line:column` of the entry.
    pub fn place(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What one column entry says.
enum Parsed {
    Rule(Entry),
    Undecided(Undecided),
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub glob: String,
    pub entry: Entry,
}

#[derive(Debug, Clone)]
pub struct TableSection {
    /// `schema.table` as written (`public.` is implied when no schema is given).
    pub name: String,
    pub entry_offset: usize,
    pub columns: Vec<(String, Entry)>,
    /// Columns marked `{ undecided = "…" }`.
    pub undecided: Vec<(String, Undecided)>,
    /// Row subset settings of the table (`where`, `percent`, `references`).
    pub subset: SubsetSection,
}

/// A value of the rules file with its place, for diagnostics found against the live schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed<T> {
    pub value: T,
    /// `file:line:column`.
    pub place: String,
}

/// `where = "…"`, `percent = N` and `[tables."t".references]` of a table section: which of its
/// rows a subset clone copies, and how its foreign keys are followed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubsetSection {
    pub filter: Option<Placed<String>>,
    pub percent: Option<Placed<f64>>,
    /// Referencing columns (`"a"` or `"a,b"`) → `follow`, `up` or `null`.
    pub references: Vec<(String, Placed<String>)>,
}

#[derive(Debug, Clone)]
pub struct RuleFile {
    pub path: PathBuf,
    pub text: String,
    pub defaults: Vec<Pattern>,
    pub tables: Vec<TableSection>,
    /// `[schema] acknowledge = ["view public.v", …]`: schema objects whose text may hold
    /// personal data and is copied anyway, by a person's decision.
    pub acknowledged: Vec<String>,
}

/// Parses `text` read from `path`. Returns the file (if its TOML syntax is valid) and every
/// problem found.
pub fn parse(path: &Path, text: String) -> (Option<RuleFile>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let (doc, errors) = DeTable::parse_recoverable(&text);
    if !errors.is_empty() {
        for e in errors {
            let offset = e.span().map_or(0, |s| s.start);
            problems.push(Diagnostic::at(path, &text, offset, first_line(e.message())));
        }
        return (None, problems);
    }
    let values: toml::Table = match text.parse() {
        Ok(v) => v,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            problems.push(Diagnostic::at(path, &text, offset, first_line(e.message())));
            return (None, problems);
        }
    };
    let mut file = RuleFile {
        path: path.to_path_buf(),
        text: String::new(),
        defaults: Vec::new(),
        tables: Vec::new(),
        acknowledged: Vec::new(),
    };
    let mut p = Parser {
        path,
        text: &text,
        problems: &mut problems,
    };
    for (key, value) in doc.get_ref() {
        match key.get_ref().as_ref() {
            "defaults" => {
                let Some(section) = p.table(key, value, "[defaults]") else {
                    continue;
                };
                let vals = values.get("defaults").and_then(toml::Value::as_table);
                for (k, v) in section {
                    if k.get_ref().as_ref() != "columns" {
                        p.unknown_key(k, "[defaults] takes only `columns`");
                        continue;
                    }
                    let Some(cols) = p.table(k, v, "[defaults.columns]") else {
                        continue;
                    };
                    let cvals = vals
                        .and_then(|t| t.get("columns"))
                        .and_then(toml::Value::as_table);
                    for (glob, entry) in cols {
                        let value = cvals.and_then(|t| t.get(glob.get_ref().as_ref()));
                        match p.entry(entry, value, None) {
                            Some(Parsed::Rule(entry)) => file.defaults.push(Pattern {
                                glob: glob.get_ref().to_string(),
                                entry,
                            }),
                            Some(Parsed::Undecided(_)) => p.at(
                                entry.span().start,
                                "`undecided` marks one column of one table; a \
                                 [defaults.columns] pattern needs a rule"
                                    .into(),
                            ),
                            None => {}
                        }
                    }
                }
            }
            "tables" => {
                let Some(section) = p.table(key, value, "[tables]") else {
                    continue;
                };
                let vals = values.get("tables").and_then(toml::Value::as_table);
                for (tkey, tvalue) in section {
                    let raw = tkey.get_ref().to_string();
                    let name = if raw.contains('.') {
                        raw.clone()
                    } else {
                        format!("public.{raw}")
                    };
                    let Some(tsection) = p.table(tkey, tvalue, &format!("[tables.\"{raw}\"]"))
                    else {
                        continue;
                    };
                    let tvals = vals
                        .and_then(|t| t.get(&raw))
                        .and_then(toml::Value::as_table);
                    let mut table = TableSection {
                        name: name.clone(),
                        entry_offset: tkey.span().start,
                        columns: Vec::new(),
                        undecided: Vec::new(),
                        subset: SubsetSection::default(),
                    };
                    for (k, v) in tsection {
                        match k.get_ref().as_ref() {
                            "columns" => {}
                            "where" | "percent" | "references" => {
                                let plain = tvals.and_then(|t| t.get(k.get_ref().as_ref()));
                                p.subset_key(k, v, plain, &mut table.subset);
                                continue;
                            }
                            _ => {
                                p.unknown_key(
                                    k,
                                    "a table section takes `columns`, `where`, `percent` and \
                                     `references`",
                                );
                                continue;
                            }
                        }
                        let Some(cols) = p.table(k, v, "columns") else {
                            continue;
                        };
                        let cvals = tvals
                            .and_then(|t| t.get("columns"))
                            .and_then(toml::Value::as_table);
                        for (col, entry) in cols {
                            let col_name = col.get_ref().to_string();
                            let value = cvals.and_then(|t| t.get(&col_name));
                            match p.entry(entry, value, Some((&name, &col_name))) {
                                Some(Parsed::Rule(entry)) => table.columns.push((col_name, entry)),
                                Some(Parsed::Undecided(mark)) => {
                                    table.undecided.push((col_name, mark));
                                }
                                None => {}
                            }
                        }
                    }
                    file.tables.push(table);
                }
            }
            "schema" => {
                let Some(section) = p.table(key, value, "[schema]") else {
                    continue;
                };
                for (k, v) in section {
                    if k.get_ref().as_ref() != "acknowledge" {
                        p.unknown_key(k, "[schema] takes only `acknowledge`");
                        continue;
                    }
                    file.acknowledged.extend(p.strings(v, "`acknowledge`"));
                }
            }
            _ => p.unknown_key(
                key,
                "a rules file has `[defaults.columns]`, `[tables.\"schema.table\".columns]` \
                 and `[schema]`",
            ),
        }
    }
    file.text = text;
    (Some(file), problems)
}

/// A `percent` value: a number above 0 and at most 100.
fn percent_of(value: &toml::Value) -> Option<f64> {
    let n = match value {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(f) => *f,
        _ => return None,
    };
    (n > 0.0 && n <= 100.0).then_some(n)
}

/// The first line of a TOML parser message (the rest repeats the source line).
pub(crate) fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

struct Parser<'a> {
    path: &'a Path,
    text: &'a str,
    problems: &'a mut Vec<Diagnostic>,
}

type Key<'i> = Spanned<toml::de::DeString<'i>>;

impl Parser<'_> {
    fn at(&mut self, offset: usize, message: String) {
        self.problems
            .push(Diagnostic::at(self.path, self.text, offset, message));
    }

    fn unknown_key(&mut self, key: &Key<'_>, hint: &str) {
        let name = key.get_ref().to_string();
        self.at(key.span().start, format!("unknown key `{name}`: {hint}"));
    }

    fn table<'v, 'i>(
        &mut self,
        key: &Key<'_>,
        value: &'v Spanned<DeValue<'i>>,
        what: &str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.at(
                    key.span().start,
                    format!("{what} must be a table of entries"),
                );
                None
            }
        }
    }

    fn place(&self, offset: usize) -> String {
        let (line, column) = super::diagnostic::line_col(self.text, offset);
        format!("{}:{line}:{column}", self.path.display())
    }

    /// `where = "SQL"`, `percent = N` (0 < N ≤ 100) or `references = { "col" = "follow" }`;
    /// `plain` is the same value as parsed TOML.
    fn subset_key(
        &mut self,
        key: &Key<'_>,
        value: &Spanned<DeValue<'_>>,
        plain: Option<&toml::Value>,
        out: &mut SubsetSection,
    ) {
        let offset = value.span().start;
        let place = self.place(offset);
        match (key.get_ref().as_ref(), plain) {
            ("where", Some(toml::Value::String(s))) if !s.trim().is_empty() => {
                out.filter = Some(Placed {
                    value: s.clone(),
                    place,
                });
            }
            ("where", _) => self.at(offset, "`where` must be a non-empty SQL condition".into()),
            ("percent", Some(v)) if percent_of(v).is_some() => {
                out.percent = percent_of(v).map(|value| Placed { value, place });
            }
            ("percent", _) => self.at(
                offset,
                "`percent` must be a number above 0 and at most 100".into(),
            ),
            (_, Some(toml::Value::Table(rules))) => {
                let DeValue::Table(spans) = value.get_ref() else {
                    return;
                };
                for (col, rule) in spans {
                    let at = rule.span().start;
                    let name = col.get_ref().to_string();
                    match rules.get(&name).and_then(toml::Value::as_str) {
                        Some(r @ ("follow" | "up" | "null")) => out.references.push((
                            name,
                            Placed {
                                value: r.to_string(),
                                place: self.place(at),
                            },
                        )),
                        _ => self.at(
                            at,
                            "a foreign key is followed with \"follow\", \"up\" or \"null\"".into(),
                        ),
                    }
                }
            }
            (_, _) => self.at(
                offset,
                "`references` is a table: referencing columns → \"follow\", \"up\" or \
                 \"null\""
                    .into(),
            ),
        }
    }

    /// An array of strings, each problem reported where it is.
    fn strings(&mut self, value: &Spanned<DeValue<'_>>, what: &str) -> Vec<String> {
        let DeValue::Array(items) = value.get_ref() else {
            self.at(
                value.span().start,
                format!("{what} must be an array of strings"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                _ => self.at(item.span().start, format!("{what} takes strings only")),
            }
        }
        out
    }

    /// A column entry: `"keep"` (or any rule name), `{ rule = "…", … }` or
    /// `{ undecided = "reason" }`.
    fn entry(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        plain: Option<&toml::Value>,
        target: Option<(&str, &str)>,
    ) -> Option<Parsed> {
        let offset = value.span().start;
        let (line, column) = super::diagnostic::line_col(self.text, offset);
        let with_target = |p: &mut Self, message: String| {
            let mut d = Diagnostic::at(p.path, p.text, offset, message);
            if let Some((t, c)) = target {
                d = d.for_column(t, Some(c));
            }
            p.problems.push(d);
        };
        let spec = match plain {
            Some(toml::Value::String(rule)) => {
                let mut t = toml::Table::new();
                t.insert("rule".into(), toml::Value::String(rule.clone()));
                t
            }
            Some(toml::Value::Table(t)) => t.clone(),
            _ => {
                with_target(
                    self,
                    "an entry is a rule name (\"keep\") or a table { rule = \"…\", … }".into(),
                );
                return None;
            }
        };
        if let Some(reason) = spec.get("undecided") {
            let mut ok = true;
            let others: Vec<&str> = spec
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "undecided")
                .collect();
            if !others.is_empty() {
                with_target(
                    self,
                    format!(
                        "an undecided entry takes only `undecided = \"reason\"`; remove it to \
                         decide the column with `{}`",
                        others.join("`, `")
                    ),
                );
                ok = false;
            }
            let reason = match reason.as_str().map(str::trim) {
                Some(r) if !r.is_empty() => r.to_string(),
                _ => {
                    with_target(
                        self,
                        "`undecided` must be a non-empty string saying why the column is not \
                         decided yet"
                            .into(),
                    );
                    ok = false;
                    String::new()
                }
            };
            return ok.then(|| {
                Parsed::Undecided(Undecided {
                    reason,
                    file: self.path.to_path_buf(),
                    line,
                    column,
                })
            });
        }
        let mut ok = true;
        match spec.get("rule") {
            Some(toml::Value::String(name)) => match registry::lookup(name) {
                Some(rule) => {
                    let mut params = toml::Table::new();
                    for (k, v) in &spec {
                        if !compose::RESERVED_KEYS.contains(&k.as_str()) {
                            params.insert(k.clone(), v.clone());
                        }
                    }
                    let mut problems = compose::check_params(rule.spec(), &params);
                    if problems.is_empty() {
                        problems = rule.param_problems(&params);
                    }
                    for problem in problems {
                        with_target(self, problem);
                        ok = false;
                    }
                }
                None => {
                    with_target(self, compose::unknown_rule(name));
                    ok = false;
                }
            },
            Some(_) => {
                with_target(self, "`rule` must be a string".into());
                ok = false;
            }
            None => {
                with_target(self, "missing `rule = \"…\"`".into());
                ok = false;
            }
        }
        if let Some(d) = spec.get("domain") {
            if !d.is_str() {
                with_target(self, "`domain` must be a string".into());
                ok = false;
            }
        }
        ok.then(|| {
            Parsed::Rule(Entry {
                spec,
                file: self.path.to_path_buf(),
                offset,
                line,
                column,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Option<RuleFile>, Vec<String>) {
        let (f, p) = parse(Path::new("app.toml"), text.to_string());
        (f, p.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn entries_with_places() {
        let (f, p) = parse_str(
            "[defaults.columns]\n\"*_at\" = \"keep\"\n\n[tables.\"public.users\".columns]\nid = \"keep\"\nnotes = { rule = \"null\" }\n[tables.orders.columns]\nx = \"keep\"\n",
        );
        assert!(p.is_empty(), "{p:?}");
        let f = f.expect("parsed");
        assert_eq!(f.defaults[0].glob, "*_at");
        assert!(f.defaults[0].entry.is_plain_keep());
        assert_eq!(f.tables[0].name, "public.users");
        assert_eq!(f.tables[0].columns[1].0, "notes");
        assert_eq!(f.tables[0].columns[1].1.line, 6);
        assert_eq!(f.tables[0].columns[1].1.rule(), "null");
        assert_eq!(f.tables[1].name, "public.orders");
    }

    #[test]
    fn every_problem_at_once() {
        let (_, p) = parse_str(
            "[tables.\"public.users\".columns]\nemail = { rule = \"kep\" }\nname = { rule = \"null\", size = 2 }\nphone = 3\n[tables.\"public.users\".colums]\n[extra]\n",
        );
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(
            p.iter().any(|x| x.contains("unknown key `colums`")),
            "{p:?}"
        );
        assert!(
            p[0].starts_with("app.toml:2:9: public.users.email: unknown rule \"kep\""),
            "{}",
            p[0]
        );
        assert!(
            p[1].contains("app.toml:3:8") && p[1].contains("`size`"),
            "{}",
            p[1]
        );
        assert!(
            p[2].contains("app.toml:4:9") && p[2].contains("rule name"),
            "{}",
            p[2]
        );
        assert!(p.iter().any(|x| x.contains("unknown key `extra`")), "{p:?}");
    }

    #[test]
    fn bad_scrub_arguments_are_reported_where_they_are_written() {
        let (_, p) = parse_str(
            "[tables.\"public.notes\".columns]\nbody = { rule = \"scrub\", kinds = [\"email\", \"names\"] }\ndoc = { rule = \"scrub\", domains = { mail = \"x\" }, min_chars = -1 }\n",
        );
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(
            p[0].starts_with(
                "app.toml:2:8: public.notes.body: parameter `kinds`: unknown kind \"names\""
            ),
            "{}",
            p[0]
        );
        assert!(
            p[1].starts_with("app.toml:3:7: public.notes.doc: parameter `domains`"),
            "{}",
            p[1]
        );
        assert!(p[2].contains("`min_chars` must be 0 or more"), "{}", p[2]);
    }

    #[test]
    fn undecided_entries_are_marks_with_a_reason_and_strict() {
        let (f, p) = parse_str(
            "[tables.users.columns]\nbio = { undecided = \"free text with emails\" }\nid = \"keep\"\n",
        );
        assert!(p.is_empty(), "{p:?}");
        let f = f.expect("parsed");
        assert_eq!(f.tables[0].columns.len(), 1);
        let (col, mark) = &f.tables[0].undecided[0];
        assert_eq!(col, "bio");
        assert_eq!(mark.reason, "free text with emails");
        assert_eq!(mark.place(), "app.toml:2:7");

        let (_, p) = parse_str(
            "[defaults.columns]\n\"*\" = { undecided = \"x\" }\n[tables.users.columns]\n\
             a = { undecided = \"\" }\nb = { undecided = \"why\", rule = \"keep\" }\n\
             c = { undecided = 3 }\n",
        );
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p[0].contains("app.toml:2:7") && p[0].contains("needs a rule"),
            "{}",
            p[0]
        );
        assert!(
            p[1].contains("users.a: `undecided` must be a non-empty string"),
            "{}",
            p[1]
        );
        assert!(
            p[2].contains("users.b: an undecided entry takes only"),
            "{}",
            p[2]
        );
        assert!(p[3].contains("users.c:"), "{}", p[3]);
    }

    #[test]
    fn syntax_errors_point_at_the_place() {
        let (f, p) = parse_str("[tables.\"public.users\".columns]\nemail = { rule = \"email\"\n");
        assert!(f.is_none());
        assert!(p[0].starts_with("app.toml:2:"), "{p:?}");
    }
}
