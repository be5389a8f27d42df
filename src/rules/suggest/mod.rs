//! Suggestions for `restage rules init`: from a column's name, type, keys and a profile of
//! sampled values to a rules-file entry and the reason for it, and the skeleton file itself.
//!
//! Pure: no I/O. Sampled values are only counted ([`SampleProfile`]); nothing here keeps,
//! returns or formats a value, so no sampled value can reach the generated file or a log.
//!
//! A suggestion is only made for a rule the running build has and whose declaration fits the
//! column (`compose::check_params` and `compose::check_fit`: type class, NOT NULL, UNIQUE,
//! `varchar(n)`): the kind's own rule, `format_preserve` for codes, `hash` last (with a
//! `length` when the column is bounded); the ones after the first are kept as fallbacks, which
//! `rules init` tries when the first one's outputs fail a constraint of the column. Personal
//! tokens inside text, json, xml, arrays and bytea get `scrub`; composite values a `composite`
//! rule built from each field's own suggestion. Fail closed: where no rule fits a column that
//! looks personal, where no rule rewrites the personal parts of a structured value, or where
//! values could not be looked at, the entry is `{ undecided = "reason" }`, which `rules check`
//! and `clone` refuse until a person decides; never `keep`. `follow` leaves columns whose
//! foreign key carries a rule without an entry.

mod agree;
mod detect;
mod follow;
mod kinds;
mod names;
mod render;

use std::fmt::Write as _;

pub use agree::settle;
pub use detect::{
    classify_value, is_card_number, is_email, is_iban, is_phone, kinds_inside, SampleProfile,
};
pub use follow::{follow_keys, KeyLink};
pub use kinds::Pii;
pub use names::{by_name, words, TableContext};
pub use render::{render, toml_key, toml_string, TableSection};

use crate::sanitize::compose::{check_fit, check_params};
use crate::sanitize::spec::{ColumnInfo, MaxLen, ParamKind, RuleSpec, TypeClass};

/// How a column takes part in keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRole {
    None,
    /// Member of the primary key.
    Primary,
    /// Member of the primary key and of a foreign key to this table.
    PrimaryForeign(String),
    /// Member of a foreign key to this table (`schema.table`).
    Foreign(String),
}

/// A column as `rules init` sees it.
#[derive(Debug, Clone)]
pub struct ColumnFacts {
    pub info: ColumnInfo,
    pub key: KeyRole,
    /// Profile of sampled values; None when the column was not sampled (type not text-like,
    /// `--sample 0`).
    pub samples: Option<SampleProfile>,
    /// For a composite column (or an array of composites): one per field of its type, in
    /// order, with the field's own sampled values; a composite rule is built from them.
    pub fields: Vec<ColumnFacts>,
}

/// What to write for a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Keep,
    Rule {
        rule: String,
        domain: Option<String>,
        params: toml::Table,
    },
    /// `{ undecided = "reason" }`: `rules check` and `clone` refuse it until a person decides.
    Undecided(String),
    /// No entry of its own: the column references `references` (`schema.table.column`), whose
    /// rule `rule` changes its values, and that mapping follows the foreign key automatically
    /// (an entry of its own would conflict with it).
    Follows {
        references: String,
        rule: String,
    },
}

impl Entry {
    /// The TOML value: `"keep"`, `{ rule = "email", domain = "email" }` or
    /// `{ undecided = "…" }`; empty for a column that follows a key (it has no entry).
    pub fn to_toml(&self) -> String {
        match self {
            Entry::Keep => "\"keep\"".to_string(),
            Entry::Rule {
                rule,
                domain,
                params,
            } => {
                let mut s = format!("{{ rule = {}", toml_string(rule));
                if let Some(d) = domain {
                    let _ = write!(s, ", domain = {}", toml_string(d));
                }
                for (k, v) in params {
                    let value = match v {
                        toml::Value::String(t) => toml_string(t),
                        other => other.to_string(),
                    };
                    let _ = write!(s, ", {} = {value}", toml_key(k));
                }
                s.push_str(" }");
                s
            }
            Entry::Undecided(reason) => format!("{{ undecided = {} }}", toml_string(reason)),
            Entry::Follows { .. } => String::new(),
        }
    }

    /// A rule's entry as the rules file holds it (`rule`, `domain` and the parameters), to
    /// build it; None for the other entries.
    pub fn to_table(&self) -> Option<toml::Table> {
        let Entry::Rule {
            rule,
            domain,
            params,
        } = self
        else {
            return None;
        };
        let mut table = params.clone();
        table.insert("rule".into(), toml::Value::String(rule.clone()));
        if let Some(d) = domain {
            table.insert("domain".into(), toml::Value::String(d.clone()));
        }
        Some(table)
    }

    /// A rule that changes values (so columns referencing this one follow it).
    pub fn changes_values(&self) -> bool {
        match self {
            Entry::Rule { rule, .. } => rule != "keep",
            Entry::Follows { .. } => true,
            Entry::Keep | Entry::Undecided(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub entry: Entry,
    /// One line, no sampled value in it.
    pub reason: String,
    /// The personal data detected, if any.
    pub pii: Option<Pii>,
    /// What sampling found, as counts ("3/60 sampled values contain email addresses").
    pub findings: Vec<String>,
    /// The next working entries, best first, with their reasons: tried in turn when the
    /// values `entry` gives fail a constraint of the column.
    pub fallbacks: Vec<(Entry, String)>,
}

impl Suggestion {
    fn keep(reason: impl Into<String>) -> Suggestion {
        Suggestion {
            entry: Entry::Keep,
            reason: reason.into(),
            pii: None,
            findings: Vec::new(),
            fallbacks: Vec::new(),
        }
    }

    /// Left for a person: the entry carries the reason, the comment what sampling found.
    pub fn undecided(reason: String, pii: Option<Pii>, findings: Vec<String>) -> Suggestion {
        let comment = if findings.is_empty() {
            UNDECIDED_COMMENT.to_string()
        } else {
            format!("UNDECIDED: {}", findings.join("; "))
        };
        Suggestion {
            entry: Entry::Undecided(reason),
            reason: comment,
            pii,
            findings,
            fallbacks: Vec::new(),
        }
    }

    pub fn is_undecided(&self) -> bool {
        matches!(self.entry, Entry::Undecided(_))
    }
}

/// The comment beside every undecided entry.
pub const UNDECIDED_COMMENT: &str =
    "UNDECIDED: replace with a rule, or \"keep\" once you know it holds nothing personal";

/// The suggestion for one column. `rules` are the declarations of the rules this build has
/// (`registry::all()`), so only rules that exist and fit are ever suggested. Fail closed: a
/// column is only kept when nothing personal was seen or suspected in it and its values could
/// be looked at (or its type cannot hold text).
pub fn suggest(col: &ColumnFacts, table: &TableContext, rules: &[&RuleSpec]) -> Suggestion {
    let info = &col.info;
    let named = by_name(&info.name, table).filter(|k| k.classes().contains(&info.class));
    let by_type = (info.class == TypeClass::Inet).then_some(Pii::IpAddress);
    let name_kind = named.or(by_type);
    let samples = col.samples.as_ref();
    let plain_text = is_plain_text(info);
    // Whole-value kinds speak for plain text only: the text form of a composite or an array
    // is never "an email", though it may hold one. Values of two kinds (emails and phone
    // numbers in one contact field) are free text holding both.
    let content = samples
        .and_then(SampleProfile::dominant)
        .filter(|_| plain_text)
        .filter(|(c, _)| samples.is_some_and(|p| p.findings(Some(*c)).is_empty()));
    let inside = samples.is_some_and(SampleProfile::holds_personal_data);

    let kind = match (name_kind, content) {
        (Some(n), Some((c, _))) if n == c || n == Pii::FreeText => Some(c),
        (Some(n), _) => Some(n),
        (None, Some((c, _))) => Some(c),
        (None, None) if inside => Some(Pii::FreeText),
        (None, None) => None,
    };
    let cited = content.map(|(c, _)| c).filter(|c| Some(*c) == kind);
    let findings = samples.map_or_else(Vec::new, |p| p.findings(cited));
    if !info.fields.is_empty() && col.key == KeyRole::None {
        return composite(col, kind, findings, rules);
    }
    let Some(kind) = kind else {
        return plain(col, samples, findings);
    };
    let mut evidence = Vec::new();
    if named == Some(kind) {
        evidence.push(format!("column name `{}`", info.name));
    } else if by_type == Some(kind) {
        evidence.push(format!("type {}", info.type_name));
    }
    // Only whole-value content that backs the chosen kind is cited as such (postal codes can
    // look like short phone numbers; the name decides then); what was found inside always is.
    if let (Some(p), Some(c)) = (samples, cited) {
        evidence.push(format!(
            "{}/{} sampled values look like {}",
            p.count(c),
            p.sampled,
            c.plural()
        ));
    }
    evidence.extend(findings.iter().cloned());
    let evidence = evidence.join("; ");

    match &col.key {
        KeyRole::Primary | KeyRole::PrimaryForeign(_) => {
            return Suggestion::undecided(
                format!(
                    "primary key that looks like {} ({evidence}): choose a unique-preserving \
                     rule; foreign keys to it follow its mapping automatically",
                    kind.what()
                ),
                Some(kind),
                findings,
            );
        }
        KeyRole::Foreign(to) => {
            return Suggestion::undecided(
                format!(
                    "foreign key → {to} that looks like {} ({evidence}): decide the referenced \
                     column; a rule there follows the key here (then remove this entry)",
                    kind.what()
                ),
                Some(kind),
                findings,
            );
        }
        KeyRole::None => {}
    }

    // Working entries, best first: `rules init` writes the first one whose outputs pass the
    // column's constraints.
    let mut working: Vec<(Entry, String)> = Vec::new();
    let personal = format!("personal data, {}: {evidence}", kind.what());
    let structured = !plain_text && named.is_none() && by_type.is_none();
    let scrubbed = |working: &mut Vec<(Entry, String)>| {
        if let Some(entry) = scrub(col, rules) {
            working.push((
                entry,
                format!("{personal}; personal tokens inside are replaced, the rest is kept"),
            ));
        }
    };
    if structured {
        scrubbed(&mut working);
        return first_working(working, || {
            Suggestion::undecided(
                format!(
                    "personal data inside {} values ({evidence}): choose a rule that rewrites \
                     those parts, or one that replaces the whole value",
                    info.type_name
                ),
                Some(kind),
                findings.clone(),
            )
        })
        .with(Some(kind), &findings);
    }
    for name in kind.candidates() {
        if let Some(entry) = fitting(name, kind.domain(), info, rules) {
            working.push((entry, personal.clone()));
        }
    }
    // Plain free text is replaced whole by default: a name or an address no detector knows
    // would pass `scrub` unchanged. Scrubbing it is the fallback when no replacement fits the
    // column's constraints.
    if kind == Pii::FreeText {
        scrubbed(&mut working);
    }
    if kind.format_preserving() {
        for letters in [true, false] {
            if let Some(entry) = format_preserving(kind, letters, info, rules) {
                working.push((
                    entry,
                    format!("{personal}; digits and letters replaced in the same format"),
                ));
            }
        }
    }
    if kind.hash_fallback() {
        if let Some(entry) = fitting("hash", kind.domain(), info, rules) {
            working.push((
                entry,
                format!("{personal}; no fitting rule for it in this build, hashed"),
            ));
        }
    }
    first_working(working, || {
        Suggestion::undecided(
            format!(
                "looks like {}, no fitting rule in this build ({evidence})",
                kind.what()
            ),
            Some(kind),
            findings.clone(),
        )
    })
    .with(Some(kind), &findings)
}

impl Suggestion {
    fn with(mut self, pii: Option<Pii>, findings: &[String]) -> Suggestion {
        self.pii = pii;
        self.findings = findings.to_vec();
        self
    }
}

/// The first of `working` with the others as its fallbacks, or `otherwise`.
fn first_working(
    mut working: Vec<(Entry, String)>,
    otherwise: impl FnOnce() -> Suggestion,
) -> Suggestion {
    if working.is_empty() {
        return otherwise();
    }
    let (entry, reason) = working.remove(0);
    Suggestion {
        entry,
        reason,
        pii: None,
        findings: Vec::new(),
        fallbacks: working,
    }
}

/// Token kinds `scrub` replaces, by the name its `domains` parameter uses, with the kind of
/// personal data each is.
const SCRUBBED: [(&str, Pii); 5] = [
    ("email", Pii::Email),
    ("phone", Pii::Phone),
    ("card", Pii::CardNumber),
    ("iban", Pii::BankAccount),
    ("ip", Pii::IpAddress),
];

/// `scrub` for a column whose values were all read as text and hold no personal data of a
/// kind it cannot replace (tokens), with the domain of each kind it found: the domain every
/// column of that kind gets, so a token maps as those columns do.
fn scrub(col: &ColumnFacts, rules: &[&RuleSpec]) -> Option<Entry> {
    let p = col.samples.as_ref()?;
    let info = &col.info;
    let readable = match info.class {
        TypeClass::Text | TypeClass::Json | TypeClass::Bytea => true,
        _ => info.scalar_oid == crate::sanitize::oids::XML,
    };
    if !readable || p.unreadable > 0 || p.inside(Pii::Secret) > 0 {
        return None;
    }
    let mut domains = toml::Table::new();
    for (token, kind) in SCRUBBED {
        if let (true, Some(domain)) = (p.inside(kind) > 0, kind.domain()) {
            domains.insert(token.to_string(), toml::Value::String(domain.to_string()));
        }
    }
    let Some(Entry::Rule { rule, params, .. }) = fitting("scrub", None, info, rules) else {
        return None;
    };
    let mut params = params;
    if !domains.is_empty() {
        params.insert("domains".into(), toml::Value::Table(domains));
    }
    Some(Entry::Rule {
        rule,
        domain: None,
        params,
    })
}

/// `format_preserve` in the kind's domain, letters replaced too or kept.
fn format_preserving(
    kind: Pii,
    letters: bool,
    info: &ColumnInfo,
    rules: &[&RuleSpec],
) -> Option<Entry> {
    let Entry::Rule {
        rule,
        domain,
        mut params,
    } = fitting("format_preserve", kind.domain(), info, rules)?
    else {
        return None;
    };
    if !letters {
        params.insert("letters".into(), toml::Value::Boolean(false));
    }
    Some(Entry::Rule {
        rule,
        domain,
        params,
    })
}

/// `s` for a field of a composite type with a length limit: the clone builds field rules
/// without the field's `varchar(n)` (a composite's fields carry no length to rules), so the
/// entry must fit by itself: a declared bound within the limit, or outputs as long as their
/// inputs. Otherwise the next working entry, or undecided naming the limit.
fn bounded(s: Suggestion, field: &ColumnInfo, rules: &[&RuleSpec]) -> Suggestion {
    let Some(limit) = field.max_chars else {
        return s;
    };
    let fits = |entry: &Entry| -> bool {
        let Entry::Rule { rule, params, .. } = entry else {
            return true;
        };
        let Some(spec) = rules.iter().find(|r| r.name == rule) else {
            return false;
        };
        match spec.max_len {
            MaxLen::Chars(n) => n <= limit,
            MaxLen::Param(p) => params
                .get(p)
                .and_then(toml::Value::as_integer)
                .is_some_and(|n| usize::try_from(n).is_ok_and(|n| n <= limit)),
            MaxLen::SameAsInput => keeps_length(entry, field),
            MaxLen::Unbounded => false,
        }
    };
    if fits(&s.entry) {
        return Suggestion {
            fallbacks: Vec::new(),
            ..s
        };
    }
    let rule = match &s.entry {
        Entry::Rule { rule, .. } => rule.clone(),
        _ => String::new(),
    };
    for (entry, reason) in &s.fallbacks {
        if fits(entry) {
            return Suggestion {
                entry: entry.clone(),
                reason: reason.clone(),
                fallbacks: Vec::new(),
                ..s
            };
        }
    }
    Suggestion::undecided(
        format!(
            "{} is limited to {limit} characters, which `{rule}` does not keep to inside a \
             composite value",
            field.type_name
        ),
        s.pii,
        s.findings,
    )
}

/// Whether `entry`'s outputs are as long as their inputs, tried on a few made-up values with
/// a throwaway key, built as the clone builds a field's rule (no length limit).
fn keeps_length(entry: &Entry, field: &ColumnInfo) -> bool {
    let (Some(table), Entry::Rule { rule, .. }) = (entry.to_table(), entry) else {
        return true;
    };
    let mut column = field.clone();
    column.max_chars = None;
    let Ok(sanitizer) = crate::sanitize::build_column(&table, &column, &[], rule) else {
        return false;
    };
    let key = crate::sanitize::Key::from_secret(b"restage rules init length probe");
    let ctx = crate::sanitize::Ctx {
        key: &key,
        row: None,
    };
    ["GB", "ab-12", "Abc 123-456", "x"].iter().all(|input| {
        let mut out = Vec::new();
        match sanitizer.sanitize(Some(input.as_bytes()), &ctx, &mut out) {
            Ok(crate::sanitize::Outcome::Value) => {
                String::from_utf8_lossy(&out).chars().count() == input.chars().count()
            }
            Ok(_) => true,
            Err(_) => false,
        }
    })
}

/// A `composite` rule for a composite column (or an array of them), each field suggested as a
/// column of its own would be; undecided when a field is, naming it. Kept when no field needs
/// a rule and nothing personal was seen in the whole values.
fn composite(
    col: &ColumnFacts,
    kind: Option<Pii>,
    findings: Vec<String>,
    rules: &[&RuleSpec],
) -> Suggestion {
    let info = &col.info;
    let type_name = info.type_name.trim_end_matches("[]");
    let short = type_name.rsplit('.').next().unwrap_or(type_name);
    let mut names: Vec<&str> = col.fields.iter().map(|f| f.info.name.as_str()).collect();
    // The type's name says what its fields are parts of (`postal`: an address).
    names.push(short);
    let context = TableContext::new(short, &names);
    let mut fields = toml::Table::new();
    let mut ruled = Vec::new();
    for field in &col.fields {
        let s = bounded(suggest(field, &context, rules), &field.info, rules);
        match s.entry {
            Entry::Keep | Entry::Follows { .. } => {}
            Entry::Rule {
                rule,
                domain,
                params,
            } => {
                let mut entry = toml::Table::new();
                entry.insert("rule".into(), toml::Value::String(rule.clone()));
                if let Some(d) = domain {
                    entry.insert("domain".into(), toml::Value::String(d));
                }
                entry.extend(params);
                fields.insert(field.info.name.clone(), toml::Value::Table(entry));
                ruled.push(format!("{} {rule}", field.info.name));
            }
            Entry::Undecided(reason) => {
                return Suggestion::undecided(
                    format!(
                        "{type_name} field `{}` is undecided: {reason}",
                        field.info.name
                    ),
                    kind,
                    findings,
                );
            }
        }
    }
    let inside = col
        .samples
        .as_ref()
        .is_some_and(SampleProfile::holds_personal_data);
    if fields.is_empty() {
        if inside || kind.is_some() {
            let evidence = if findings.is_empty() {
                "its column name".to_string()
            } else {
                findings.join("; ")
            };
            return Suggestion::undecided(
                format!(
                    "personal data inside {} values ({evidence}), but no field of it was found \
                     to hold it: choose a rule that rewrites those parts, or one that replaces \
                     the whole value",
                    info.type_name
                ),
                kind,
                findings,
            );
        }
        return plain(col, col.samples.as_ref(), findings);
    }
    let mut params = toml::Table::new();
    params.insert("fields".into(), toml::Value::Table(fields));
    let spec_fits = rules
        .iter()
        .find(|s| s.name == "composite")
        .is_some_and(|spec| {
            check_params(spec, &params).is_empty() && check_fit(spec, &params, info).is_empty()
        });
    if !spec_fits {
        return Suggestion::undecided(
            format!(
                "personal data inside fields of {} values, and this build has no fitting \
                 `composite` rule",
                info.type_name
            ),
            kind,
            findings,
        );
    }
    let mut reason = format!("composite fields: {}", ruled.join(", "));
    if !findings.is_empty() {
        let _ = write!(reason, "; {}", findings.join("; "));
    }
    Suggestion {
        entry: Entry::Rule {
            rule: "composite".to_string(),
            domain: None,
            params,
        },
        reason,
        pii: kind.or(Some(Pii::FreeText)),
        findings,
        fallbacks: Vec::new(),
    }
}

/// A scalar text column: the only kind whose whole values detectors classify.
fn is_plain_text(info: &ColumnInfo) -> bool {
    !info.array && info.class == TypeClass::Text
}

/// Whether values of this type can hold text, and so personal data a name does not show:
/// text, json, bytea and every other type (composites, xml, tsvector…), and arrays of them.
/// Numbers, dates, booleans, uuids, enums and inet cannot.
pub fn carries_text(info: &ColumnInfo) -> bool {
    matches!(
        info.class,
        TypeClass::Text | TypeClass::Json | TypeClass::Bytea | TypeClass::Other
    )
}

/// `keep` for a column nothing personal was found in, with what it is; undecided when its
/// values could hold text but were not looked at, or could not be read.
fn plain(col: &ColumnFacts, samples: Option<&SampleProfile>, findings: Vec<String>) -> Suggestion {
    let info = &col.info;
    match &col.key {
        KeyRole::Primary => return Suggestion::keep("primary key"),
        KeyRole::PrimaryForeign(to) => {
            return Suggestion::keep(format!("primary key, foreign key → {to}"))
        }
        KeyRole::Foreign(to) => return Suggestion::keep(format!("foreign key → {to}")),
        KeyRole::None => {}
    }
    if carries_text(info) {
        match samples {
            None => {
                return Suggestion::undecided(
                    format!(
                        "{}: its values were not sampled, so nothing is known about what they \
                         hold; decide after looking at them",
                        info.type_name
                    ),
                    None,
                    findings,
                )
            }
            Some(p) if p.unreadable > 0 => {
                return Suggestion::undecided(
                    format!(
                        "{}: {}/{} sampled values are binary, not text, so restage cannot tell \
                         what they hold",
                        info.type_name, p.unreadable, p.sampled
                    ),
                    None,
                    findings,
                )
            }
            Some(_) => {}
        }
    }
    let w = words(&info.name);
    let id_like = w
        .last()
        .is_some_and(|l| matches!(l.as_str(), "id" | "uuid" | "key" | "ref" | "code" | "no"));
    let sampled = |base: String, what: &str| match samples {
        Some(p) if p.sampled > 0 => format!(
            "{base}; nothing personal in the column name or in {} sampled {what}",
            p.sampled
        ),
        Some(_) => format!("{base}; nothing personal in the column name, no values to sample"),
        None => format!("{base}; nothing personal in the column name"),
    };
    let what = match info.class {
        _ if info.array && carries_text(info) => sampled(info.type_name.clone(), "values"),
        TypeClass::Bool => "boolean".to_string(),
        TypeClass::Timestamp | TypeClass::Date => info.type_name.clone(),
        TypeClass::Enum => format!("enum {} (a fixed set of labels)", info.type_name),
        TypeClass::Uuid => "identifier (uuid)".to_string(),
        TypeClass::Integer | TypeClass::Numeric if id_like || info.unique => {
            "identifier".to_string()
        }
        TypeClass::Integer | TypeClass::Numeric => format!("number ({})", info.type_name),
        TypeClass::Bytea => sampled("binary data, read as text".to_string(), "values"),
        TypeClass::Json => sampled("JSON".to_string(), "documents"),
        TypeClass::Text | TypeClass::Other | TypeClass::Inet => {
            let base = if info.unique {
                "unique text".to_string()
            } else if id_like {
                "code or identifier".to_string()
            } else {
                info.type_name.clone()
            };
            sampled(base, "values")
        }
    };
    let unique = if info.unique && !matches!(info.class, TypeClass::Text | TypeClass::Other) {
        ", unique"
    } else {
        ""
    };
    Suggestion::keep(format!("{what}{unique}"))
}

/// `rule` as an entry if the build has it and it fits the column, with parameters filled in
/// where the column decides them (an output `length` bounded by `varchar(n)`).
fn fitting(
    rule: &str,
    domain: Option<&str>,
    column: &ColumnInfo,
    rules: &[&RuleSpec],
) -> Option<Entry> {
    let spec = rules.iter().find(|s| s.name == rule)?;
    let mut params = toml::Table::new();
    if let (MaxLen::Param(p), Some(limit)) = (spec.max_len, column.max_chars) {
        if spec
            .params
            .iter()
            .any(|d| d.name == p && d.kind == ParamKind::Integer)
        {
            params.insert(
                p.to_string(),
                toml::Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
            );
        }
    }
    if !check_params(spec, &params).is_empty() || !check_fit(spec, &params, column).is_empty() {
        return None;
    }
    let domain = domain.filter(|_| spec.name != "null" && spec.name != "keep");
    Some(Entry::Rule {
        rule: spec.name.to_string(),
        domain: domain.map(str::to_string),
        params,
    })
}

/// Whether values of this column are sampled: every type that can hold text.
pub fn samples_column(info: &ColumnInfo) -> bool {
    carries_text(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::builtin::{keep::SPEC as KEEP, null::SPEC as NULL};
    use crate::sanitize::spec::{oids, ParamSpec};

    /// Declarations shaped like the ones the rule library ships.
    static EMAIL: RuleSpec = RuleSpec {
        name: "email",
        summary: "Fake email.",
        params: &[],
        accepts: &[TypeClass::Text],
        may_produce_null: false,
        unique_preserving: true,
        max_len: MaxLen::Chars(40),
        example: r#"a = { rule = "email" }"#,
    };
    static HASH: RuleSpec = RuleSpec {
        name: "hash",
        summary: "Keyed hash.",
        params: &[ParamSpec {
            name: "length",
            kind: ParamKind::Integer,
            required: false,
            doc: "output length",
        }],
        accepts: &[TypeClass::Text],
        may_produce_null: false,
        unique_preserving: true,
        max_len: MaxLen::Param("length"),
        example: r#"a = { rule = "hash" }"#,
    };

    fn text(name: &str) -> ColumnFacts {
        ColumnFacts {
            info: ColumnInfo {
                table: "public.t".into(),
                name: name.into(),
                type_name: "text".into(),
                class: TypeClass::Text,
                scalar_oid: oids::TEXT,
                array: false,
                max_chars: None,
                fields: Vec::new(),
                not_null: false,
                unique: false,
            },
            key: KeyRole::None,
            samples: None,
            fields: Vec::new(),
        }
    }

    fn of(class: TypeClass, oid: u32, name: &str) -> ColumnFacts {
        let mut c = text(name);
        c.info.class = class;
        c.info.scalar_oid = oid;
        c.info.type_name = class.to_string();
        c
    }

    fn profile(values: &[&str]) -> SampleProfile {
        let mut p = SampleProfile::default();
        for v in values {
            p.add(v);
        }
        p
    }

    fn people() -> TableContext {
        TableContext::new("users", &["name", "address"])
    }

    #[test]
    fn email_by_name_and_content_gets_the_rule_with_its_domain() {
        let mut col = text("email");
        col.samples = Some(profile(&["a@example.com", "b@example.com", "nope"]));
        let s = suggest(&col, &people(), &[&KEEP, &NULL, &EMAIL, &HASH]);
        assert_eq!(s.entry.to_toml(), r#"{ rule = "email", domain = "email" }"#);
        assert_eq!(
            s.reason,
            "personal data, an email address: column name `email`; 2/3 sampled values look \
             like email addresses"
        );
        assert!(!s.is_undecided());
    }

    #[test]
    fn a_rule_that_does_not_fit_falls_back_to_hash_with_a_length() {
        // varchar(20): the email rule may produce 40 characters.
        let mut col = text("email");
        col.info.max_chars = Some(20);
        col.info.type_name = "character varying(20)".into();
        let s = suggest(&col, &people(), &[&KEEP, &EMAIL, &HASH]);
        assert_eq!(
            s.entry.to_toml(),
            r#"{ rule = "hash", domain = "email", length = 20 }"#
        );
        assert!(
            s.reason
                .ends_with("no fitting rule for it in this build, hashed"),
            "{}",
            s.reason
        );
    }

    static FORMAT: RuleSpec = RuleSpec {
        name: "format_preserve",
        summary: "Same format.",
        params: &[ParamSpec {
            name: "letters",
            kind: ParamKind::Bool,
            required: false,
            doc: "replace letters",
        }],
        accepts: &[TypeClass::Text],
        may_produce_null: false,
        unique_preserving: true,
        max_len: MaxLen::SameAsInput,
        example: r#"a = { rule = "format_preserve" }"#,
    };

    #[test]
    fn an_identifier_gets_its_format_first_and_a_hash_last() {
        // A format CHECK may reject a hash: the format-preserving rule comes first, the hash
        // stays as the last fallback; `rules init` writes the first whose outputs pass.
        let col = text("ssn");
        let s = suggest(&col, &people(), &[&KEEP, &EMAIL, &HASH, &FORMAT]);
        assert_eq!(
            s.entry.to_toml(),
            r#"{ rule = "format_preserve", domain = "national_id" }"#
        );
        let rest: Vec<String> = s.fallbacks.iter().map(|(e, _)| e.to_toml()).collect();
        assert_eq!(
            rest,
            [
                r#"{ rule = "format_preserve", domain = "national_id", letters = false }"#,
                r#"{ rule = "hash", domain = "national_id" }"#
            ]
        );
    }

    static SCRUB: RuleSpec = RuleSpec {
        name: "scrub",
        summary: "Tokens.",
        params: &[ParamSpec {
            name: "domains",
            kind: ParamKind::Table,
            required: false,
            doc: "kind → domain",
        }],
        accepts: &[
            TypeClass::Text,
            TypeClass::Json,
            TypeClass::Bytea,
            TypeClass::Other,
        ],
        may_produce_null: false,
        unique_preserving: false,
        max_len: MaxLen::Unbounded,
        example: r#"a = { rule = "scrub" }"#,
    };
    static COMPOSITE: RuleSpec = RuleSpec {
        name: "composite",
        summary: "Fields.",
        params: &[ParamSpec {
            name: "fields",
            kind: ParamKind::Table,
            required: true,
            doc: "field → entry",
        }],
        accepts: &[TypeClass::Other],
        may_produce_null: false,
        unique_preserving: false,
        max_len: MaxLen::Unbounded,
        example: r#"a = { rule = "composite", fields = {} }"#,
    };

    #[test]
    fn personal_tokens_inside_documents_get_scrub_in_the_domains_of_their_kinds() {
        let rules = [&KEEP, &NULL, &EMAIL, &HASH, &SCRUB];
        let mut doc = of(TypeClass::Json, oids::JSONB, "doc");
        doc.samples = Some(profile(&[
            r#"{"mail": "a@example.com", "card": "4111 1111 1111 1111"}"#,
            r#"{"phone": "+44 7700 900123"}"#,
        ]));
        let s = suggest(&doc, &people(), &rules);
        assert_eq!(
            s.entry.to_toml(),
            r#"{ rule = "scrub", domains = { email = "email", phone = "phone", card = "card_number" } }"#
        );
        // A token scrub cannot replace (a JWT), or values it could not read: left to a person.
        doc.samples = Some(profile(&[
            r#"{"token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU"}"#,
            r#"{"mail": "a@example.com"}"#,
        ]));
        assert!(suggest(&doc, &people(), &rules).is_undecided());
        let mut notes = text("notes");
        let mut p = profile(&["wrote from x@example.com"]);
        p.add_unreadable();
        notes.samples = Some(p);
        assert_ne!(
            suggest(&notes, &people(), &rules).entry.to_toml(),
            r#"{ rule = "scrub", domains = { email = "email" } }"#
        );
    }

    #[test]
    fn composite_columns_get_a_rule_per_field_or_name_the_undecided_one() {
        let rules = [&KEEP, &NULL, &EMAIL, &HASH, &SCRUB, &COMPOSITE];
        let mut contact = text("contact");
        contact.samples = Some(profile(&["a@example.com", "b@example.com"]));
        let mut note = text("note");
        note.samples = Some(profile(&["call +44 7700 900123 or a@example.com", "-"]));
        let mut kind = text("kind");
        kind.samples = Some(profile(&["home", "work"]));
        let number = of(TypeClass::Integer, oids::INT4, "number");
        let mut col = of(TypeClass::Other, 16_400, "location");
        col.info.type_name = "public.postal".into();
        col.info.fields = [&contact, &note, &kind, &number]
            .iter()
            .map(|f| f.info.clone())
            .collect();
        col.fields = vec![contact, note, kind, number];
        col.samples = Some(profile(&[
            "(a@example.com,\"call +44 7700 900123\",home,1)",
        ]));
        let s = suggest(&col, &people(), &rules);
        assert_eq!(
            s.entry.to_toml(),
            r#"{ rule = "composite", fields = { contact = { rule = "email", domain = "email" }, note = { rule = "null" } } }"#
        );
        // A field whose values were not looked at makes the whole column undecided, naming it.
        col.fields[2].samples = None;
        let s = suggest(&col, &people(), &rules);
        assert!(
            matches!(&s.entry, Entry::Undecided(r) if r.starts_with("public.postal field `kind` is undecided")),
            "{s:?}"
        );
    }

    #[test]
    fn without_a_fitting_rule_it_is_left_undecided_never_kept() {
        let col = text("Phone");
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert_eq!(
            s.entry,
            Entry::Undecided(
                "looks like a phone number, no fitting rule in this build (column name `Phone`)"
                    .into()
            )
        );
        assert_eq!(s.reason, UNDECIDED_COMMENT);
        assert_eq!(
            s.entry.to_toml(),
            r#"{ undecided = "looks like a phone number, no fitting rule in this build (column name `Phone`)" }"#
        );
    }

    #[test]
    fn free_text_with_emails_is_flagged_by_content_and_nulled_when_nullable() {
        let mut col = text("info");
        col.samples = Some(profile(&[
            "met at the fair, wrote to x@example.com later",
            "nothing here",
        ]));
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert_eq!(s.entry.to_toml(), r#"{ rule = "null" }"#);
        assert_eq!(s.pii, Some(Pii::FreeText));
        assert!(s
            .reason
            .contains("1/2 sampled values contain email addresses"));
        // NOT NULL: null does not fit, hash is absent, so a person decides.
        col.info.not_null = true;
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert!(s.is_undecided(), "{s:?}");
        assert_eq!(s.findings, ["1/2 sampled values contain email addresses"]);
    }

    #[test]
    fn innocent_name_with_email_values_gets_the_email_rule() {
        let mut col = text("notes");
        col.samples = Some(profile(&["x@example.com", "y@example.com"]));
        let s = suggest(&col, &people(), &[&KEEP, &EMAIL]);
        assert_eq!(s.pii, Some(Pii::Email));
        assert_eq!(s.entry.to_toml(), r#"{ rule = "email", domain = "email" }"#);
    }

    #[test]
    fn keys_types_and_plain_text_are_kept_with_the_reason() {
        let t = people();
        let mut pk = of(TypeClass::Integer, oids::INT4, "id");
        pk.key = KeyRole::Primary;
        assert_eq!(suggest(&pk, &t, &[&KEEP]), Suggestion::keep("primary key"));
        let mut fk = of(TypeClass::Integer, oids::INT4, "customer_id");
        fk.key = KeyRole::Foreign("public.customers".into());
        assert_eq!(
            suggest(&fk, &t, &[&KEEP]).reason,
            "foreign key → public.customers"
        );
        let b = of(TypeClass::Bool, oids::BOOL, "email_verified");
        assert_eq!(suggest(&b, &t, &[&KEEP, &EMAIL]).reason, "boolean");
        let ts = of(TypeClass::Timestamp, oids::TIMESTAMPTZ, "created_at");
        assert_eq!(suggest(&ts, &t, &[&KEEP]).entry, Entry::Keep);
        let amount = of(TypeClass::Numeric, oids::NUMERIC, "total");
        assert!(suggest(&amount, &t, &[&KEEP]).reason.starts_with("number"));
        let mut title = text("title");
        title.samples = Some(profile(&["Sales Manager", "IT Staff"]));
        assert_eq!(
            suggest(&title, &t, &[&KEEP]).reason,
            "text; nothing personal in the column name or in 2 sampled values"
        );
    }

    #[test]
    fn a_key_that_looks_personal_is_left_undecided() {
        let mut col = text("email");
        col.key = KeyRole::Primary;
        col.info.unique = true;
        let s = suggest(&col, &people(), &[&KEEP, &EMAIL]);
        assert!(
            matches!(&s.entry, Entry::Undecided(r) if r.starts_with("primary key that looks like an email address")),
            "{s:?}"
        );
    }

    #[test]
    fn null_is_never_suggested_for_unique_or_not_null_columns() {
        let mut col = text("notes");
        col.info.unique = true;
        let s = suggest(&col, &people(), &[&KEEP, &NULL]);
        assert!(s.is_undecided(), "{s:?}");
    }

    #[test]
    fn inet_columns_are_ip_addresses_by_type() {
        let col = of(TypeClass::Inet, oids::INET, "origin");
        let s = suggest(&col, &people(), &[&KEEP]);
        assert_eq!(s.pii, Some(Pii::IpAddress));
        assert!(
            matches!(&s.entry, Entry::Undecided(r) if r.contains("type inet")),
            "{s:?}"
        );
    }

    #[test]
    fn every_type_that_can_hold_text_is_sampled() {
        let mut c = text("notes").info;
        assert!(samples_column(&c));
        c.array = true;
        assert!(samples_column(&c), "arrays of text");
        for (class, oid) in [
            (TypeClass::Json, oids::JSONB),
            (TypeClass::Bytea, oids::BYTEA),
            (TypeClass::Other, 16_400),
        ] {
            assert!(samples_column(&of(class, oid, "doc").info), "{class}");
        }
        let mut c = of(TypeClass::Integer, oids::INT4, "n").info;
        assert!(!samples_column(&c));
        c.array = true;
        assert!(!samples_column(&c));
    }

    #[test]
    fn values_not_looked_at_or_unreadable_are_never_kept() {
        let t = people();
        // --sample 0, or sampling failed: a text column says nothing by its name alone.
        let s = suggest(&text("title"), &t, &[&KEEP, &NULL]);
        assert!(s.is_undecided(), "{s:?}");
        let mut blob = of(TypeClass::Bytea, oids::BYTEA, "payload");
        let mut p = profile(&["plain words"]);
        p.add_unreadable();
        blob.samples = Some(p);
        let s = suggest(&blob, &t, &[&KEEP, &NULL]);
        assert!(
            matches!(&s.entry, Entry::Undecided(r) if r.contains("1/2 sampled values are binary")),
            "{s:?}"
        );
        // An empty table: nothing to leak, kept.
        let mut empty = text("title");
        empty.samples = Some(SampleProfile::default());
        assert_eq!(suggest(&empty, &t, &[&KEEP]).entry, Entry::Keep);
    }

    #[test]
    fn personal_data_inside_structured_values_is_left_undecided_with_counts() {
        let mut col = of(TypeClass::Other, 16_400, "location");
        col.info.type_name = "public.postal".into();
        col.samples = Some(profile(&[
            "(1 Harbour Road,Porthaven,owner1@example.net)",
            "(2 Harbour Road,Porthaven,\"+44 7700 900002\")",
        ]));
        let s = suggest(&col, &people(), &[&KEEP, &NULL, &EMAIL]);
        let Entry::Undecided(reason) = &s.entry else {
            panic!("{s:?}");
        };
        assert!(
            reason.starts_with(
                "personal data inside public.postal values (1/2 sampled values \
                 contain email addresses; 1/2 sampled values contain phone numbers)"
            ),
            "{reason}"
        );
        // Plain text with an email in one value of many: free text, replaced.
        let mut notes = text("remarks");
        let mut values = vec!["nothing"; 99];
        values.push("wrote from x@example.com");
        notes.samples = Some(profile(&values));
        let s = suggest(&notes, &people(), &[&KEEP, &NULL]);
        assert_eq!(s.entry.to_toml(), r#"{ rule = "null" }"#);
        assert!(s
            .reason
            .contains("1/100 sampled values contain email addresses"));
    }

    #[test]
    fn rendered_file_parses_and_lists_every_column() {
        let mut email = text("e\"mail");
        email.samples = Some(profile(&["a@example.com"]));
        let sections = vec![
            TableSection {
                name: "public.Customer".into(),
                columns: vec![
                    ("CustomerId".into(), Suggestion::keep("primary key")),
                    (
                        "e\"mail".into(),
                        suggest(&email, &people(), &[&KEEP, &EMAIL]),
                    ),
                    ("Order Date".into(), Suggestion::keep("date")),
                ],
                note: None,
            },
            TableSection {
                name: "odd schema.t\"x".into(),
                columns: vec![("id".into(), Suggestion::keep("primary key"))],
                note: Some("sampling failed\nsecond line".into()),
            },
        ];
        let text = render("app", "2026-01-01", &sections);
        let doc: toml::Table = match text.parse() {
            Ok(d) => d,
            Err(e) => panic!("{e}\n{text}"),
        };
        let tables = doc["tables"].as_table().expect("tables");
        let customer = tables["public.Customer"]["columns"]
            .as_table()
            .expect("columns");
        assert_eq!(customer.len(), 3);
        assert_eq!(customer["CustomerId"].as_str(), Some("keep"));
        assert_eq!(customer["e\"mail"]["rule"].as_str(), Some("email"));
        assert_eq!(customer["e\"mail"]["domain"].as_str(), Some("email"));
        assert!(tables.contains_key("odd schema.t\"x"));
        assert!(text.starts_with(
            "# restage rules for app, generated by `restage rules init` on 2026-01-01\n"
        ));
        assert!(text.contains("\nCustomerId   = \"keep\"  "), "{text}");
        // Comments line up within a table.
        let cols: Vec<usize> = text
            .lines()
            .skip_while(|l| !l.starts_with("[tables.\"public.Customer\""))
            .skip(1)
            .take(3)
            .filter_map(|l| l.find(" # "))
            .collect();
        assert_eq!(cols.len(), 3);
        assert!(cols.windows(2).all(|w| w[0] == w[1]), "{text}");
    }
}
