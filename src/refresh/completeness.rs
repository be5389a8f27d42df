//! Every constraint and index of the source is on the copy, and valid there when it is valid
//! on the source (`pg_constraint.convalidated`, `pg_index.indisvalid`).

use std::collections::BTreeMap;

use tokio_postgres::Client;

const OBJECTS: &str = "\
WITH user_ns AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema')
    AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
)
SELECT format('%s.%s constraint %s', n.nspname, c.relname, k.conname), k.convalidated
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN user_ns n ON n.oid = c.relnamespace
UNION ALL
SELECT format('%s.%s index %s', n.nspname, t.relname, i.relname), x.indisvalid
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN user_ns n ON n.oid = t.relnamespace";

async fn objects(client: &Client) -> Result<BTreeMap<String, bool>, tokio_postgres::Error> {
    let rows = client.query(OBJECTS, &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// What the copy lacks: missing objects, and objects invalid on the copy but valid on the
/// source. Empty when complete.
pub async fn missing(source: &Client, copy: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let wanted = objects(source).await?;
    let have = objects(copy).await?;
    Ok(wanted
        .iter()
        .filter_map(|(name, valid)| match have.get(name) {
            None => Some(format!("{name} is missing")),
            Some(false) if *valid => Some(format!("{name} is not valid")),
            Some(_) => None,
        })
        .collect())
}
