//! What a privilege statement promises, read back from the catalogs. PostgreSQL only warns
//! when a GRANT or REVOKE comes from a role that neither owns the object nor holds the grant
//! option ("no privileges could be revoked"), so a statement that succeeded proves nothing:
//! every effect provisioning reports is checked here after its statements ran, and the same
//! queries decide what to plan in the first place.

use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Client;

use super::{ident, q, Db, PgError};

/// One promised state of the catalogs.
#[derive(Debug, Clone)]
pub(super) enum Effect {
    /// Whether PUBLIC holds CONNECT on `db`.
    PublicConnect {
        db: String,
        allowed: bool,
    },
    /// Whether `role` may connect to `db` (directly, through PUBLIC or an inherited role).
    Connect {
        role: String,
        db: String,
        allowed: bool,
    },
    /// The admin role acts for `role` (`check`: the `pg_has_role` privilege, MEMBER or SET).
    ActsFor {
        role: String,
        check: &'static str,
    },
    SchemaUsage {
        schema: String,
        role: String,
    },
    /// PUBLIC may not create objects in `schema` (PostgreSQL 14 and older allow it in
    /// `public` by default).
    NoPublicCreate {
        schema: String,
    },
    /// `privileges` on every existing relation of `kind` in `schema`.
    Relations {
        kind: Relkind,
        schema: String,
        role: String,
        privileges: &'static [&'static str],
    },
    /// `owner`'s default privileges in `schema` give `role` `privileges` on new `kind`s.
    DefaultPrivileges {
        kind: Relkind,
        schema: String,
        owner: String,
        role: String,
        privileges: &'static [&'static str],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relkind {
    Tables,
    Sequences,
}

impl Relkind {
    /// The SQL keyword (`ON ALL TABLES`, `ON TABLES`).
    pub(super) fn keyword(self) -> &'static str {
        match self {
            Relkind::Tables => "TABLES",
            Relkind::Sequences => "SEQUENCES",
        }
    }

    pub(super) fn noun(self) -> &'static str {
        match self {
            Relkind::Tables => "table(s)",
            Relkind::Sequences => "sequence(s)",
        }
    }
}

impl Effect {
    /// Which connection can read the catalogs this effect lives in.
    pub(super) fn db(&self) -> Db {
        match self {
            Effect::PublicConnect { .. } | Effect::Connect { .. } | Effect::ActsFor { .. } => {
                Db::Admin
            }
            Effect::SchemaUsage { .. }
            | Effect::NoPublicCreate { .. }
            | Effect::Relations { .. }
            | Effect::DefaultPrivileges { .. } => Db::Staging,
        }
    }

    /// The statement that brings this effect about, for the role that can run it.
    pub(super) fn statement(&self) -> String {
        match self {
            Effect::PublicConnect { db, allowed } => format!(
                "{} CONNECT ON DATABASE {} {} PUBLIC",
                if *allowed { "GRANT" } else { "REVOKE" },
                ident(db),
                if *allowed { "TO" } else { "FROM" }
            ),
            Effect::Connect { role, db, allowed } => format!(
                "{} CONNECT ON DATABASE {} {} {}",
                if *allowed { "GRANT" } else { "REVOKE" },
                ident(db),
                if *allowed { "TO" } else { "FROM" },
                ident(role)
            ),
            Effect::ActsFor { role, .. } => format!("GRANT {} TO CURRENT_USER", ident(role)),
            Effect::SchemaUsage { schema, role } => {
                format!("GRANT USAGE ON SCHEMA {} TO {}", ident(schema), ident(role))
            }
            Effect::NoPublicCreate { schema } => {
                format!("REVOKE CREATE ON SCHEMA {} FROM PUBLIC", ident(schema))
            }
            Effect::Relations {
                kind,
                schema,
                role,
                privileges,
            } => format!(
                "GRANT {} ON ALL {} IN SCHEMA {} TO {}",
                privileges.join(", "),
                kind.keyword(),
                ident(schema),
                ident(role)
            ),
            Effect::DefaultPrivileges {
                kind,
                schema,
                owner,
                role,
                privileges,
            } => format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON {} TO {}",
                ident(owner),
                ident(schema),
                privileges.join(", "),
                kind.keyword(),
                ident(role)
            ),
        }
    }

    /// `None` when the effect holds, otherwise what is still the case instead.
    pub(super) async fn unmet(&self, c: &Client) -> Result<Option<Unmet>, PgError> {
        let plain = |what: String| Unmet { what, owner: None };
        Ok(match self {
            Effect::PublicConnect { db, allowed } => {
                match (public_connect_grantors(c, db).await?, allowed) {
                    (Some(by), false) => Some(Unmet {
                        what: format!(
                            "PUBLIC (every role) may still connect to {db} (granted by {by})"
                        ),
                        owner: Some(by),
                    }),
                    (None, true) => Some(plain(format!("PUBLIC may not connect to {db}"))),
                    _ => None,
                }
            }
            Effect::Connect { role, db, allowed } => {
                let has = may_connect(c, role, db).await?;
                (has != *allowed).then(|| {
                    plain(if has {
                        format!("{role} may still connect to {db}")
                    } else {
                        format!("{role} may not connect to {db}")
                    })
                })
            }
            Effect::ActsFor { role, check } => (!acts_for(c, role, check).await?)
                .then(|| plain(format!("the admin role is not a member of {role}"))),
            Effect::SchemaUsage { schema, role } => {
                if schema_usage(c, schema, role).await? {
                    None
                } else {
                    Some(Unmet {
                        what: format!("{role} has no USAGE on schema {schema}"),
                        owner: schema_owner(c, schema).await?,
                    })
                }
            }
            Effect::NoPublicCreate { schema } => {
                if public_creates(c, schema).await? {
                    Some(Unmet {
                        what: format!("PUBLIC (every role) may still create in schema {schema}"),
                        owner: schema_owner(c, schema).await?,
                    })
                } else {
                    None
                }
            }
            Effect::Relations {
                kind,
                schema,
                role,
                privileges,
            } => {
                let (missing, owners) = missing_on(c, *kind, schema, role, privileges).await?;
                (missing > 0).then(|| Unmet {
                    what: format!(
                        "{missing} {} in {schema} (owned by {owners}) still lack {} for {role}",
                        kind.noun(),
                        privileges.join(", ")
                    ),
                    owner: Some(owners),
                })
            }
            Effect::DefaultPrivileges {
                kind,
                schema,
                owner,
                role,
                privileges,
            } => {
                (!default_privileges(c, *kind, schema, owner, role, privileges).await?).then(|| {
                    plain(format!(
                        "new {} {owner} creates in {schema} would not give {role} {}",
                        kind.keyword().to_lowercase(),
                        privileges.join(", ")
                    ))
                })
            }
        })
    }
}

/// An effect that does not hold: what is the case instead, and who could change it when
/// that is not the step's owner.
pub(super) struct Unmet {
    pub(super) what: String,
    pub(super) owner: Option<String>,
}

async fn schema_owner(c: &Client, schema: &str) -> Result<Option<String>, PgError> {
    Ok(c.query_opt(
        "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1",
        &[&schema],
    )
    .await
    .map_err(q("reading schemas"))?
    .map(|r| r.get(0)))
}

/// The owner of `schema` when the admin role cannot grant on it: it neither acts for the
/// owner (the staging owner and `pg_database_owner` count as acted for once the membership
/// and database steps ran) nor holds the grant option.
pub(super) async fn schema_beyond_admin(
    c: &Client,
    schema: &str,
    owner: &str,
) -> Result<Option<String>, PgError> {
    Ok(c.query_opt(
        "SELECT pg_get_userbyid(n.nspowner)::text FROM pg_namespace n \
             WHERE n.nspname = $1 \
               AND pg_get_userbyid(n.nspowner)::text NOT IN ($2::text, 'pg_database_owner') \
               AND NOT pg_has_role(current_user, n.nspowner, 'USAGE') \
               AND NOT has_schema_privilege(current_user, n.oid, 'USAGE WITH GRANT OPTION')",
        &[&schema, &owner],
    )
    .await
    .map_err(q("reading schema owners"))?
    .map(|r| r.get(0)))
}

/// Relations of `kind` in `schema` that lack one of `privileges` for `role` and that the
/// admin role can grant nothing on: it neither acts for their owner (`owner`, the staging
/// owner, counts as acted for: the membership step sees to it) nor holds the grant option.
/// Each as (owner, quoted qualified name).
pub(super) async fn beyond_admin(
    c: &Client,
    kind: Relkind,
    schema: &str,
    role: &str,
    owner: &str,
    privileges: &[&str],
) -> Result<Vec<(String, String)>, PgError> {
    let (relkinds, check): (&[&str], &str) = match kind {
        Relkind::Tables => (&["r", "p", "v", "m", "f"], "has_table_privilege"),
        Relkind::Sequences => (&["S"], "has_sequence_privilege"),
    };
    let sql = format!(
        "SELECT pg_get_userbyid(c.relowner)::text, format('%I.%I', n.nspname, c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, pg_roles r \
         WHERE n.nspname = $1 AND r.rolname = $2 AND c.relkind::text = ANY($4::text[]) \
           AND NOT (SELECT bool_and({check}(r.oid, c.oid, p)) FROM unnest($3::text[]) p) \
           AND pg_get_userbyid(c.relowner) <> $5 \
           AND NOT pg_has_role(current_user, c.relowner, 'USAGE') \
           AND NOT (SELECT bool_and({check}(current_user, c.oid, p || ' WITH GRANT OPTION')) \
                    FROM unnest($3::text[]) p) \
         ORDER BY 1, 2"
    );
    let rows = c
        .query(
            sql.as_str(),
            &[&schema, &role, &privileges, &relkinds, &owner],
        )
        .await
        .map_err(q("reading relation owners"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Whether PUBLIC holds CONNECT on `db` in its ACL (`has_database_privilege` takes no
/// PUBLIC). False for a database that does not exist.
pub(super) async fn public_connect(c: &Client, db: &str) -> Result<bool, PgError> {
    acl_has(c, db, None, "CONNECT").await
}

/// The one value of a one-row catalog query; `what` says what was being read.
async fn one_value<T: for<'a> FromSql<'a>>(
    c: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    what: &str,
) -> Result<T, PgError> {
    let row = c.query_one(sql, params).await.map_err(q(what))?;
    Ok(row.get(0))
}

/// Who granted CONNECT on `db` to PUBLIC; `None` when PUBLIC holds none.
async fn public_connect_grantors(c: &Client, db: &str) -> Result<Option<String>, PgError> {
    one_value(
        c,
        "SELECT string_agg(DISTINCT pg_get_userbyid(a.grantor)::text, ', ') \
         FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
         WHERE d.datname = $1 AND a.grantee = 0 AND a.privilege_type = 'CONNECT'",
        &[&db],
        "reading database privileges",
    )
    .await
}

/// Whether `grantee` (or PUBLIC when `None`) holds `privilege` on database `db` in its ACL.
pub(super) async fn acl_has(
    c: &Client,
    db: &str,
    grantee: Option<&str>,
    privilege: &str,
) -> Result<bool, PgError> {
    one_value(
        c,
        "SELECT EXISTS (SELECT 1 FROM pg_database d, \
           aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
         WHERE d.datname = $1 AND a.privilege_type = $3 \
           AND a.grantee = coalesce((SELECT oid FROM pg_roles WHERE rolname = $2), \
                                    CASE WHEN $2::text IS NULL THEN 0 ELSE -1 END::oid))",
        &[&db, &grantee, &privilege],
        "reading database privileges",
    )
    .await
}

/// Whether `role` may connect to `db`; a role or database that does not exist: no.
pub(super) async fn may_connect(c: &Client, role: &str, db: &str) -> Result<bool, PgError> {
    one_value(
        c,
        "SELECT coalesce(has_database_privilege( \
           (SELECT oid FROM pg_roles WHERE rolname = $1), \
           (SELECT oid FROM pg_database WHERE datname = $2), 'CONNECT'), false)",
        &[&role, &db],
        "reading database privileges",
    )
    .await
}

/// Whether `role` holds CONNECT on `db` through an ACL entry other than PUBLIC's: its own or
/// one of a role it inherits from.
pub(super) async fn connect_not_through_public(
    c: &Client,
    role: &str,
    db: &str,
) -> Result<Option<String>, PgError> {
    one_value(
        c,
        "SELECT string_agg(DISTINCT pg_get_userbyid(a.grantee)::text, ', ') \
         FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a, \
              pg_roles r \
         WHERE d.datname = $2 AND r.rolname = $1 AND a.privilege_type = 'CONNECT' \
           AND a.grantee <> 0 AND pg_has_role(r.oid, a.grantee, 'USAGE')",
        &[&role, &db],
        "reading database privileges",
    )
    .await
}

pub(super) async fn acts_for(c: &Client, role: &str, check: &str) -> Result<bool, PgError> {
    one_value(
        c,
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) \
           AND pg_has_role(current_user, (SELECT oid FROM pg_roles WHERE rolname = $1), $2)",
        &[&role, &check],
        "reading role memberships",
    )
    .await
}

/// Whether `schema` belongs to `owner`, directly or as `pg_database_owner` (PostgreSQL 15+).
pub(super) async fn schema_owner_is(
    c: &Client,
    schema: &str,
    owner: &str,
) -> Result<bool, PgError> {
    Ok(schema_owner(c, schema)
        .await?
        .is_some_and(|o| o == owner || o == "pg_database_owner"))
}

/// Whether PUBLIC holds CREATE on `schema` in its ACL (`has_schema_privilege` takes no PUBLIC).
pub(super) async fn public_creates(c: &Client, schema: &str) -> Result<bool, PgError> {
    one_value(
        c,
        "SELECT EXISTS (SELECT 1 FROM pg_namespace n, \
           aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a \
         WHERE n.nspname = $1 AND a.grantee = 0 AND a.privilege_type = 'CREATE')",
        &[&schema],
        "reading schema privileges",
    )
    .await
}

/// Whether `role` has USAGE on `schema`; a role or schema that does not exist: no.
pub(super) async fn schema_usage(c: &Client, schema: &str, role: &str) -> Result<bool, PgError> {
    one_value(
        c,
        "SELECT coalesce(has_schema_privilege( \
           (SELECT oid FROM pg_roles WHERE rolname = $2), \
           (SELECT oid FROM pg_namespace WHERE nspname = $1), 'USAGE'), false)",
        &[&schema, &role],
        "reading schema privileges",
    )
    .await
}

/// How many existing relations of `kind` in `schema` lack one of `privileges` for `role`,
/// and who owns them. Nothing is missing when the role does not exist yet.
pub(super) async fn missing_on(
    c: &Client,
    kind: Relkind,
    schema: &str,
    role: &str,
    privileges: &[&str],
) -> Result<(i64, String), PgError> {
    let (relkinds, check): (&[&str], &str) = match kind {
        Relkind::Tables => (&["r", "p", "v", "m", "f"], "has_table_privilege"),
        Relkind::Sequences => (&["S"], "has_sequence_privilege"),
    };
    let sql = format!(
        "SELECT count(*), coalesce(string_agg(DISTINCT pg_get_userbyid(c.relowner)::text, ', '), '') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, pg_roles r \
         WHERE n.nspname = $1 AND r.rolname = $2 AND c.relkind::text = ANY($4::text[]) \
           AND NOT (SELECT bool_and({check}(r.oid, c.oid, p)) FROM unnest($3::text[]) p)"
    );
    let row = c
        .query_one(sql.as_str(), &[&schema, &role, &privileges, &relkinds])
        .await
        .map_err(q("reading relation privileges"))?;
    Ok((row.get(0), row.get(1)))
}

/// Whether `owner`'s default privileges in `schema` give `role` every one of `privileges`.
pub(super) async fn default_privileges(
    c: &Client,
    kind: Relkind,
    schema: &str,
    owner: &str,
    role: &str,
    privileges: &[&str],
) -> Result<bool, PgError> {
    let objtype = match kind {
        Relkind::Tables => "r",
        Relkind::Sequences => "S",
    };
    let row = c
        .query_one(
            "SELECT count(DISTINCT a.privilege_type) FROM pg_default_acl d \
               JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a \
             WHERE n.nspname = $1 AND d.defaclobjtype::text = $2 \
               AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $3) \
               AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $4) \
               AND a.privilege_type = ANY($5::text[])",
            &[&schema, &objtype, &owner, &role, &privileges],
        )
        .await
        .map_err(q("reading default privileges"))?;
    Ok(row.get::<_, i64>(0) == privileges.len() as i64)
}
