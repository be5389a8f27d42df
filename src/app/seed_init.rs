//! `restage seed init`: a seed-plan skeleton for a live schema. Every table gets a row count
//! and every column its suggested generator with the reason, or a comment saying the database
//! fills it or that a person must choose; the output parses as a plan as written.

use std::fmt::Write as _;

use super::run::parse_conn;
use super::Failure;
use crate::catalog::{self, SourceCatalog, Table};
use crate::cli::SeedInitArgs;
use crate::exit;
use crate::rules::column_info;
use crate::seed::suggest::{suggest, Suggestion};
use crate::seed::target::{self, ColumnFacts, Facts};

const APPLICATION_NAME: &str = "restage seed init";

pub fn run(args: &SeedInitArgs) -> Result<(), Failure> {
    let source = parse_conn("--source", &args.source)?;
    super::refuse_overwrite(args.out.as_deref(), args.force)?;
    let rt = super::runtime()?;
    let client = rt
        .block_on(source.connect(APPLICATION_NAME))
        .map_err(|e| Failure::new(exit::CONNECTION, format!("source: {e}")))?;
    let read = |e: tokio_postgres::Error| super::pg_failure(exit::FAILURE, "source", &e);
    rt.block_on(client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        .map_err(read)?;
    let catalog = rt
        .block_on(catalog::load(&client))
        .map_err(|e| Failure::new(exit::FAILURE, format!("source: {e}")))?;
    let facts = rt.block_on(target::column_facts(&client)).map_err(read)?;
    let _ = rt.block_on(client.batch_execute("COMMIT"));
    let text = render(source.dbname(), &catalog, &facts, args.rows);
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::new(exit::FAILURE, format!("writing {}: {e}", path.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The plan text: tables in catalog order, each column with its generator and reason.
pub fn render(dbname: &str, catalog: &SourceCatalog, facts: &Facts, rows: u64) -> String {
    let mut out = format!(
        "# Seed plan for {dbname}, written by `restage seed init`.\n\
         # Every column has the generator restage suggests and the reason; change counts and\n\
         # generators, delete the tables that should get no rows. Columns left out get the\n\
         # same suggestion at run time. `restage seed --help` lists the generators.\n\
         seed = 1\n"
    );
    let mut tables: Vec<&Table> = catalog.tables.iter().collect();
    tables.sort_by_key(|t| t.display_name());
    let none = ColumnFacts::default();
    for table in tables {
        let name = table.display_name();
        let _ = write!(
            out,
            "\n[tables.\"{name}\"]\nrows = {rows}\n[tables.\"{name}\".columns]\n"
        );
        for col in &table.columns {
            let info = column_info(table, col, &catalog.types);
            let f = facts.get(&(table.oid, col.name.clone())).unwrap_or(&none);
            let referenced = catalog
                .foreign_keys
                .iter()
                .find(|fk| fk.table == table.oid && fk.columns.contains(&col.name))
                .and_then(|fk| catalog.tables.iter().find(|t| t.oid == fk.referenced_table))
                .map(Table::display_name);
            let key = toml_key(&col.name);
            let line = match suggest(&info, f, referenced.as_deref()) {
                Suggestion::Generate(entry, why) => {
                    let value = toml::Value::Table(entry);
                    format!("{key} = {}  # {why}", inline(&value))
                }
                Suggestion::Database(why) => format!("# {key}: {why}"),
                Suggestion::Impossible(why) => {
                    format!("# {key}: NEEDS A GENERATOR: {why}")
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

fn toml_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        name.to_string()
    } else {
        toml::Value::String(name.to_string()).to_string()
    }
}

/// A TOML value on one line (inline tables).
fn inline(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(t) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        toml::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}
