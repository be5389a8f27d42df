//! Types whose binary COPY form does not survive a copy into another database, found in the
//! source's catalog. A table with a column of such a type (directly or inside an array, domain,
//! composite, range or multirange) is copied in text form instead.

use std::collections::HashSet;

use tokio_postgres::Client;

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

/// OIDs of every type, built-in or user-defined, whose values must travel as text: the base
/// types above, base types without binary send or receive functions (`aclitem`), and every type
/// built on one of them.
pub async fn text_only_types(
    client: &Client,
    server_version_num: u32,
) -> Result<HashSet<u32>, tokio_postgres::Error> {
    // pg_range.rngmultitypid exists from PostgreSQL 14 on (multiranges).
    let multiranges = if server_version_num >= 140000 {
        "UNION ALL SELECT r.rngmultitypid, r.rngtypid FROM pg_catalog.pg_range r"
    } else {
        ""
    };
    let names = NOT_PORTABLE
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
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
         ), textual(oid) AS ( \
           SELECT t.oid FROM pg_catalog.pg_type t \
           WHERE t.typtype = 'b' AND (t.typsend::pg_catalog.oid = 0 OR t.typreceive::pg_catalog.oid = 0 \
                 OR (t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace \
                     AND t.typname IN ({names}))) \
           UNION \
           SELECT c.outer_type FROM contains c JOIN textual x ON x.oid = c.inner_type \
         ) SELECT oid FROM textual"
    );
    Ok(client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}
