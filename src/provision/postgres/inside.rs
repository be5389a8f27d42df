//! Inside the staging database: extensions, schemas, grants on existing tables and
//! sequences, and the owner's default privileges for what migrations create later.

use tokio_postgres::Client;

use super::effect::{self, Effect, Relkind};
use super::{ident, q, Db, PgError, PgTask, Step};
use crate::provision::plan::{Line, Op};
use crate::provision::spec::Grants;

/// The privileges of a grant level, on tables and on sequences.
fn privileges(grants: Grants, kind: Relkind) -> &'static [&'static str] {
    match (grants, kind) {
        (Grants::Readwrite, Relkind::Tables) => &["SELECT", "INSERT", "UPDATE", "DELETE"],
        (Grants::Readwrite, Relkind::Sequences) => &["USAGE", "SELECT"],
        (Grants::Readonly, _) => &["SELECT"],
    }
}

/// The server, as far as the schema steps depend on it.
pub(super) struct Server {
    /// `server_version_num`.
    pub(super) version: i32,
    /// The admin role is a superuser.
    pub(super) superuser: bool,
}

/// `staging` is `None` when the database does not exist yet: everything is to be created.
pub(super) async fn steps(
    staging: Option<&Client>,
    task: &PgTask<'_>,
    server: &Server,
) -> Result<Vec<Step>, PgError> {
    let mut steps = Vec::new();
    for ext in &task.db.extensions {
        steps.push(extension(staging, ext).await?);
    }
    for schema in &task.db.schemas {
        steps.push(schema_grants(staging, task, schema, server).await?);
    }
    Ok(steps)
}

async fn extension(staging: Option<&Client>, ext: &String) -> Result<Step, PgError> {
    let present = match staging {
        Some(c) => c
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = $1", &[ext])
            .await
            .map_err(q("reading extensions"))?
            .is_some(),
        None => false,
    };
    let op = if present { Op::Unchanged } else { Op::Create };
    let sql = if present {
        vec![]
    } else {
        vec![(
            Db::Staging,
            format!("CREATE EXTENSION IF NOT EXISTS {}", ident(ext)),
        )]
    };
    Ok(Step::new(Line::pg(op, format!("extension {ext}"), ""), sql))
}

async fn schema_grants(
    staging: Option<&Client>,
    task: &PgTask<'_>,
    schema: &String,
    server: &Server,
) -> Result<Step, PgError> {
    let db = task.db;
    let owner = db.owner.get_ref().as_str();
    let app = db.app_role.get_ref().as_str();
    let s = ident(schema);
    let mut missing: Vec<String> = Vec::new();
    let mut sql = Vec::new();
    // The schema and existing relations the admin role can grant nothing on: their owners,
    // and the grants those owners would run.
    let mut owners: Vec<String> = Vec::new();
    let mut by_owner = Vec::new();
    let mut effects = vec![Effect::SchemaUsage {
        schema: schema.clone(),
        role: app.to_owned(),
    }];

    let (exists, usage) = match staging {
        Some(c) => (
            c.query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[schema])
                .await
                .map_err(q("reading schemas"))?
                .is_some(),
            effect::schema_usage(c, schema, app).await?,
        ),
        // A database created from template0 has a public schema.
        None => (schema == "public", false),
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
        let grant = (
            Db::Staging,
            format!("GRANT USAGE ON SCHEMA {s} TO {}", ident(app)),
        );
        if let (Some(c), true) = (staging, exists) {
            if let Some(schema_owner) = effect::schema_beyond_admin(c, schema, owner).await? {
                owners.push(schema_owner);
                by_owner.push(grant.clone());
            }
        }
        sql.push(grant);
    }
    // PostgreSQL 14 and older let PUBLIC create in `public`: the app role could create tables
    // of its own, outside the owner's (and the migrations role's) reach. Revoked when this
    // admin can; otherwise the line says what the schema's owner must run, without blocking
    // the rest (older servers were provisioned like this before).
    let public_creates = match staging {
        Some(c) if exists => effect::public_creates(c, schema).await?,
        Some(_) => false,
        None => schema == "public" && server.version < 150000,
    };
    if public_creates {
        let revoke = format!("REVOKE CREATE ON SCHEMA {s} FROM PUBLIC");
        let beyond = match staging {
            Some(c) => effect::schema_beyond_admin(c, schema, owner).await?,
            // A new database's `public` belongs to the bootstrap superuser.
            None if server.superuser => None,
            None => Some("the bootstrap superuser".to_owned()),
        };
        match beyond {
            None => {
                missing.push("REVOKE CREATE FROM PUBLIC".into());
                sql.push((Db::Staging, revoke));
                // The owner created through PUBLIC's grant where it does not own the schema
                // (`public` on those servers); migrations run as the owner.
                let owner_owns = match staging {
                    Some(c) => effect::schema_owner_is(c, schema, owner).await?,
                    None => false,
                };
                if !owner_owns {
                    missing.push(format!("CREATE for {owner}"));
                    sql.push((
                        Db::Staging,
                        format!("GRANT CREATE ON SCHEMA {s} TO {}", ident(owner)),
                    ));
                }
                effects.push(Effect::NoPublicCreate {
                    schema: schema.clone(),
                });
            }
            Some(schema_owner) => missing.push(format!(
                "PUBLIC may create in {schema}; run as {schema_owner}: {revoke}"
            )),
        }
    }
    // Existing tables and sequences (a clone or restore ran before).
    for kind in [Relkind::Tables, Relkind::Sequences] {
        let privs = privileges(db.grants, kind);
        let listed = privs.join(", ");
        effects.push(Effect::Relations {
            kind,
            schema: schema.clone(),
            role: app.to_owned(),
            privileges: privs,
        });
        let count = match staging {
            Some(c) => effect::missing_on(c, kind, schema, app, privs).await?.0,
            None => 0,
        };
        if let (Some(c), true) = (staging, count > 0) {
            for (rel_owner, rel) in effect::beyond_admin(c, kind, schema, app, owner, privs).await?
            {
                let object = match kind {
                    Relkind::Tables => "TABLE",
                    Relkind::Sequences => "SEQUENCE",
                };
                owners.push(rel_owner);
                by_owner.push((
                    Db::Staging,
                    format!("GRANT {listed} ON {object} {rel} TO {}", ident(app)),
                ));
            }
        }
        if count > 0 {
            missing.push(format!("{listed} on {count} existing {}", kind.noun()));
            sql.push((
                Db::Staging,
                format!(
                    "GRANT {listed} ON ALL {} IN SCHEMA {s} TO {}",
                    kind.keyword(),
                    ident(app)
                ),
            ));
        }
    }
    // Default privileges for objects the owner creates later (migrations).
    for kind in [Relkind::Tables, Relkind::Sequences] {
        let privs = privileges(db.grants, kind);
        let listed = privs.join(", ");
        effects.push(Effect::DefaultPrivileges {
            kind,
            schema: schema.clone(),
            owner: owner.to_owned(),
            role: app.to_owned(),
            privileges: privs,
        });
        let present = match staging {
            Some(c) => effect::default_privileges(c, kind, schema, owner, app, privs).await?,
            None => false,
        };
        if !present {
            let keyword = kind.keyword();
            missing.push(format!(
                "default {listed} on new {}",
                keyword.to_lowercase()
            ));
            sql.push((
                Db::Staging,
                format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {s} GRANT {listed} ON {keyword} TO {}",
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
    let detail = if missing.is_empty() {
        format!("{} for {app}", db.grants)
    } else {
        missing.join(", ")
    };
    let step = Step::new(Line::pg(op, format!("grants {schema}"), detail), sql).promising(effects);
    owners.sort();
    owners.dedup();
    Ok(if owners.is_empty() {
        step.owned_by(owner)
    } else {
        let owners = owners.join(", ");
        let lacks = format!(
            "does not own {} object(s) in schema {schema} it must grant on (owned by {owners}), is not a member of their owner and holds no grant option on them",
            by_owner.len()
        );
        step.blocked(&owners, lacks).fixed_by(by_owner)
    })
}
