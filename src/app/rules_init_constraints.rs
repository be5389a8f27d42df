//! `rules init`'s check of its suggestions against the columns' constraints, on the source
//! server and read-only: each suggested value-generating rule is built with a throwaway key,
//! the column's sampled values go through it, and the outputs must pass the column's CHECK
//! constraints, its domain's constraints (a cast to the column's type), NOT NULL and its length
//! limit. A rule whose outputs fail gives way to the next candidate; when none passes, the
//! column is left undecided naming the constraint and the rules that failed it.
//!
//! Outputs are compared in `SELECT`s under a savepoint of the read-only transaction `rules
//! init` runs in; nothing is written. Only counts leave this module, never a value.

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::catalog::quote_ident;
use crate::pgerr;
use crate::rules::suggest::{Entry, Suggestion};
use crate::sanitize::spec::{ColumnInfo, Ctx, Outcome, TypeClass};
use crate::sanitize::{build_column_in, oids, Key, NO_UNIQUE_DOMAINS};

/// The constraints one column's values must pass, besides NOT NULL and `varchar(n)` (in its
/// `ColumnInfo`).
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// The column's type as SQL (`public.national_id`, `character(11)`): a cast to it runs
    /// the checks of its domain.
    pub type_sql: String,
    /// CHECK constraints of the column's domain, by name.
    pub domain_checks: Vec<String>,
    /// The table's CHECK constraints over this column alone: name and expression.
    pub checks: Vec<(String, String)>,
}

impl Constraints {
    fn has_checks(&self) -> bool {
        !self.domain_checks.is_empty() || !self.checks.is_empty()
    }
}

/// (table oid, column) → its CHECK and domain constraints, for columns that have some.
pub async fn load(
    client: &Client,
) -> Result<HashMap<(u32, String), Constraints>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attrelid, a.attname::text, \
                    pg_catalog.format_type(a.atttypid, a.atttypmod), \
                    ARRAY(SELECT co.conname::text FROM pg_catalog.pg_constraint co \
                          WHERE co.contype = 'c' AND co.contypid <> 0 \
                            AND co.contypid IN (a.atttypid, t.typbasetype) \
                          ORDER BY 1), \
                    ARRAY(SELECT co.conname::text FROM pg_catalog.pg_constraint co \
                          WHERE co.contype = 'c' AND co.conrelid = a.attrelid \
                            AND co.conkey = ARRAY[a.attnum] ORDER BY 1), \
                    ARRAY(SELECT pg_catalog.pg_get_expr(co.conbin, co.conrelid) \
                          FROM pg_catalog.pg_constraint co \
                          WHERE co.contype = 'c' AND co.conrelid = a.attrelid \
                            AND co.conkey = ARRAY[a.attnum] ORDER BY co.conname) \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE a.attnum > 0 AND NOT a.attisdropped \
               AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.contype = 'c' \
                   AND ((co.conrelid = a.attrelid AND co.conkey = ARRAY[a.attnum]) \
                        OR (co.contypid <> 0 AND co.contypid IN (a.atttypid, t.typbasetype))))",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let names: Vec<String> = r.get(4);
            let exprs: Vec<String> = r.get(5);
            (
                (r.get(0), r.get(1)),
                Constraints {
                    type_sql: r.get(2),
                    domain_checks: r.get(3),
                    checks: names.into_iter().zip(exprs).collect(),
                },
            )
        })
        .collect())
}

/// (composite type oid, field) → the `n` of a `varchar(n)`/`char(n)` field (or of the domain
/// it is typed with): rules suggested for fields must fit it as they must fit a column.
pub async fn field_lengths(
    client: &Client,
) -> Result<HashMap<(u32, String), usize>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT c.reltype, a.attname::text, \
                    CASE WHEN a.atttypmod >= 4 THEN a.atttypmod - 4 ELSE t.typtypmod - 4 END \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relkind = 'c' \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE a.attnum > 0 AND NOT a.attisdropped AND t.typcategory = 'S' \
               AND (a.atttypmod >= 4 OR t.typtypmod >= 4)",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let n: i32 = r.get(2);
            Some(((r.get(0), r.get(1)), usize::try_from(n).ok()?))
        })
        .collect())
}

/// Sets the length limit of every field of `info` (nested ones too) from `lengths`.
pub fn limit_fields(info: &mut ColumnInfo, lengths: &HashMap<(u32, String), usize>) {
    let composite = info.scalar_oid;
    for field in &mut info.fields {
        if !field.array {
            if let Some(n) = lengths.get(&(composite, field.name.clone())) {
                field.max_chars = Some(*n);
            }
        }
        limit_fields(field, lengths);
    }
}

/// What is checked of one column: its facts, constraints and sampled values.
pub struct Column<'a> {
    pub info: &'a ColumnInfo,
    pub constraints: Option<&'a Constraints>,
    /// Sampled values, whole, in the server's text form.
    pub values: &'a [String],
}

/// Replaces `suggestion` by the first of its working entries whose outputs pass the column's
/// constraints, or by an undecided entry naming what failed. Returns what was checked (counts
/// only), None when the column has nothing to check.
pub async fn settle(
    client: &Client,
    key: &Key,
    column: &Column<'_>,
    suggestion: &mut Suggestion,
) -> Option<String> {
    if !matches!(&suggestion.entry, Entry::Rule { rule, .. } if rule != "keep") {
        return None;
    }
    let info = column.info;
    let checks = column.constraints.filter(|c| c.has_checks());
    if checks.is_none() && info.max_chars.is_none() && !info.not_null {
        return None;
    }
    let mut tried = vec![(suggestion.entry.clone(), suggestion.reason.clone())];
    tried.append(&mut suggestion.fallbacks);
    let mut failures = Vec::new();
    for (entry, reason) in tried {
        match verdict(client, key, column, checks, &entry).await {
            Ok(note) => {
                suggestion.entry = entry;
                suggestion.reason = reason;
                return Some(note);
            }
            Err(failure) => failures.push(failure),
        }
    }
    let pii = suggestion.pii;
    let findings = std::mem::take(&mut suggestion.findings);
    *suggestion = Suggestion::undecided(
        format!(
            "no suggested rule gives values its constraints accept: {}; choose a rule whose \
             output passes them",
            failures.join("; ")
        ),
        pii,
        findings,
    );
    Some(format!("undecided, {}", failures.join("; ")))
}

/// An entry's rule with its parameters, as a failure names it: `format_preserve (letters =
/// false)`.
fn rule_of(entry: &Entry) -> String {
    match entry {
        Entry::Rule { rule, params, .. } if params.is_empty() => rule.clone(),
        Entry::Rule { rule, params, .. } => {
            let params: Vec<String> = params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{rule} ({})", params.join(", "))
        }
        _ => String::new(),
    }
}

/// Ok with what passed, or Err naming the constraint and the rule that failed it.
async fn verdict(
    client: &Client,
    key: &Key,
    column: &Column<'_>,
    checks: Option<&Constraints>,
    entry: &Entry,
) -> Result<String, String> {
    let info = column.info;
    let rule = rule_of(entry);
    let mut what: Vec<String> = Vec::new();
    if let Some(c) = checks {
        what.extend(c.checks.iter().map(|(name, _)| format!("CHECK {name}")));
        what.extend(
            c.domain_checks
                .iter()
                .map(|name| format!("domain CHECK {name}")),
        );
    }
    if info.not_null {
        what.push("NOT NULL".to_string());
    }
    if let Some(n) = info.max_chars {
        what.push(format!("length {n}"));
    }
    let what = what.join(", ");
    let Some(layout) = Layout::of(info) else {
        // NOT NULL and length are what `rules check` checks from the declarations; a CHECK
        // on a type whose values this check does not read cannot be vouched for.
        return match checks {
            Some(_) => Err(format!(
                "`{rule}` on {} cannot be checked against {what} by rules init",
                info.type_name
            )),
            None => Ok(format!("{what} by the rule's declaration")),
        };
    };
    let (Some(table), Entry::Rule { rule: name, .. }) = (entry.to_table(), entry) else {
        return Ok(String::new());
    };
    let sanitizer = build_column_in(
        &table,
        info,
        std::slice::from_ref(info),
        name,
        &NO_UNIQUE_DOMAINS,
        None,
    )
    .map_err(|e| format!("`{rule}` cannot be built for it: {}", e.join("; ")))?;
    let ctx = Ctx { key, row: None };
    let mut outputs: Vec<String> = Vec::with_capacity(column.values.len());
    let mut out = Vec::new();
    for value in column.values {
        let input = layout.binary(value);
        out.clear();
        let outcome = sanitizer
            .sanitize(Some(&input), &ctx, &mut out)
            .map_err(|e| format!("`{rule}` fails on a sampled value: {e}"))?;
        let bytes = match outcome {
            Outcome::Null if info.not_null => {
                return Err(format!("NOT NULL fails for `{rule}`"));
            }
            Outcome::Null => continue,
            Outcome::Same => input.as_slice(),
            Outcome::Value => out.as_slice(),
        };
        let text = layout
            .text(bytes)
            .ok_or_else(|| format!("`{rule}` gives values that are not text"))?;
        if let Some(n) = info.max_chars {
            if length(info, &text) > n {
                return Err(format!("length {n} fails for `{rule}`"));
            }
        }
        outputs.push(text);
    }
    let total = outputs.len();
    if total == 0 {
        return Ok(format!("{what}: no sampled values to check"));
    }
    if let Some(c) = checks {
        check_on_server(client, c, info, &outputs)
            .await
            .map_err(|failed| format!("{failed} fails for `{rule}`"))?;
    }
    Ok(format!("{what}: {total}/{total} sanitized samples pass"))
}

/// Characters that count against `char(n)`/`varchar(n)` (trailing spaces of `char(n)` don't).
fn length(info: &ColumnInfo, text: &str) -> usize {
    if info.scalar_oid == oids::BPCHAR {
        text.trim_end_matches(' ').chars().count()
    } else {
        text.chars().count()
    }
}

/// Runs the domain's checks (a cast to the column's type) and each table CHECK over `outputs`
/// on the source server, under a savepoint rolled back afterwards. Err names what failed,
/// with counts.
async fn check_on_server(
    client: &Client,
    c: &Constraints,
    column: &ColumnInfo,
    outputs: &[String],
) -> Result<(), String> {
    let text_like = column.class == TypeClass::Text;
    let total = outputs.len();
    let run = async {
        let cast = format!(
            // count(t.x), not count(*): an unused cast would be planned away.
            "SELECT count(t.x) FROM (SELECT s.v::{} AS x \
             FROM pg_catalog.unnest($1::pg_catalog.text[]) AS s(v)) AS t",
            c.type_sql
        );
        if let Err(e) = client.query_one(&cast, &[&outputs]).await {
            let name = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .map(str::to_string);
            return Err(match name {
                Some(n) => format!("domain CHECK {n}"),
                None => format!("the cast to {} ({})", c.type_sql, pgerr::describe(&e)),
            });
        }
        // An explicit cast cuts text to a `varchar(n)` a domain is over, silently: a value
        // the cast changed is too long for the column.
        if text_like {
            let cut = format!(
                "SELECT count(*) FROM pg_catalog.unnest($1::pg_catalog.text[]) AS s(v) \
                 WHERE pg_catalog.rtrim((s.v::{})::pg_catalog.text) <> pg_catalog.rtrim(s.v)",
                c.type_sql
            );
            let cut: i64 = client
                .query_one(&cut, &[&outputs])
                .await
                .map_err(|e| format!("the length of {} ({})", c.type_sql, pgerr::describe(&e)))?
                .get(0);
            if cut > 0 {
                return Err(format!(
                    "the length of {} ({cut}/{total} sanitized samples)",
                    c.type_sql
                ));
            }
        }
        for (name, expr) in &c.checks {
            let sql = format!(
                "SELECT count(*) FROM (SELECT s.v::{} AS {} \
                 FROM pg_catalog.unnest($1::pg_catalog.text[]) AS s(v)) AS t WHERE ({expr}) IS FALSE",
                c.type_sql,
                quote_ident(&column.name)
            );
            let failed: i64 = client
                .query_one(&sql, &[&outputs])
                .await
                .map_err(|e| format!("CHECK {name} ({})", pgerr::describe(&e)))?
                .get(0);
            if failed > 0 {
                return Err(format!("CHECK {name} ({failed}/{total} sanitized samples)"));
            }
        }
        Ok(())
    };
    client
        .batch_execute("SAVEPOINT restage_constraints")
        .await
        .map_err(|e| pgerr::describe(&e))?;
    let result = run.await;
    let _ = client
        .batch_execute(
            "ROLLBACK TO SAVEPOINT restage_constraints; RELEASE SAVEPOINT restage_constraints",
        )
        .await;
    result
}

/// How a column's binary values hold the text form its samples were read in.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// text, varchar, char, json, xml: the bytes are the text.
    Plain,
    /// jsonb: a version byte, then the text.
    Jsonb,
}

impl Layout {
    /// None for types whose binary values are not their text (numbers, arrays, composites).
    fn of(info: &ColumnInfo) -> Option<Layout> {
        if info.array {
            return None;
        }
        match (info.class, info.scalar_oid) {
            (TypeClass::Json, oids::JSONB) => Some(Layout::Jsonb),
            (TypeClass::Text | TypeClass::Json, _) | (_, oids::XML) => Some(Layout::Plain),
            _ => None,
        }
    }

    fn binary(self, text: &str) -> Vec<u8> {
        match self {
            Layout::Plain => text.as_bytes().to_vec(),
            Layout::Jsonb => {
                let mut b = vec![1];
                b.extend_from_slice(text.as_bytes());
                b
            }
        }
    }

    fn text(self, bytes: &[u8]) -> Option<String> {
        let body = match self {
            Layout::Plain => bytes,
            Layout::Jsonb => bytes.get(1..)?,
        };
        String::from_utf8(body.to_vec()).ok()
    }
}

/// Whether the sampled values of a column are kept for this check: its binary values are
/// its text.
pub fn keeps_values(info: &ColumnInfo) -> bool {
    Layout::of(info).is_some()
}
