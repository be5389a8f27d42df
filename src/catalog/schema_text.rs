//! The schema text `pg_dump` copies verbatim, read in the source snapshot: column defaults and
//! generation expressions, view and materialized-view queries, function bodies, CHECK and
//! exclusion constraints (of tables and domains), policies, index and trigger definitions,
//! rewrite rules and, when asked, comments. Objects of extensions are left out: `CREATE
//! EXTENSION` recreates them, their text is not production's.

use tokio_postgres::Client;

use super::CatalogError;

/// What the text is: SQL (an expression, a query, a function body), where only string literals
/// and email-shaped tokens can carry personal values, or prose (a comment), where any token can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Sql,
    Comment,
}

/// One object's text, as the catalog prints it.
#[derive(Debug, Clone)]
pub struct SchemaText {
    /// How the object is named in messages and in a rules file's `[schema] acknowledge`, e.g.
    /// `view public.vip_customers`, `default public.customers.phone`.
    pub object: String,
    pub kind: TextKind,
    pub text: String,
}

/// `n.nspname` is a user schema.
const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

fn not_extension_member(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = \
         'pg_catalog.{catalog}'::pg_catalog.regclass AND d.objid = {oid} AND d.deptype = 'e')"
    )
}

/// Every text of the source's schema that a clone would copy, comments included when
/// `comments` is set.
pub async fn load(client: &Client, comments: bool) -> Result<Vec<SchemaText>, CatalogError> {
    let rel = |alias: &str| {
        format!(
            "pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident({alias}.relname)"
        )
    };
    let mut parts = vec![
        format!(
            "SELECT CASE WHEN a.attgenerated <> '' THEN 'generated column ' ELSE 'default ' END \
             || {r} || '.' || pg_catalog.quote_ident(a.attname), \
             pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) \
             FROM pg_catalog.pg_attrdef ad \
             JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum \
             WHERE {USER_SCHEMA} AND {ext}",
            r = rel("c"),
            ext = not_extension_member("pg_class", "c.oid"),
        ),
        format!(
            "SELECT CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END || {r}, \
             pg_catalog.pg_get_viewdef(c.oid) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('v', 'm') AND {USER_SCHEMA} AND {ext}",
            r = rel("c"),
            ext = not_extension_member("pg_class", "c.oid"),
        ),
        // Aggregates have no body of their own (pg_get_functiondef refuses them).
        format!(
            "SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' ELSE 'function ' END \
             || pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) \
             || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')', \
             pg_catalog.pg_get_functiondef(p.oid) \
             FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             JOIN pg_catalog.pg_language l ON l.oid = p.prolang \
             WHERE p.prokind <> 'a' AND l.lanname NOT IN ('c', 'internal') \
             AND {USER_SCHEMA} AND {ext}",
            ext = not_extension_member("pg_proc", "p.oid"),
        ),
        format!(
            "SELECT 'constraint ' || {r} || '.' || pg_catalog.quote_ident(co.conname), \
             pg_catalog.pg_get_constraintdef(co.oid) \
             FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class c ON c.oid = co.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE co.contype IN ('c', 'x') AND {USER_SCHEMA} AND {ext}",
            r = rel("c"),
            ext = not_extension_member("pg_class", "c.oid"),
        ),
        format!(
            "SELECT 'constraint ' || pg_catalog.quote_ident(n.nspname) || '.' \
             || pg_catalog.quote_ident(t.typname) || '.' || pg_catalog.quote_ident(co.conname), \
             pg_catalog.pg_get_constraintdef(co.oid) \
             FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_type t ON t.oid = co.contypid \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE co.contype = 'c' AND {USER_SCHEMA} AND {ext}",
            ext = not_extension_member("pg_type", "t.oid"),
        ),
        format!(
            "SELECT 'policy ' || {r} || '.' || pg_catalog.quote_ident(pol.polname), \
             pg_catalog.concat_ws(' ', pg_catalog.pg_get_expr(pol.polqual, pol.polrelid), \
             pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid)) \
             FROM pg_catalog.pg_policy pol JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {USER_SCHEMA}",
            r = rel("c"),
        ),
        format!(
            "SELECT 'index ' || {r}, pg_catalog.pg_get_indexdef(i.indexrelid) \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
             WHERE (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL) AND {USER_SCHEMA} AND {ext}",
            r = rel("ic"),
            ext = not_extension_member("pg_class", "i.indrelid"),
        ),
        format!(
            "SELECT 'trigger ' || {r} || '.' || pg_catalog.quote_ident(tg.tgname), \
             pg_catalog.pg_get_triggerdef(tg.oid) \
             FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT tg.tgisinternal AND {USER_SCHEMA} AND {ext}",
            r = rel("c"),
            ext = not_extension_member("pg_class", "c.oid"),
        ),
        format!(
            "SELECT 'rule ' || {r} || '.' || pg_catalog.quote_ident(rw.rulename), \
             pg_catalog.pg_get_ruledef(rw.oid) \
             FROM pg_catalog.pg_rewrite rw JOIN pg_catalog.pg_class c ON c.oid = rw.ev_class \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE rw.rulename <> '_RETURN' AND {USER_SCHEMA} AND {ext}",
            r = rel("c"),
            ext = not_extension_member("pg_class", "c.oid"),
        ),
    ];
    let sql_parts = parts.len();
    if comments {
        // Objects created by users have OIDs from FirstNormalObjectId (16384) on; the built-in
        // ones' descriptions are PostgreSQL's documentation, not production's.
        parts.push(
            "SELECT 'comment on ' || o.type || ' ' || o.identity, d.description \
             FROM pg_catalog.pg_description d CROSS JOIN LATERAL \
             pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o \
             WHERE d.objoid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e \
             WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')"
                .to_string(),
        );
    }
    let mut out = Vec::new();
    for (n, query) in parts.iter().enumerate() {
        let kind = if n < sql_parts {
            TextKind::Sql
        } else {
            TextKind::Comment
        };
        for row in client.query(query.as_str(), &[]).await? {
            let object: String = row.get(0);
            let text: Option<String> = row.get(1);
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                out.push(SchemaText { object, kind, text });
            }
        }
    }
    Ok(out)
}

/// Which of `candidates` equal a value of one of `columns` (SQL expressions over `table`, e.g.
/// `"email"`) in the snapshot, as `(index into columns, candidate)`: one scan of the table,
/// joined by hash against the candidates, so only matching candidates (which come from the
/// schema text) come back, never other production values.
pub async fn values_present(
    client: &Client,
    table: &str,
    columns: &[String],
    candidates: &[String],
) -> Result<Vec<(usize, String)>, CatalogError> {
    if columns.is_empty() || candidates.is_empty() {
        return Ok(Vec::new());
    }
    let values = columns
        .iter()
        .enumerate()
        .map(|(n, c)| format!("({n}, {c}::pg_catalog.text)"))
        .collect::<Vec<_>>()
        .join(", ");
    let query = format!(
        "SELECT DISTINCT x.n, x.v FROM ONLY {table} CROSS JOIN LATERAL (VALUES {values}) AS x(n, v) \
         WHERE x.v IN (SELECT pg_catalog.unnest($1::pg_catalog.text[]))"
    );
    let rows = client.query(query.as_str(), &[&candidates]).await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let n: i32 = r.get(0);
            usize::try_from(n).ok().map(|n| (n, r.get(1)))
        })
        .collect())
}
