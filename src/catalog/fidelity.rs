//! Types whose binary COPY form does not survive a copy into another database, found in the
//! source's catalog. A table with a column of such a type (directly or inside an array, domain,
//! composite, range or multirange) is copied in text form instead.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use super::{quote_ident, Table};

/// Built-in types whose binary form is wrong on another database although it loads:
/// the object-identifier aliases travel as bare OIDs (a table named `misc` would arrive as
/// the number `17597`, pointing at nothing or at something else), while their text form is
/// the object's name. `tsquery`'s binary receive rejects the empty query that its send writes.
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
    "tsquery",
];

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

/// OIDs of every type, built-in or user-defined, whose values must travel as text: the base
/// types above, base types without binary send or receive functions (`aclitem`), and every type
/// built on one of them.
pub async fn text_only_types(
    client: &Client,
    server_version_num: u32,
) -> Result<HashSet<u32>, tokio_postgres::Error> {
    let bases = format!(
        "t.typsend::pg_catalog.oid = 0 OR t.typreceive::pg_catalog.oid = 0 OR {}",
        builtin_named(NOT_PORTABLE)
    );
    types_built_on(client, server_version_num, &bases).await
}

/// Types whose values cannot be loaded into any database: the base types above and domains
/// over them (`false`), and arrays of either (`true`: only a non-NULL element counts, an empty
/// array or one of NULLs loads fine).
pub async fn unloadable_types(
    client: &Client,
) -> Result<HashMap<u32, bool>, tokio_postgres::Error> {
    let sql = format!(
        "WITH scalar AS ( \
           SELECT t.oid, t.typarray FROM pg_catalog.pg_type t \
           WHERE t.typtype = 'b' AND {} \
           UNION SELECT d.oid, d.typarray FROM pg_catalog.pg_type d \
           JOIN pg_catalog.pg_type t ON t.oid = d.typbasetype \
           WHERE d.typtype = 'd' AND t.typtype = 'b' AND {} \
         ) SELECT oid, false FROM scalar \
           UNION ALL SELECT typarray, true FROM scalar WHERE typarray <> 0",
        builtin_named(UNLOADABLE),
        builtin_named(UNLOADABLE)
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

/// `schema.table.column (type)` of every column of `tables` whose type is in `unloadable` and
/// that holds a value (read in the caller's snapshot).
pub async fn unloadable_values(
    client: &Client,
    tables: &[Table],
    unloadable: &HashMap<u32, bool>,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let mut found = Vec::new();
    for table in tables {
        for column in &table.columns {
            let Some(&is_array) = unloadable.get(&column.type_oid) else {
                continue;
            };
            let col = quote_ident(&column.name);
            let holds_value = if is_array {
                format!("EXISTS (SELECT 1 FROM pg_catalog.unnest({col}) e WHERE e IS NOT NULL)")
            } else {
                format!("{col} IS NOT NULL")
            };
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM ONLY {} WHERE {holds_value})",
                table.qualified()
            );
            let has_value: bool = client.query_one(&sql, &[]).await?.get(0);
            if has_value {
                found.push(format!(
                    "{}.{} ({})",
                    table.display_name(),
                    column.name,
                    column.type_name
                ));
            }
        }
    }
    Ok(found)
}
