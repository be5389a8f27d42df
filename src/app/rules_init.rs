//! `restage rules init`: a rules-file skeleton from a live database.
//!
//! One READ ONLY transaction: the catalog, the key columns, then per table one sampling query
//! over every column whose type can hold text (`TABLESAMPLE SYSTEM` on large tables, `LIMIT
//! --sample`): the server's text form of composites, arrays, json, xml and tsvector, the bytes
//! of `bytea` read as UTF-8 where they are. Sampled values go straight into counters
//! (`suggest::SampleProfile`); only counts reach the output. Fields of composite columns are
//! sampled each on its own (of every element, for arrays of composites). Whole values of
//! columns whose binary form is their text are kept in memory for the constraint check
//! (`rules_init_constraints`): suggested rules run over them and their outputs are checked
//! against the column's constraints on the source, in the same transaction, which is rolled
//! back. The suggestions come from `rules::suggest`, checked the way `rules check` checks them
//! before anything is written.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use tokio_postgres::Client;

use super::rules_init_constraints as constraints;
use super::run::parse_conn;
use super::sanitizing::ephemeral_key;
use super::Failure;
use crate::catalog::{self, quote_ident, select, SourceCatalog, Table};
use crate::cli::RulesInitArgs;
use crate::conn::ConnSpec;
use crate::exit;
use crate::pgerr;
use crate::rules::suggest::{
    ColumnFacts, Entry, KeyLink, KeyRole, SampleProfile, TableContext, TableSection,
};
use crate::rules::{self, diagnostic, suggest};
use crate::sanitize::registry;
use crate::sanitize::spec::{ColumnInfo, RuleSpec, TypeClass};

const APPLICATION_NAME: &str = "restage rules init";

/// Longest prefix of a value that is looked at (a JWT fits; a novel does not need to).
const SAMPLE_CHARS: u32 = 2048;

pub fn run(args: &RulesInitArgs) -> Result<(), Failure> {
    let source = parse_conn("--source", &args.source)?;
    super::refuse_overwrite(args.out.as_deref(), args.force)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILURE, format!("cannot start a runtime: {e}")))?;
    let (mut sections, catalog, tables, checked) = rt.block_on(inspect(&source, args))?;

    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let date = now.get(..10).unwrap_or(&now);
    let links = key_links(&catalog, &tables);
    let text = suggest::settle(&mut sections, &links, &catalog, &tables, |s| {
        suggest::render(source.dbname(), date, s)
    })
    .map_err(|problems| {
        Failure::new(
            exit::FAILURE,
            format!(
                "the generated rules do not pass `rules check`:\n{}",
                diagnostic::render(&problems)
            ),
        )
    })?;
    print_findings(&sections, &checked);
    match &args.out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Failure::new(exit::FAILURE, format!("writing stdout: {e}")))?;
        }
        Some(path) => {
            write_atomically(path, &text, args.force)?;
            let columns: Vec<_> = sections.iter().flat_map(|t| &t.columns).collect();
            eprintln!(
                "wrote {}: {} tables, {} columns, {} look personal, {} left undecided",
                path.display(),
                sections.len(),
                columns.len(),
                columns.iter().filter(|(_, s)| s.pii.is_some()).count(),
                columns.iter().filter(|(_, s)| s.is_undecided()).count()
            );
        }
    }
    Ok(())
}

/// One stderr line per column where sampling found something, whose suggestion was checked
/// against constraints, or that is left undecided: counts and the decision, never a value.
fn print_findings(sections: &[TableSection], checked: &[(String, String, String)]) {
    for table in sections {
        for (column, s) in &table.columns {
            let check = checked
                .iter()
                .find(|(t, c, _)| *t == table.name && c == column)
                .map(|(_, _, note)| note);
            if s.findings.is_empty() && !s.is_undecided() && check.is_none() {
                continue;
            }
            let decision = match &s.entry {
                // The reason repeats the counts; it is in the file.
                Entry::Undecided(_) if !s.findings.is_empty() => "undecided".to_string(),
                Entry::Undecided(reason) => format!("undecided: {reason}"),
                Entry::Rule { rule, .. } => format!("rule {rule}"),
                Entry::Follows { references, .. } => format!("follows {references}"),
                Entry::Keep => "keep".to_string(),
            };
            let found = if s.findings.is_empty() {
                String::new()
            } else {
                format!("{} → ", s.findings.join("; "))
            };
            let check = match (check, &s.entry) {
                (Some(note), Entry::Rule { .. }) => format!(" (checked {note})"),
                _ => String::new(),
            };
            eprintln!("  {}.{column}: {found}{decision}{check}", table.name);
        }
    }
}

/// Column pairs of every foreign key between chosen tables, by the section each side is
/// written under, with whether their types match (a rule can follow the key only then).
fn key_links(catalog: &SourceCatalog, tables: &[Table]) -> Vec<KeyLink> {
    let section = |oid: u32| -> Option<String> {
        tables
            .iter()
            .find(|t| t.oid == oid)
            .map(|t| t.partition_root.clone().unwrap_or_else(|| t.display_name()))
            .or_else(|| catalog.partitioned.get(&oid).cloned())
    };
    let column_type = |oid: u32, name: &str| -> Option<(u32, i32)> {
        catalog
            .tables
            .iter()
            .filter(|t| t.oid == oid || catalog.partitioned.get(&oid) == t.partition_root.as_ref())
            .flat_map(|t| &t.columns)
            .find(|c| c.name == name)
            .map(|c| (c.type_oid, c.typmod))
    };
    let mut links = Vec::new();
    for fk in &catalog.foreign_keys {
        let (Some(from), Some(to)) = (section(fk.table), section(fk.referenced_table)) else {
            continue;
        };
        for (col, ref_col) in fk.columns.iter().zip(&fk.referenced_columns) {
            let link = KeyLink {
                from: (from.clone(), col.clone()),
                to: (to.clone(), ref_col.clone()),
                same_type: column_type(fk.table, col) == column_type(fk.referenced_table, ref_col),
            };
            if !links.contains(&link) {
                links.push(link);
            }
        }
    }
    links
}

/// Sections, the catalog and tables they came from, and per checked column (section,
/// column) what the constraint check said.
type Inspected = (
    Vec<TableSection>,
    SourceCatalog,
    Vec<Table>,
    Vec<(String, String, String)>,
);

/// Reads the source and builds one section per selected table, in `schema.table` order, with
/// the catalog and the tables they came from.
async fn inspect(source: &ConnSpec, args: &RulesInitArgs) -> Result<Inspected, Failure> {
    let client = source
        .connect(APPLICATION_NAME)
        .await
        .map_err(|e| Failure::new(exit::CONNECTION, format!("source: {e}")))?;
    let pg = |what: &str, e: tokio_postgres::Error| {
        Failure::new(
            exit::FAILURE,
            format!(
                "source {}: {what}: {}",
                source.masked(),
                pgerr::describe(&e)
            ),
        )
    };
    client
        .batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
             SELECT pg_catalog.set_config('search_path', '', true); \
             SET LOCAL lock_timeout = '10s'; SET LOCAL statement_timeout = '120s'",
        )
        .await
        .map_err(|e| pg("starting a read-only transaction", e))?;
    let catalog = catalog::load(&client)
        .await
        .map_err(|e| Failure::new(exit::FAILURE, format!("source: {e}")))?;
    let mut tables = chosen_tables(
        &catalog,
        &args.selection.tables,
        &args.selection.exclude_tables,
    )?;
    tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    let keys = key_roles(&client)
        .await
        .map_err(|e| pg("reading keys", e))?;
    let constraints = constraints::load(&client)
        .await
        .map_err(|e| pg("reading CHECK constraints", e))?;
    let field_lengths = constraints::field_lengths(&client)
        .await
        .map_err(|e| pg("reading composite types", e))?;

    // Partitions are written once, under the partitioned table at the root of their tree: its
    // rules apply to every partition, including ones created later.
    let mut groups: Vec<Group> = Vec::new();
    for table in &tables {
        let table_name = table.display_name();
        let infos: Vec<_> = table
            .columns
            .iter()
            .map(|c| {
                let mut info = rules::column_info(table, c, &catalog.types);
                constraints::limit_fields(&mut info, &field_lengths);
                info
            })
            .collect();
        let sampled: Vec<usize> = (0..infos.len())
            .filter(|&i| args.sample > 0 && suggest::samples_column(&infos[i]))
            .collect();
        let mut probes = Vec::new();
        let plans: Vec<Option<Plan>> = (0..infos.len())
            .map(|i| {
                sampled.contains(&i).then(|| {
                    plan(
                        &infos[i],
                        &[],
                        &quote_ident(&table.columns[i].name),
                        &mut probes,
                    )
                })
            })
            .collect();
        let section = table
            .partition_root
            .clone()
            .unwrap_or_else(|| table_name.clone());
        let at = match groups.iter().position(|g| g.name == section) {
            Some(at) => at,
            None => {
                groups.push(Group {
                    short: match &table.partition_root {
                        Some(root) => root.split_once('.').map_or(root.as_str(), |(_, t)| t),
                        None => table.name.as_str(),
                    }
                    .to_string(),
                    name: section,
                    ..Group::default()
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[at];
        if table.partition_root.is_some() {
            group.partitions.push(table_name.clone());
        }
        let sampled = match sample(&client, table, &sampled, &probes, args.sample).await {
            Ok(p) => Some(p),
            Err(e) => {
                let note = format!(
                    "sampling {table_name} failed ({}); columns whose values were not looked at \
                     are left undecided",
                    pgerr::describe(&e)
                );
                tracing::warn!("{note}");
                group.notes.push(note);
                None
            }
        };
        let no_plan = Plan {
            probe: None,
            fields: Vec::new(),
        };
        for (i, info) in infos.into_iter().enumerate() {
            let plan = plans[i].as_ref().unwrap_or(&no_plan);
            let key = keys
                .get(&(table.oid, info.name.clone()))
                .cloned()
                .unwrap_or(KeyRole::None);
            let values = match (&sampled, plan.probe) {
                (Some(s), Some(p)) => s.values[p].clone(),
                _ => Vec::new(),
            };
            let facts = facts_of(
                info,
                plan,
                sampled.as_ref().map(|s| s.profiles.as_slice()),
                key,
            );
            match group
                .columns
                .iter_mut()
                .position(|c| c.facts.info.name == facts.info.name)
            {
                Some(at) => {
                    let known = &mut group.columns[at];
                    merge_facts(&mut known.facts, facts);
                    known.values.extend(values);
                }
                None => {
                    let constraints = constraints
                        .get(&(table.oid, facts.info.name.clone()))
                        .cloned();
                    group.columns.push(Sampling {
                        facts,
                        values,
                        constraints,
                    });
                }
            }
        }
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));

    let specs: Vec<&RuleSpec> = registry::all().iter().map(|r| r.spec()).collect();
    // Suggested rules are built with a key of this run only, to check their outputs.
    let key = ephemeral_key()?;
    let mut sections = Vec::new();
    let mut checked = Vec::new();
    for g in groups {
        let names: Vec<&str> = g
            .columns
            .iter()
            .map(|c| c.facts.info.name.as_str())
            .collect();
        let context = TableContext::new(&g.short, &names);
        let mut columns = Vec::new();
        for c in &g.columns {
            let mut suggestion = suggest::suggest(&c.facts, &context, &specs);
            let column = constraints::Column {
                info: &c.facts.info,
                constraints: c.constraints.as_ref(),
                values: &c.values,
            };
            if let Some(note) = constraints::settle(&client, &key, &column, &mut suggestion).await {
                checked.push((g.name.clone(), c.facts.info.name.clone(), note));
            }
            suggestion.fallbacks.clear();
            columns.push((c.facts.info.name.clone(), suggestion));
        }
        let mut notes = g.notes;
        if !g.partitions.is_empty() {
            notes.insert(
                0,
                format!(
                    "partitioned table: these entries apply to its partitions {}",
                    g.partitions.join(", ")
                ),
            );
        }
        sections.push(TableSection {
            name: g.name,
            columns,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        });
    }
    // Read-only, and rolled back: nothing of this run stays on the source.
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(|e| pg("ending the transaction", e))?;
    Ok((sections, catalog, tables, checked))
}

/// One column of a section as sampled: its facts, the values kept for the constraint check
/// and its constraints.
struct Sampling {
    facts: ColumnFacts,
    values: Vec<String>,
    constraints: Option<constraints::Constraints>,
}

/// One section of the file: a table, or a partitioned table with its partitions.
#[derive(Default)]
struct Group {
    /// `schema.table` written in the file.
    name: String,
    /// The table name alone, to tell whether its rows are people.
    short: String,
    columns: Vec<Sampling>,
    partitions: Vec<String>,
    notes: Vec<String>,
}

/// `--table` / `--exclude-table` without clone's foreign-key closure: a rules file for part of
/// a database is fine.
fn chosen_tables(
    catalog: &SourceCatalog,
    include: &[String],
    exclude: &[String],
) -> Result<Vec<Table>, Failure> {
    for pattern in include {
        if !catalog
            .tables
            .iter()
            .any(|t| select::pattern_matches(pattern, t))
        {
            return Err(Failure::new(
                exit::USAGE,
                format!("--table {pattern:?} matches no table"),
            ));
        }
    }
    Ok(catalog
        .tables
        .iter()
        .filter(|t| include.is_empty() || include.iter().any(|p| select::pattern_matches(p, t)))
        .filter(|t| !exclude.iter().any(|p| select::pattern_matches(p, t)))
        .cloned()
        .collect())
}

/// (table oid, column) → primary key member, or foreign key member with the referenced table.
async fn key_roles(
    client: &Client,
) -> Result<HashMap<(u32, String), KeyRole>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT co.conrelid, co.contype::text, a.attname::text, \
                    rn.nspname::text, rc.relname::text \
             FROM pg_catalog.pg_constraint co \
             JOIN pg_catalog.pg_attribute a \
               ON a.attrelid = co.conrelid AND a.attnum = ANY (co.conkey) \
             LEFT JOIN pg_catalog.pg_class rc ON rc.oid = co.confrelid \
             LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
             WHERE co.contype IN ('p', 'f') \
             ORDER BY co.contype DESC, co.conname",
            &[],
        )
        .await?;
    let mut keys: HashMap<(u32, String), KeyRole> = HashMap::new();
    // Primary keys come first ('p' > 'f'); a foreign key over a primary-key column adds to it.
    for r in &rows {
        let kind: String = r.get(1);
        let key = (r.get::<_, u32>(0), r.get::<_, String>(2));
        let role = if kind == "p" {
            KeyRole::Primary
        } else {
            let schema: Option<String> = r.get(3);
            let name: Option<String> = r.get(4);
            KeyRole::Foreign(format!(
                "{}.{}",
                schema.unwrap_or_default(),
                name.unwrap_or_default()
            ))
        };
        match (keys.get(&key), role) {
            (None, role) => {
                keys.insert(key, role);
            }
            (Some(KeyRole::Primary), KeyRole::Foreign(to)) => {
                keys.insert(key, KeyRole::PrimaryForeign(to));
            }
            _ => {}
        }
    }
    Ok(keys)
}

/// How one probe's sampled values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// The server's text form, first [`SAMPLE_CHARS`] characters: text, json, xml, tsvector,
    /// composites and arrays (whose text form nests their fields' and elements').
    Text,
    /// The first bytes of a `bytea`, looked at where they are UTF-8 text.
    Bytes,
    /// Arrays of `bytea`: their text form is hex, so nothing can be told about them.
    Opaque,
}

impl Read {
    fn of(info: &ColumnInfo) -> Read {
        match (info.class, info.array) {
            (TypeClass::Bytea, false) => Read::Bytes,
            (TypeClass::Bytea, true) => Read::Opaque,
            _ => Read::Text,
        }
    }
}

/// One expression of the sampling query: a column, or a field of a composite column (inside
/// arrays of composites: the field of every element, as an array).
struct Probe {
    expr: String,
    read: Read,
    /// One value per element of an array of composites: the expression gives an array.
    per_element: bool,
    /// The column's own values are kept (whole) for the constraint check.
    keep_values: bool,
}

/// Which probes describe a column and, for composites, each of its fields.
struct Plan {
    probe: Option<usize>,
    fields: Vec<Plan>,
}

/// Probes for `info` found at the SQL `value` (a column or a field path), reached through the
/// `from` items that unnest arrays of composites on the way.
fn plan(info: &ColumnInfo, from: &[String], value: &str, probes: &mut Vec<Probe>) -> Plan {
    let probe = suggest::samples_column(info).then(|| {
        let read = Read::of(info);
        let one = match read {
            Read::Bytes => format!("pg_catalog.substring({value}, 1, {})", SAMPLE_CHARS * 4),
            Read::Text | Read::Opaque => {
                format!("pg_catalog.left(({value})::pg_catalog.text, {SAMPLE_CHARS})")
            }
        };
        let per_element = !from.is_empty();
        let expr = if per_element {
            format!("ARRAY(SELECT {one} FROM {})", from.join(", "))
        } else {
            one
        };
        probes.push(Probe {
            expr,
            read,
            per_element,
            keep_values: !per_element && constraints::keeps_values(info),
        });
        probes.len() - 1
    });
    let mut fields = Vec::new();
    if !info.fields.is_empty() {
        let mut from = from.to_vec();
        let element = if info.array {
            let alias = format!("restage_e{}", from.len());
            from.push(format!("pg_catalog.unnest({value}) AS {alias}"));
            alias
        } else {
            value.to_string()
        };
        for field in &info.fields {
            let path = format!("({element}).{}", quote_ident(&field.name));
            fields.push(plan(field, &from, &path, probes));
        }
    }
    Plan { probe, fields }
}

/// A column's (or field's) facts from its plan and the sampled profiles (None: not sampled).
fn facts_of(
    info: ColumnInfo,
    plan: &Plan,
    profiles: Option<&[SampleProfile]>,
    key: KeyRole,
) -> ColumnFacts {
    let samples = profiles.and_then(|p| plan.probe.map(|i| p[i].clone()));
    let fields = info
        .fields
        .iter()
        .zip(&plan.fields)
        .map(|(f, p)| facts_of(f.clone(), p, profiles, KeyRole::None))
        .collect();
    ColumnFacts {
        info,
        key,
        samples,
        fields,
    }
}

/// Adds another partition's samples of the same column, fields included; a partition whose
/// values were not looked at leaves the column uninspected.
fn merge_facts(known: &mut ColumnFacts, more: ColumnFacts) {
    match (&mut known.samples, more.samples) {
        (Some(mine), Some(theirs)) => mine.merge(&theirs),
        (mine, _) => *mine = None,
    }
    for (mine, theirs) in known.fields.iter_mut().zip(more.fields) {
        merge_facts(mine, theirs);
    }
}

/// Adds the first bytes of a `bytea` value: as text when they are UTF-8 (a value cut short in
/// the middle of a character still is), else as a value that could not be read.
fn add_bytes(profile: &mut SampleProfile, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => profile.add(text),
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
            profile.add(String::from_utf8_lossy(&bytes[..e.valid_up_to()]).as_ref());
        }
        Err(_) => profile.add_unreadable(),
    }
}

/// What one table's sampling gives: a profile per probe, and the kept values per probe.
struct Sampled {
    profiles: Vec<SampleProfile>,
    values: Vec<Vec<String>>,
}

/// Profiles of the `probes` from one query over `table`, in that order, with the values of the
/// probes that keep them (whole values only: one cut at [`SAMPLE_CHARS`] is not kept). Runs
/// under a savepoint so a failure (a lock or statement timeout) only loses this table's
/// samples.
async fn sample(
    client: &Client,
    table: &Table,
    columns: &[usize],
    probes: &[Probe],
    limit: u32,
) -> Result<Sampled, tokio_postgres::Error> {
    let mut out = Sampled {
        profiles: vec![SampleProfile::default(); probes.len()],
        values: vec![Vec::new(); probes.len()],
    };
    if probes.is_empty() {
        return Ok(out);
    }
    let select_list = probes
        .iter()
        .map(|p| p.expr.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let any_value = columns
        .iter()
        .map(|&i| format!("{} IS NOT NULL", quote_ident(&table.columns[i].name)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!(
        "SELECT {select_list} FROM ONLY {}{} WHERE {any_value} LIMIT {limit}",
        table.qualified(),
        tablesample(table, limit)
    );
    client.batch_execute("SAVEPOINT restage_sample").await?;
    let rows = match client.query(&sql, &[]).await {
        Ok(rows) => rows,
        Err(e) => {
            let _ = client
                .batch_execute("ROLLBACK TO SAVEPOINT restage_sample")
                .await;
            return Err(e);
        }
    };
    client
        .batch_execute("RELEASE SAVEPOINT restage_sample")
        .await?;
    for row in &rows {
        for (i, probe) in probes.iter().enumerate() {
            let profile = &mut out.profiles[i];
            match (probe.read, probe.per_element) {
                (Read::Text, false) => {
                    if let Ok(Some(value)) = row.try_get::<_, Option<&str>>(i) {
                        profile.add(value);
                        if probe.keep_values && value.chars().count() < SAMPLE_CHARS as usize {
                            out.values[i].push(value.to_string());
                        }
                    }
                }
                (Read::Text, true) => {
                    if let Ok(Some(values)) = row.try_get::<_, Option<Vec<Option<&str>>>>(i) {
                        values.into_iter().flatten().for_each(|v| profile.add(v));
                    }
                }
                (Read::Bytes, false) => {
                    if let Ok(Some(value)) = row.try_get::<_, Option<&[u8]>>(i) {
                        add_bytes(profile, value);
                    }
                }
                (Read::Bytes, true) => {
                    if let Ok(Some(values)) = row.try_get::<_, Option<Vec<Option<&[u8]>>>>(i) {
                        values
                            .into_iter()
                            .flatten()
                            .for_each(|v| add_bytes(profile, v));
                    }
                }
                (Read::Opaque, false) => {
                    if let Ok(Some(_)) = row.try_get::<_, Option<&str>>(i) {
                        profile.add_unreadable();
                    }
                }
                (Read::Opaque, true) => {
                    if let Ok(Some(values)) = row.try_get::<_, Option<Vec<Option<&str>>>>(i) {
                        values
                            .into_iter()
                            .flatten()
                            .for_each(|_| profile.add_unreadable());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// ` TABLESAMPLE SYSTEM (p)` reading about twenty times the rows wanted, for tables too large
/// to read from the start; empty for small ones (then `LIMIT` reads the first rows).
fn tablesample(table: &Table, limit: u32) -> String {
    let pages = table.bytes / 8192;
    let rows = table.estimated_rows.max(pages.saturating_mul(20));
    let wanted = u64::from(limit).saturating_mul(20).max(1000);
    if rows <= wanted {
        return String::new();
    }
    let percent = (wanted as f64 * 100.0 / rows as f64).clamp(0.001, 100.0);
    format!(" TABLESAMPLE SYSTEM ({percent:.4})")
}

/// Writes `text` to a temporary file beside `path`, then renames it into place: readers see
/// the old file or the whole new one. Without `force` an existing file is never replaced.
fn write_atomically(path: &Path, text: &str, force: bool) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fail = |e: std::io::Error| {
        Failure::new(
            exit::FAILURE,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".restage-rules-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    let persisted = if force {
        tmp.persist(path).map(|_| ())
    } else {
        tmp.persist_noclobber(path).map(|_| ())
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::new(
                exit::REFUSED,
                format!(
                    "{} exists; refusing to overwrite it (use --force to replace it)",
                    path.display()
                ),
            )
        } else {
            fail(e.error)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(bytes: u64, estimated_rows: u64) -> Table {
        Table {
            oid: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: Vec::new(),
            bytes,
            pages: bytes / 8192,
            estimated_rows,
            unlogged: false,
            references: Vec::new(),
            partition_root: None,
            primary_key: Vec::new(),
        }
    }

    #[test]
    fn only_large_tables_are_sampled_by_blocks() {
        assert_eq!(tablesample(&table(8192, 50), 200), "");
        // Never analyzed (no estimate) but 80 MB on disk: sampled.
        let unanalyzed = tablesample(&table(80 << 20, 0), 200);
        assert!(
            unanalyzed.starts_with(" TABLESAMPLE SYSTEM ("),
            "{unanalyzed}"
        );
        // 10 million rows, 200 wanted: about 4000 rows read, 0.04 %.
        assert_eq!(
            tablesample(&table(1 << 30, 10_000_000), 200),
            " TABLESAMPLE SYSTEM (0.0400)"
        );
    }
}
