//! Types whose binary COPY form does not survive a copy into another database, found in the
//! source's catalog. A table with a column of such a type (directly or inside an array, domain,
//! composite, range or multirange) is copied in text form instead; for tsquery, whose binary
//! form fails only for the empty query, only a table that holds one. Values that no database
//! accepts back at all are found here too, so that they are refused before anything is written.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use super::{quote_ident, CopyFormat, Table};

/// Built-in types whose binary form is wrong on another database although it loads:
/// the object-identifier aliases travel as bare OIDs (a table named `misc` would arrive as
/// the number `17597`, pointing at nothing or at something else), while their text form is
/// the object's name.
const NOT_PORTABLE: &[&str] = &[
    "regclass",
    "regcollation",
    "regconfig",
    "regdictionary",
    "regnamespace",
    "regoper",
    "regoperator",
    "regproc",
    "regprocedure",
    "regrole",
    "regtype",
];

/// `tsquery`'s binary receive rejects the empty query that its send writes; every other
/// tsquery survives. A column of it (or of a domain over it, or an array of either) is
/// therefore checked for empty queries in the snapshot and copied as text only if it holds
/// one; other types containing it (composites, ranges) always travel as text.
const EMPTY_TSQUERY: &[&str] = &["tsquery"];

/// Built-in types whose input and receive functions accept no value at all: only the server
/// makes them (planner statistics, stored expressions, index internals). A column of such a
/// type can be copied while it holds only NULLs; a value in it cannot be loaded anywhere.
const UNLOADABLE: &[&str] = &[
    "gtsvector",
    "pg_brin_bloom_summary",
    "pg_brin_minmax_multi_summary",
    "pg_dependencies",
    "pg_mcv_list",
    "pg_ndistinct",
    "pg_node_tree",
];

/// What the source's catalog says about values that the binary form does not carry.
#[derive(Debug, Clone, Default)]
pub struct Fidelity {
    /// Types whose values always travel as text: the `reg*` types, base types without binary
    /// send or receive functions (`aclitem`), and every type built on one of them.
    pub text_only: HashSet<u32>,
    /// Types that travel as text only when a value is an empty tsquery, and whether each is an
    /// array.
    pub tsquery: HashMap<u32, bool>,
    /// Types whose values cannot be loaded into any database, and whether each is an array.
    pub unloadable: HashMap<u32, bool>,
}

impl Fidelity {
    pub async fn load(
        client: &Client,
        server_version_num: u32,
    ) -> Result<Fidelity, tokio_postgres::Error> {
        let bases = format!(
            "t.typsend::pg_catalog.oid = 0 OR t.typreceive::pg_catalog.oid = 0 OR {}",
            builtin_named(NOT_PORTABLE)
        );
        let mut text_only = types_built_on(client, server_version_num, &bases).await?;
        let tsquery = scalars_and_arrays(client, EMPTY_TSQUERY).await?;
        let tsquery_deep =
            types_built_on(client, server_version_num, &builtin_named(EMPTY_TSQUERY)).await?;
        text_only.extend(
            tsquery_deep
                .into_iter()
                .filter(|oid| !tsquery.contains_key(oid)),
        );
        Ok(Fidelity {
            text_only,
            tsquery,
            unloadable: scalars_and_arrays(client, UNLOADABLE).await?,
        })
    }
}

/// The built-in base types `names`, domains over them (`false`) and arrays of either (`true`).
async fn scalars_and_arrays(
    client: &Client,
    names: &[&str],
) -> Result<HashMap<u32, bool>, tokio_postgres::Error> {
    let named = builtin_named(names);
    let sql = format!(
        "WITH scalar AS ( \
           SELECT t.oid, t.typarray FROM pg_catalog.pg_type t \
           WHERE t.typtype = 'b' AND {named} \
           UNION SELECT d.oid, d.typarray FROM pg_catalog.pg_type d \
           JOIN pg_catalog.pg_type t ON t.oid = d.typbasetype \
           WHERE d.typtype = 'd' AND t.typtype = 'b' AND {named} \
         ) SELECT oid, false FROM scalar \
           UNION ALL SELECT typarray, true FROM scalar WHERE typarray <> 0"
    );
    Ok(client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

fn builtin_named(names: &[&str]) -> String {
    let names = names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("(t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace AND t.typname IN ({names}))")
}

/// The base types matching `base_condition` (over `pg_type t`) and every type that holds
/// values of one of them.
async fn types_built_on(
    client: &Client,
    server_version_num: u32,
    base_condition: &str,
) -> Result<HashSet<u32>, tokio_postgres::Error> {
    // pg_range.rngmultitypid exists from PostgreSQL 14 on (multiranges).
    let multiranges = if server_version_num >= 140000 {
        "UNION ALL SELECT r.rngmultitypid, r.rngtypid FROM pg_catalog.pg_range r"
    } else {
        ""
    };
    // `contains(outer, inner)`: a value of `outer` holds values of `inner` (array elements,
    // a domain's base, composite fields, a range's subtype, a multirange's range).
    let sql = format!(
        "WITH RECURSIVE contains(outer_type, inner_type) AS ( \
           SELECT t.oid, t.typelem FROM pg_catalog.pg_type t WHERE t.typelem <> 0 \
           UNION ALL SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t WHERE t.typtype = 'd' \
           UNION ALL SELECT t.oid, a.atttypid FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid \
             WHERE t.typtype = 'c' AND a.attnum > 0 AND NOT a.attisdropped \
           UNION ALL SELECT r.rngtypid, r.rngsubtype FROM pg_catalog.pg_range r \
           {multiranges} \
         ), found(oid) AS ( \
           SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typtype = 'b' AND ({base_condition}) \
           UNION \
           SELECT c.outer_type FROM contains c JOIN found x ON x.oid = c.inner_type \
         ) SELECT oid FROM found"
    );
    Ok(client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// `schema.table.column (type)` of every column of `tables` that holds a value no database
/// accepts back (read in the caller's snapshot).
pub async fn unloadable_values(
    client: &Client,
    tables: &[Table],
    fidelity: &Fidelity,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let found = columns_holding(client, tables, &fidelity.unloadable, |v| {
        format!("{v} IS NOT NULL")
    })
    .await?;
    Ok(found
        .into_iter()
        .map(|(t, c)| {
            let (table, column) = (&tables[t], &tables[t].columns[c]);
            format!(
                "{}.{} ({})",
                table.display_name(),
                column.name,
                column.type_name
            )
        })
        .collect())
}

/// Decides the copy format of `tables` from their values: a column holding an empty tsquery
/// travels as text. A table in text form embeds no type OIDs to rewrite.
pub async fn settle_copy_formats(
    client: &Client,
    tables: &mut [Table],
    fidelity: &Fidelity,
) -> Result<(), tokio_postgres::Error> {
    let empty = columns_holding(client, tables, &fidelity.tsquery, |v| {
        format!("pg_catalog.numnode({v}) = 0")
    })
    .await?;
    for (t, c) in empty {
        tables[t].columns[c].needs_text = true;
    }
    for table in tables.iter_mut() {
        if table.copy_format() == CopyFormat::Text {
            for c in &mut table.columns {
                c.embeds_user_oids = false;
            }
        }
    }
    Ok(())
}

/// (table, column) indexes of the columns whose type is in `types` and where some row's
/// value (or, for arrays, some element) satisfies `holds(value)`.
async fn columns_holding(
    client: &Client,
    tables: &[Table],
    types: &HashMap<u32, bool>,
    holds: impl Fn(&str) -> String,
) -> Result<Vec<(usize, usize)>, tokio_postgres::Error> {
    let mut found = Vec::new();
    for (t, table) in tables.iter().enumerate() {
        for (c, column) in table.columns.iter().enumerate() {
            let Some(&is_array) = types.get(&column.type_oid) else {
                continue;
            };
            let col = quote_ident(&column.name);
            let condition = if is_array {
                format!(
                    "EXISTS (SELECT 1 FROM pg_catalog.unnest({col}) e WHERE {})",
                    holds("e")
                )
            } else {
                holds(&col)
            };
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM ONLY {} WHERE {condition})",
                table.qualified()
            );
            if client.query_one(&sql, &[]).await?.get(0) {
                found.push((t, c));
            }
        }
    }
    Ok(found)
}
