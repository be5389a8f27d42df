//! The staging database and its roles, idempotently: read the catalogs, compute the minimum
//! set of statements, run them. Nothing is ever dropped. Passwords travel only as SCRAM
//! verifiers computed client-side.

use tokio_postgres::Client;

use super::plan::{Line, Op};
use super::scram;
use super::secrets::{fingerprint, Secret};
use super::spec::{DatabaseSpec, Grants};
use crate::conn::ConnSpec;
use crate::pgerr;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("{what}: {message}")]
    Query { what: String, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
}

fn q(what: &str) -> impl FnOnce(tokio_postgres::Error) -> PgError + '_ {
    move |e| PgError::Query {
        what: what.to_owned(),
        message: pgerr::describe(&e),
    }
}

/// A double-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Where a statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    /// The admin connection's database.
    Admin,
    /// The staging database.
    Staging,
}

/// One planned change and its statements (which may hold a SCRAM verifier, never a
/// password; they are not printed anyway).
struct Step {
    line: Line,
    sql: Vec<(Db, String)>,
}

/// The session-level advisory lock that serializes concurrent runs for one database.
pub async fn lock(admin: &Client, dbname: &str) -> Result<(), PgError> {
    admin
        .execute(
            "SELECT pg_advisory_lock(hashtextextended('restage.provision:' || $1, 0))",
            &[&dbname],
        )
        .await
        .map_err(q("taking the provisioning lock"))?;
    Ok(())
}

pub async fn unlock(admin: &Client, dbname: &str) {
    let _ = admin
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended('restage.provision:' || $1, 0))",
            &[&dbname],
        )
        .await;
}

struct RoleRow {
    can_login: bool,
    conn_limit: i32,
    /// `None` when the catalog cannot be read (not a superuser).
    password: Option<String>,
}

async fn role(admin: &Client, name: &str, authid: bool) -> Result<Option<RoleRow>, PgError> {
    let sql = if authid {
        "SELECT rolcanlogin, rolconnlimit, rolpassword FROM pg_authid WHERE rolname = $1"
    } else {
        "SELECT rolcanlogin, rolconnlimit, NULL::text FROM pg_roles WHERE rolname = $1"
    };
    let row = admin
        .query_opt(sql, &[&name])
        .await
        .map_err(q("reading roles"))?;
    Ok(row.map(|r| RoleRow {
        can_login: r.get(0),
        conn_limit: r.get(1),
        password: r.get(2),
    }))
}

/// Whether `grantee` (or PUBLIC when `None`) holds `privilege` on database `db` in its ACL.
async fn db_acl_has(
    admin: &Client,
    db: &str,
    grantee: Option<&str>,
    privilege: &str,
) -> Result<bool, PgError> {
    let row = admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database d, \
               aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
             WHERE d.datname = $1 AND a.privilege_type = $3 \
               AND a.grantee = coalesce((SELECT oid FROM pg_roles WHERE rolname = $2), \
                                        CASE WHEN $2::text IS NULL THEN 0 ELSE -1 END::oid))",
            &[&db, &grantee, &privilege],
        )
        .await
        .map_err(q("reading database privileges"))?;
    Ok(row.get(0))
}

/// What the PostgreSQL part needs to know.
pub struct PgTask<'a> {
    pub admin_spec: &'a ConnSpec,
    pub db: &'a DatabaseSpec,
    pub password: &'a Secret,
    /// The production database when it lives on the same instance.
    pub shared_production_db: Option<&'a str>,
    /// Roles that keep CONNECT on production after PUBLIC loses it (shared instance).
    pub keep_connect: Option<&'a [String]>,
}

/// Plans (and, unless `dry_run`, applies) the database side. Returns the plan lines.
pub async fn converge(
    admin: &Client,
    task: &PgTask<'_>,
    dry_run: bool,
) -> Result<Vec<Line>, PgError> {
    let db = task.db;
    let name = db.name.get_ref().as_str();
    let owner = db.owner.get_ref().as_str();
    let app = db.app_role.get_ref().as_str();
    let mut steps: Vec<Step> = Vec::new();
    if !task.password.expose().is_ascii() || task.password.is_empty() {
        // The server normalizes non-ASCII passwords with SASLprep before hashing; a
        // verifier computed without it could not be checked reliably.
        return Err(PgError::Refused(format!(
            "the password secret {} must be non-empty ASCII",
            db.password_secret.get_ref()
        )));
    }

    let superuser: bool = admin
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(q("reading the admin role"))?
        .get(0);

    // Roles.
    match role(admin, owner, superuser).await? {
        None => steps.push(Step {
            line: Line::pg(Op::Create, format!("role {owner}"), "NOLOGIN (owner)"),
            sql: vec![(Db::Admin, format!("CREATE ROLE {} NOLOGIN", ident(owner)))],
        }),
        Some(r) if r.can_login => steps.push(Step {
            line: Line::pg(Op::Change, format!("role {owner}"), "LOGIN → NOLOGIN"),
            sql: vec![(Db::Admin, format!("ALTER ROLE {} NOLOGIN", ident(owner)))],
        }),
        Some(_) => steps.push(Step {
            line: Line::pg(Op::Unchanged, format!("role {owner}"), "NOLOGIN (owner)"),
            sql: vec![],
        }),
    }
    let fp = fingerprint(task.password);
    let existing_app = role(admin, app, superuser).await?;
    let database_exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(q("reading databases"))?
        .is_some();
    match existing_app {
        None => {
            let verifier =
                scram::verifier(task.password).map_err(|e| PgError::Refused(e.to_string()))?;
            steps.push(Step {
                line: Line::pg(
                    Op::Create,
                    format!("role {app}"),
                    format!(
                        "LOGIN, CONNECTION LIMIT {}, password {fp} (SCRAM-SHA-256)",
                        db.connection_limit
                    ),
                ),
                sql: vec![(
                    Db::Admin,
                    format!(
                        "CREATE ROLE {} LOGIN CONNECTION LIMIT {} PASSWORD '{verifier}'",
                        ident(app),
                        db.connection_limit
                    ),
                )],
            });
        }
        Some(r) => {
            let mut changes = Vec::new();
            let mut clauses = Vec::new();
            if !r.can_login {
                changes.push("NOLOGIN → LOGIN".to_owned());
                clauses.push("LOGIN".to_owned());
            }
            if r.conn_limit != db.connection_limit {
                changes.push(format!(
                    "connection limit {} → {}",
                    r.conn_limit, db.connection_limit
                ));
                clauses.push(format!("CONNECTION LIMIT {}", db.connection_limit));
            }
            let password_ok = match &r.password {
                Some(stored) => scram::matches(stored, task.password),
                None => {
                    login_works(task.admin_spec, app, task.password, name, database_exists).await
                }
            };
            if !password_ok {
                changes.push(format!("password → {fp}"));
                let verifier =
                    scram::verifier(task.password).map_err(|e| PgError::Refused(e.to_string()))?;
                clauses.push(format!("PASSWORD '{verifier}'"));
            }
            if changes.is_empty() {
                steps.push(Step {
                    line: Line::pg(
                        Op::Unchanged,
                        format!("role {app}"),
                        format!("LOGIN, password {fp}"),
                    ),
                    sql: vec![],
                });
            } else {
                steps.push(Step {
                    line: Line::pg(Op::Change, format!("role {app}"), changes.join(", ")),
                    sql: vec![(
                        Db::Admin,
                        format!("ALTER ROLE {} {}", ident(app), clauses.join(" ")),
                    )],
                });
            }
        }
    }

    // A non-superuser admin (managed services) must act for the owner to create the
    // database with that owner and to set the owner's default privileges.
    if !superuser {
        let version: i32 = admin
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .map_err(q("reading the server version"))?
            .get(0);
        let (check, grant) = if version >= 160000 {
            (
                "SET",
                format!("GRANT {} TO CURRENT_USER WITH SET TRUE", ident(owner)),
            )
        } else {
            ("MEMBER", format!("GRANT {} TO CURRENT_USER", ident(owner)))
        };
        let acts_for: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) \
                   AND pg_has_role(current_user, (SELECT oid FROM pg_roles WHERE rolname = $1), $2)",
                &[&owner, &check],
            )
            .await
            .map_err(q("reading role memberships"))?
            .get(0);
        steps.push(Step {
            line: Line::pg(
                if acts_for { Op::Unchanged } else { Op::Create },
                format!("membership {owner}"),
                "the admin role acts for the owner",
            ),
            sql: if acts_for {
                vec![]
            } else {
                vec![(Db::Admin, grant)]
            },
        });
    }

    // The database.
    let current_owner: Option<String> = admin
        .query_opt(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(q("reading databases"))?
        .map(|r| r.get(0));
    match &current_owner {
        None => steps.push(Step {
            line: Line::pg(
                Op::Create,
                format!("database {name}"),
                format!("owner {owner}, template0"),
            ),
            sql: vec![(
                Db::Admin,
                format!(
                    "CREATE DATABASE {} OWNER {} TEMPLATE template0",
                    ident(name),
                    ident(owner)
                ),
            )],
        }),
        Some(o) if o != owner => steps.push(Step {
            line: Line::pg(
                Op::Change,
                format!("database {name}"),
                format!("owner {o} → {owner}"),
            ),
            sql: vec![(
                Db::Admin,
                format!("ALTER DATABASE {} OWNER TO {}", ident(name), ident(owner)),
            )],
        }),
        Some(_) => steps.push(Step {
            line: Line::pg(
                Op::Unchanged,
                format!("database {name}"),
                format!("owner {owner}"),
            ),
            sql: vec![],
        }),
    }
    let public_connect = !database_exists || db_acl_has(admin, name, None, "CONNECT").await?;
    let app_connect = database_exists && db_acl_has(admin, name, Some(app), "CONNECT").await?;
    let mut connect_sql = Vec::new();
    let mut connect_detail = Vec::new();
    if public_connect {
        connect_detail.push("REVOKE CONNECT FROM PUBLIC");
        connect_sql.push((
            Db::Admin,
            format!("REVOKE CONNECT ON DATABASE {} FROM PUBLIC", ident(name)),
        ));
    }
    if !app_connect {
        connect_detail.push("GRANT CONNECT TO the app role");
        connect_sql.push((
            Db::Admin,
            format!(
                "GRANT CONNECT ON DATABASE {} TO {}",
                ident(name),
                ident(app)
            ),
        ));
    }
    steps.push(Step {
        line: Line::pg(
            if connect_sql.is_empty() {
                Op::Unchanged
            } else if database_exists {
                Op::Change
            } else {
                Op::Create
            },
            format!("connect {name}"),
            if connect_detail.is_empty() {
                format!("only {app} and {owner}")
            } else {
                connect_detail.join(", ")
            },
        ),
        sql: connect_sql,
    });

    // The production database, when it shares the instance.
    if let Some(prod) = task.shared_production_db {
        let public = db_acl_has(admin, prod, None, "CONNECT").await?;
        let explicit = db_acl_has(admin, prod, Some(app), "CONNECT").await?
            || db_acl_has(admin, prod, Some(owner), "CONNECT").await?;
        if explicit {
            return Err(PgError::Refused(format!(
                "the staging roles hold CONNECT on the production database {prod}; revoke it first"
            )));
        }
        if public {
            let Some(keep) = task.keep_connect else {
                return Err(PgError::Refused(format!(
                    "staging shares the instance with production, and PUBLIC may connect to the production database {prod}, so the staging roles could too; \
                     set [source] keep_connect = [\"<production roles>\"] to revoke CONNECT from PUBLIC on {prod} and grant it to those roles"
                )));
            };
            let mut sql = vec![(
                Db::Admin,
                format!("REVOKE CONNECT ON DATABASE {} FROM PUBLIC", ident(prod)),
            )];
            for r in keep {
                sql.push((
                    Db::Admin,
                    format!("GRANT CONNECT ON DATABASE {} TO {}", ident(prod), ident(r)),
                ));
            }
            steps.push(Step {
                line: Line::pg(
                    Op::Change,
                    format!("connect {prod} (production)"),
                    format!(
                        "REVOKE CONNECT FROM PUBLIC, GRANT CONNECT TO {}",
                        keep.join(", ")
                    ),
                ),
                sql,
            });
        } else {
            steps.push(Step {
                line: Line::pg(
                    Op::Unchanged,
                    format!("connect {prod} (production)"),
                    "closed to the staging roles",
                ),
                sql: vec![],
            });
        }
    }

    // Inside the staging database: extensions, schemas, grants, default privileges.
    let staging = if database_exists {
        Some(connect_to(task.admin_spec, name).await?)
    } else {
        None
    };
    inside(staging.as_ref(), task, &mut steps).await?;

    if !dry_run {
        let mut staging = staging;
        for step in &steps {
            for (where_, sql) in &step.sql {
                let client = match where_ {
                    Db::Admin => admin,
                    Db::Staging => {
                        if staging.is_none() {
                            staging = Some(connect_to(task.admin_spec, name).await?);
                        }
                        match &staging {
                            Some(c) => c,
                            None => admin,
                        }
                    }
                };
                client
                    .batch_execute(sql)
                    .await
                    .map_err(|e| PgError::Query {
                        what: step.line.object.clone(),
                        message: pgerr::describe(&e),
                    })?;
            }
        }
    }
    Ok(steps.into_iter().map(|s| s.line).collect())
}

async fn connect_to(admin: &ConnSpec, db: &str) -> Result<Client, PgError> {
    let spec = admin.with_dbname(db);
    spec.connect("restage-provision")
        .await
        .map_err(|e| PgError::Connect {
            target: spec.masked(),
            message: e.to_string(),
        })
}

/// Without `pg_authid` access: does the password log in?
async fn login_works(
    admin: &ConnSpec,
    app: &str,
    password: &Secret,
    db: &str,
    db_exists: bool,
) -> bool {
    if !db_exists {
        return false;
    }
    let spec = admin.with_dbname(db).with_user(app, Some(password.clone()));
    spec.connect("restage-provision").await.is_ok()
}

fn privileges(
    grants: Grants,
) -> (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
) {
    match grants {
        Grants::Readwrite => (
            "SELECT, INSERT, UPDATE, DELETE",
            "USAGE, SELECT",
            &["SELECT", "INSERT", "UPDATE", "DELETE"],
            &["USAGE", "SELECT"],
        ),
        Grants::Readonly => ("SELECT", "SELECT", &["SELECT"], &["SELECT"]),
    }
}

async fn inside(
    staging: Option<&Client>,
    task: &PgTask<'_>,
    steps: &mut Vec<Step>,
) -> Result<(), PgError> {
    let db = task.db;
    let owner = db.owner.get_ref().as_str();
    let app = db.app_role.get_ref().as_str();
    let (table_privs, seq_privs, table_list, seq_list) = privileges(db.grants);

    for ext in &db.extensions {
        let present = match staging {
            Some(c) => c
                .query_opt("SELECT 1 FROM pg_extension WHERE extname = $1", &[ext])
                .await
                .map_err(q("reading extensions"))?
                .is_some(),
            None => false,
        };
        steps.push(Step {
            line: Line::pg(
                if present { Op::Unchanged } else { Op::Create },
                format!("extension {ext}"),
                "",
            ),
            sql: if present {
                vec![]
            } else {
                vec![(
                    Db::Staging,
                    format!("CREATE EXTENSION IF NOT EXISTS {}", ident(ext)),
                )]
            },
        });
    }

    for schema in &db.schemas {
        let s = ident(schema);
        let mut missing: Vec<String> = Vec::new();
        let mut sql = Vec::new();
        let (exists, usage, tables_missing, seqs_missing) = match staging {
            Some(c) => {
                let row = c
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), \
                                coalesce(has_schema_privilege($2, $1, 'USAGE'), false)",
                        &[schema, &app],
                    )
                    .await;
                let (exists, usage) = match row {
                    Ok(r) => (r.get::<_, bool>(0), r.get::<_, bool>(1)),
                    // The role or schema does not exist yet.
                    Err(_) => (
                        c.query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[schema])
                            .await
                            .map_err(q("reading schemas"))?
                            .is_some(),
                        false,
                    ),
                };
                let role_exists = c
                    .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&app])
                    .await
                    .map_err(q("reading roles"))?
                    .is_some();
                let (t, sq) = if exists && role_exists {
                    let t: i64 = c
                        .query_one(
                            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE n.nspname = $1 AND c.relkind IN ('r','p','v','m','f') \
                               AND NOT (SELECT bool_and(has_table_privilege($2, c.oid, p)) FROM unnest($3::text[]) p)",
                            &[schema, &app, &table_list],
                        )
                        .await
                        .map_err(q("reading table privileges"))?
                        .get(0);
                    let sq: i64 = c
                        .query_one(
                            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE n.nspname = $1 AND c.relkind = 'S' \
                               AND NOT (SELECT bool_and(has_sequence_privilege($2, c.oid, p)) FROM unnest($3::text[]) p)",
                            &[schema, &app, &seq_list],
                        )
                        .await
                        .map_err(q("reading sequence privileges"))?
                        .get(0);
                    (t, sq)
                } else {
                    (0, 0)
                };
                (exists, usage && role_exists, t, sq)
            }
            // A database created from template0 has a public schema.
            None => (schema == "public", false, 0, 0),
        };
        if !exists {
            missing.push("create schema".into());
            sql.push((
                Db::Staging,
                format!(
                    "CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {}",
                    ident(owner)
                ),
            ));
        }
        if !usage {
            missing.push("USAGE".into());
            sql.push((
                Db::Staging,
                format!("GRANT USAGE ON SCHEMA {s} TO {}", ident(app)),
            ));
        }
        if tables_missing > 0 {
            missing.push(format!(
                "{table_privs} on {tables_missing} existing table(s)"
            ));
            sql.push((
                Db::Staging,
                format!(
                    "GRANT {table_privs} ON ALL TABLES IN SCHEMA {s} TO {}",
                    ident(app)
                ),
            ));
        }
        if seqs_missing > 0 {
            missing.push(format!(
                "{seq_privs} on {seqs_missing} existing sequence(s)"
            ));
            sql.push((
                Db::Staging,
                format!(
                    "GRANT {seq_privs} ON ALL SEQUENCES IN SCHEMA {s} TO {}",
                    ident(app)
                ),
            ));
        }
        // Default privileges for objects the owner creates later (migrations).
        for (objtype, keyword, privs, list) in [
            ("r", "TABLES", table_privs, table_list),
            ("S", "SEQUENCES", seq_privs, seq_list),
        ] {
            let present = match staging {
                Some(c) => {
                    let row = c
                        .query_one(
                            "SELECT count(DISTINCT a.privilege_type) FROM pg_default_acl d \
                               JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) a \
                             WHERE n.nspname = $1 AND d.defaclobjtype::text = $2 \
                               AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $3) \
                               AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $4) \
                               AND a.privilege_type = ANY($5::text[])",
                            &[schema, &objtype, &owner, &app, &list],
                        )
                        .await
                        .map_err(q("reading default privileges"))?;
                    row.get::<_, i64>(0) == list.len() as i64
                }
                None => false,
            };
            if !present {
                missing.push(format!("default {privs} on new {}", keyword.to_lowercase()));
                sql.push((
                    Db::Staging,
                    format!(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {s} GRANT {privs} ON {keyword} TO {}",
                        ident(owner),
                        ident(app)
                    ),
                ));
            }
        }
        let op = if sql.is_empty() {
            Op::Unchanged
        } else if staging.is_none() {
            Op::Create
        } else {
            Op::Change
        };
        steps.push(Step {
            line: Line::pg(
                op,
                format!("grants {schema}"),
                if missing.is_empty() {
                    format!("{} for {app}", db.grants)
                } else {
                    missing.join(", ")
                },
            ),
            sql,
        });
    }
    Ok(())
}
