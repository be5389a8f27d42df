//! The `pg_catalog` queries. They run inside the source's snapshot transaction, so the model
//! matches the data and the schema dump exactly.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use super::fidelity::Fidelity;
use super::types::{TypeCatalog, TypeInfo};
use super::{
    CatalogError, Column, Constraint, ForeignKey, MatView, Sequence, SourceCatalog, Table,
};

/// Schemas that are never user data.
pub(super) const USER_NAMESPACE: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// Objects that belong to an extension are recreated by `CREATE EXTENSION`, not copied.
pub(super) fn not_extension_member(catalog: &str, oid_expr: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = \
         'pg_catalog.{catalog}'::pg_catalog.regclass AND d.objid = {oid_expr} AND d.deptype = 'e')"
    )
}

/// Reads everything the clone needs from the source.
pub async fn load(client: &Client) -> Result<SourceCatalog, CatalogError> {
    let version: String = client
        .query_one("SHOW server_version_num", &[])
        .await?
        .get(0);
    let server_version_num = version
        .trim()
        .parse()
        .map_err(|_| CatalogError::Unexpected(format!("server_version_num {version:?}")))?;
    let mut catalog = SourceCatalog {
        server_version_num,
        types: load_types(client).await?,
        ..SourceCatalog::default()
    };
    catalog.fidelity = Fidelity::load(client, server_version_num).await?;
    catalog.tables = load_tables(client, &catalog.types, &catalog.fidelity.text_only).await?;
    catalog.sequences = load_sequences(client).await?;
    catalog.matviews = load_matviews(client).await?;
    load_index_owners_and_constraints(client, &mut catalog).await?;
    load_uncopyable(client, &mut catalog).await?;
    load_keys_and_partitions(client, &mut catalog).await?;
    Ok(catalog)
}

async fn load_tables(
    client: &Client,
    types: &TypeCatalog,
    text_only: &HashSet<u32>,
) -> Result<Vec<Table>, CatalogError> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relpersistence = 'u', \
                pg_catalog.pg_relation_size(c.oid), c.relpages::int8, \
                GREATEST(c.reltuples, 0)::int8 \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND {USER_NAMESPACE} AND {} \
         ORDER BY 5 DESC, 2, 3",
        not_extension_member("pg_class", "c.oid")
    );
    let mut tables: Vec<Table> = client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| Table {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            unlogged: r.get(3),
            bytes: r.get::<_, i64>(4).max(0) as u64,
            pages: r.get::<_, i64>(5).max(0) as u64,
            estimated_rows: r.get::<_, i64>(6).max(0) as u64,
            columns: Vec::new(),
            references: Vec::new(),
            partition_root: None,
            primary_key: Vec::new(),
        })
        .collect();
    let index: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();

    // Generated columns are computed by the target; sending them would be an error.
    let columns = client
        .query(
            "SELECT a.attrelid, a.attname::text, a.atttypid, \
                    pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atttypmod, \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid \
                            AND i.indisunique AND a.attnum = ANY (i.indkey)) \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid AND c.relkind = 'r' \
             WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' \
             ORDER BY a.attrelid, a.attnum",
            &[],
        )
        .await?;
    for r in &columns {
        let relid: u32 = r.get(0);
        if let Some(&i) = index.get(&relid) {
            let type_oid: u32 = r.get(2);
            tables[i].columns.push(Column {
                name: r.get(1),
                type_oid,
                type_name: r.get(3),
                not_null: r.get(4),
                embeds_user_oids: types.embeds_user_oids(type_oid),
                needs_text: text_only.contains(&type_oid),
                typmod: r.get(5),
                unique: r.get(6),
            });
        }
    }

    let fks = client
        .query(
            "SELECT conrelid, confrelid FROM pg_catalog.pg_constraint WHERE contype = 'f'",
            &[],
        )
        .await?;
    for r in &fks {
        let (from, to): (u32, u32) = (r.get(0), r.get(1));
        if let Some(&i) = index.get(&from) {
            if !tables[i].references.contains(&to) {
                tables[i].references.push(to);
            }
        }
    }
    Ok(tables)
}

/// The sequences the role can read. Those it cannot are left out here, so that commands that
/// never set sequences work without the grant; `clone` and `snapshot` refuse such a role up
/// front (see [`super::access`]), naming each one.
async fn load_sequences(client: &Client) -> Result<Vec<Sequence>, CatalogError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'S' AND c.relpersistence <> 't' AND {USER_NAMESPACE} AND {} \
           AND pg_catalog.has_schema_privilege(n.oid, 'USAGE') \
           AND pg_catalog.has_table_privilege(c.oid, 'SELECT') \
         ORDER BY 1, 2",
        not_extension_member("pg_class", "c.oid")
    );
    let names = client.query(&sql, &[]).await?;
    let mut sequences = Vec::with_capacity(names.len());
    for r in &names {
        let mut seq = Sequence {
            schema: r.get(0),
            name: r.get(1),
            last_value: 0,
            is_called: false,
        };
        let row = client
            .query_one(
                &format!("SELECT last_value, is_called FROM {}", seq.qualified()),
                &[],
            )
            .await?;
        seq.last_value = row.get(0);
        seq.is_called = row.get(1);
        sequences.push(seq);
    }
    Ok(sequences)
}

async fn load_matviews(client: &Client) -> Result<Vec<MatView>, CatalogError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, c.relispopulated \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'm' AND {USER_NAMESPACE} AND {} ORDER BY c.oid",
        not_extension_member("pg_class", "c.oid")
    );
    Ok(client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| MatView {
            schema: r.get(0),
            name: r.get(1),
            populated: r.get(2),
        })
        .collect())
}

async fn load_index_owners_and_constraints(
    client: &Client,
    catalog: &mut SourceCatalog,
) -> Result<(), CatalogError> {
    for r in client
        .query("SELECT indexrelid, indrelid FROM pg_catalog.pg_index", &[])
        .await?
    {
        catalog.index_tables.insert(r.get(0), r.get(1));
    }
    // Primary key / unique constraints on plain tables can be split into a parallel-friendly
    // CREATE UNIQUE INDEX plus an instant ADD CONSTRAINT … USING INDEX; on partitions and
    // partitioned tables the constraint is replayed as dumped, and so is one whose index method
    // cannot build a unique index on its own (PostgreSQL 18's temporal keys, `WITHOUT
    // OVERLAPS`, are GiST indexes that only the constraint makes unique).
    for r in client
        .query(
            "SELECT co.oid, co.conname::text, co.conrelid, co.contype::text, co.confrelid, \
                    CASE WHEN co.contype IN ('p', 'u') AND c.relkind = 'r' \
                              AND NOT c.relispartition AND co.conparentid = 0 \
                              AND pg_catalog.pg_indexam_has_property( \
                                  (SELECT ic.relam FROM pg_catalog.pg_class ic \
                                   WHERE ic.oid = co.conindid), 'can_unique') \
                         THEN pg_catalog.pg_get_indexdef(co.conindid) END, \
                    co.condeferrable, co.condeferred \
             FROM pg_catalog.pg_constraint co \
             JOIN pg_catalog.pg_class c ON c.oid = co.conrelid",
            &[],
        )
        .await?
    {
        let kind: String = r.get(3);
        catalog.constraints.insert(
            r.get(0),
            Constraint {
                name: r.get(1),
                table: r.get(2),
                kind: kind.chars().next().unwrap_or('?'),
                referenced: r.get(4),
                index_def: r.get(5),
                deferrable: r.get(6),
                initially_deferred: r.get(7),
            },
        );
    }
    Ok(())
}

async fn load_uncopyable(client: &Client, catalog: &mut SourceCatalog) -> Result<(), CatalogError> {
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata",
            &[],
        )
        .await?
        .get(0);
    catalog.large_object_count = count.max(0) as u64;
    if count > 0 {
        catalog.large_objects = client
            .query(
                "SELECT oid FROM pg_catalog.pg_largeobject_metadata ORDER BY oid LIMIT 20",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    }
    let sql = format!(
        "SELECT n.nspname || '.' || c.relname \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'f' AND {USER_NAMESPACE} ORDER BY 1"
    );
    catalog.foreign_tables = client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(())
}

async fn load_types(client: &Client) -> Result<TypeCatalog, CatalogError> {
    // Built-in array types are needed too: a composite's field may be `int4[]`, and the walker
    // must know that OID 1007 is an array to look inside it.
    let rows = client
        .query(
            "SELECT t.oid, n.nspname::text, t.typname::text, t.typtype::text, \
                    t.typcategory = 'A', t.typelem, t.typbasetype, t.typrelid \
             FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.oid >= 16384 OR t.typcategory = 'A'",
            &[],
        )
        .await?;
    let mut types = TypeCatalog::default();
    let mut relid_to_type = HashMap::new();
    for r in &rows {
        let oid: u32 = r.get(0);
        let typtype: String = r.get(3);
        let relid: u32 = r.get(7);
        if typtype == "c" && relid != 0 {
            relid_to_type.insert(relid, oid);
        }
        types.insert(
            oid,
            TypeInfo {
                schema: r.get(1),
                name: r.get(2),
                is_array: r.get(4),
                is_composite: typtype == "c",
                is_domain: typtype == "d",
                is_enum: typtype == "e",
                elem: r.get(5),
                base: r.get(6),
                fields: Vec::new(),
            },
        );
    }
    // Fields of user-defined composite types (including tables' row types), in the order
    // record_send writes them: dropped attributes are skipped.
    let fields = client
        .query(
            "SELECT a.attrelid, a.atttypid, a.attname::text FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_type t ON t.typrelid = a.attrelid AND t.typtype = 'c' \
             WHERE t.oid >= 16384 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum",
            &[],
        )
        .await?;
    for r in &fields {
        let relid: u32 = r.get(0);
        if let Some(type_oid) = relid_to_type.get(&relid) {
            types.push_named_field(*type_oid, r.get(2), r.get(1));
        }
    }
    Ok(types)
}

/// Column-level foreign keys, primary keys, partitioned tables and each partition's root.
async fn load_keys_and_partitions(
    client: &Client,
    catalog: &mut SourceCatalog,
) -> Result<(), CatalogError> {
    // Column names of a constraint's key, in key order.
    const COLUMNS: &str =
        "ARRAY(SELECT a.attname::text FROM unnest({key}) WITH ORDINALITY k(n, o) \
                           JOIN pg_catalog.pg_attribute a \
                           ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.o)";
    let columns = |key: &str, rel: &str| COLUMNS.replace("{key}", key).replace("{rel}", rel);
    let sql = format!(
        "SELECT co.conrelid, co.confrelid, {}, {} \
         FROM pg_catalog.pg_constraint co WHERE co.contype = 'f'",
        columns("co.conkey", "co.conrelid"),
        columns("co.confkey", "co.confrelid")
    );
    for r in client.query(&sql, &[]).await? {
        catalog.foreign_keys.push(ForeignKey {
            table: r.get(0),
            referenced_table: r.get(1),
            columns: r.get(2),
            referenced_columns: r.get(3),
        });
    }
    let sql = format!(
        "SELECT co.conrelid, {} FROM pg_catalog.pg_constraint co WHERE co.contype = 'p'",
        columns("co.conkey", "co.conrelid")
    );
    let keys: HashMap<u32, Vec<String>> = client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for table in &mut catalog.tables {
        if let Some(k) = keys.get(&table.oid) {
            table.primary_key = k.clone();
        }
    }
    for r in client
        .query(
            "SELECT c.oid, n.nspname::text || '.' || c.relname::text \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'p'",
            &[],
        )
        .await?
    {
        catalog.partitioned.insert(r.get(0), r.get(1));
    }
    // Each partition's root: walk pg_inherits up while the parent is partitioned.
    let parents: HashMap<u32, u32> = client
        .query(
            "SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i \
             JOIN pg_catalog.pg_class p ON p.oid = i.inhparent AND p.relkind = 'p'",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for table in &mut catalog.tables {
        let mut oid = table.oid;
        let mut depth = 0;
        while let Some(&parent) = parents.get(&oid) {
            oid = parent;
            depth += 1;
            if depth > 64 {
                break;
            }
        }
        if oid != table.oid {
            table.partition_root = catalog.partitioned.get(&oid).cloned();
        }
    }
    Ok(())
}

/// What the target database holds before a clone, to refuse overwriting it.
#[derive(Debug, Clone, Default)]
pub struct TargetState {
    /// Up to 50 user objects, described as `kind schema.name`.
    pub objects: Vec<String>,
    pub object_count: u64,
    /// `COMMENT ON DATABASE` (restage records an incomplete clone there).
    pub comment: Option<String>,
    pub server_version_num: u32,
}

/// Lists user objects in the target (relations, types, functions, non-default schemas).
pub async fn target_state(client: &Client) -> Result<TargetState, CatalogError> {
    target_state_in(client, &[]).await
}

/// [`target_state`] limited to `schemas` (none: every schema); the schemas themselves may
/// exist, empty (a platform's database where the application's schema was provisioned).
pub async fn target_state_in(
    client: &Client,
    schemas: &[String],
) -> Result<TargetState, CatalogError> {
    let in_schemas = if schemas.is_empty() {
        "true".to_owned()
    } else {
        "nsp = ANY($1::text[]) AND what NOT LIKE 'schema %'".to_owned()
    };
    let sql = format!(
        "WITH objs AS ( \
           SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' \
                  WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' \
                  WHEN 'f' THEN 'foreign table' ELSE 'relation' END || ' ' \
                  || n.nspname || '.' || c.relname AS what, n.nspname AS nsp \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.relkind IN ('r','p','v','m','S','f') AND {USER_NAMESPACE} \
           UNION ALL \
           SELECT 'type ' || n.nspname || '.' || t.typname, n.nspname \
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
           WHERE t.typtype IN ('e','d','r','m') AND {USER_NAMESPACE} AND {ext_type} \
           UNION ALL \
           SELECT 'function ' || n.nspname || '.' || p.proname, n.nspname \
           FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
           WHERE {USER_NAMESPACE} AND {ext_proc} \
           UNION ALL \
           SELECT 'schema ' || n.nspname, n.nspname FROM pg_catalog.pg_namespace n \
           WHERE {USER_NAMESPACE} AND n.nspname <> 'public' AND {ext_ns} \
         ) SELECT what, count(*) OVER () FROM objs WHERE {in_schemas} ORDER BY what LIMIT 50",
        ext_type = not_extension_member("pg_type", "t.oid"),
        ext_proc = not_extension_member("pg_proc", "p.oid"),
        ext_ns = not_extension_member("pg_namespace", "n.oid"),
    );
    let rows = if schemas.is_empty() {
        client.query(&sql, &[]).await?
    } else {
        client.query(&sql, &[&schemas]).await?
    };
    let comment = client
        .query_one(
            "SELECT pg_catalog.shobj_description(d.oid, 'pg_database') \
             FROM pg_catalog.pg_database d WHERE d.datname = current_database()",
            &[],
        )
        .await?
        .get(0);
    let version: String = client
        .query_one("SHOW server_version_num", &[])
        .await?
        .get(0);
    Ok(TargetState {
        object_count: rows.first().map(|r| r.get::<_, i64>(1) as u64).unwrap_or(0),
        objects: rows.iter().map(|r| r.get(0)).collect(),
        comment,
        server_version_num: version.trim().parse().unwrap_or(0),
    })
}
