//! Databases and who may connect to them: the staging database (created for the owner, only
//! the app role and the owner may connect) and, on an instance shared with production, the
//! production database closed to the staging roles.

use tokio_postgres::Client;

use super::effect::{self, Effect};
use super::{ident, q, Db, PgError, PgTask, Step};
use crate::provision::plan::{Line, Op};

/// Who owns a database, and what the admin role may change about who connects to it.
struct Authority {
    owner: String,
    /// The admin role has the owner's privileges (or is a superuser).
    acts_for_owner: bool,
    /// Roles other than the owner that granted CONNECT to PUBLIC. A REVOKE reaches only
    /// what the revoking role's grantor (the owner, for an owner or superuser) granted, and
    /// PostgreSQL only warns when that is nothing.
    other_public_grantors: Option<String>,
}

async fn authority(admin: &Client, db: &str) -> Result<Option<Authority>, PgError> {
    let row = admin
        .query_opt(
            "SELECT pg_get_userbyid(d.datdba)::text, \
                    pg_has_role(current_user, d.datdba, 'USAGE'), \
                    (SELECT string_agg(DISTINCT pg_get_userbyid(a.grantor)::text, ', ') \
                     FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
                     WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT' \
                       AND a.grantor <> d.datdba) \
             FROM pg_database d WHERE d.datname = $1",
            &[&db],
        )
        .await
        .map_err(q("reading database owners"))?;
    Ok(row.map(|r| Authority {
        owner: r.get(0),
        acts_for_owner: r.get(1),
        other_public_grantors: r.get(2),
    }))
}

pub(super) async fn exists(admin: &Client, name: &str) -> Result<bool, PgError> {
    Ok(admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(q("reading databases"))?
        .is_some())
}

/// The staging database, created for the owner or handed to it.
pub(super) async fn staging(admin: &Client, task: &PgTask<'_>) -> Result<Step, PgError> {
    let name = task.db.name.get_ref().as_str();
    let owner = task.db.owner.get_ref().as_str();
    let object = format!("database {name}");
    let current = authority(admin, name).await?;
    if task.db.platform {
        // The platform's own database: its owner runs the platform (Supabase's `auth`,
        // `storage`…); handing it to the application's owner would break it.
        let Some(current) = current else {
            return Err(PgError::Refused(format!(
                "the platform database {name} does not exist ([database] platform = true never creates it)"
            )));
        };
        return Ok(Step::new(
            Line::pg(
                Op::Unchanged,
                object,
                format!("owner {} (the platform's, kept)", current.owner),
            ),
            vec![],
        ));
    }
    let Some(current) = current else {
        return Ok(Step::new(
            Line::pg(Op::Create, object, format!("owner {owner}, template0")),
            vec![(
                Db::Admin,
                format!(
                    "CREATE DATABASE {} OWNER {} TEMPLATE template0",
                    ident(name),
                    ident(owner)
                ),
            )],
        ));
    };
    if current.owner == owner {
        return Ok(Step::new(
            Line::pg(Op::Unchanged, object, format!("owner {owner}")),
            vec![],
        ));
    }
    let step = Step::new(
        Line::pg(
            Op::Change,
            object,
            format!("owner {} → {owner}", current.owner),
        ),
        vec![(
            Db::Admin,
            format!("ALTER DATABASE {} OWNER TO {}", ident(name), ident(owner)),
        )],
    );
    Ok(if current.acts_for_owner {
        step
    } else {
        step.blocked(
            &current.owner,
            format!(
                "does not own the database {name} and is not a member of its owner {}",
                current.owner
            ),
        )
    })
}

/// Only the app role and the owner may connect to the staging database. The admin acts for
/// the owner once the database and membership steps ran, so this is never blocked up front;
/// the effects are read back after it ran.
pub(super) async fn staging_connect(
    admin: &Client,
    task: &PgTask<'_>,
    database_exists: bool,
) -> Result<Step, PgError> {
    let name = task.db.name.get_ref().as_str();
    let owner = task.db.owner.get_ref().as_str();
    let app = task.db.app_role.get_ref().as_str();
    // The platform's database stays open to whom the platform lets in.
    let public_connect =
        !task.db.platform && (!database_exists || effect::public_connect(admin, name).await?);
    let app_connect = database_exists && effect::acl_has(admin, name, Some(app), "CONNECT").await?;
    let mut sql = Vec::new();
    let mut detail = Vec::new();
    if public_connect {
        detail.push("REVOKE CONNECT FROM PUBLIC");
        sql.push((
            Db::Admin,
            format!("REVOKE CONNECT ON DATABASE {} FROM PUBLIC", ident(name)),
        ));
    }
    if !app_connect {
        detail.push("GRANT CONNECT TO the app role");
        sql.push((
            Db::Admin,
            format!(
                "GRANT CONNECT ON DATABASE {} TO {}",
                ident(name),
                ident(app)
            ),
        ));
    }
    let op = if sql.is_empty() {
        Op::Unchanged
    } else if database_exists {
        Op::Change
    } else {
        Op::Create
    };
    let detail = match (detail.is_empty(), task.db.platform) {
        (true, false) => format!("only {app} and {owner}"),
        (true, true) => format!("{app} may connect (the platform's other grants kept)"),
        (false, _) => detail.join(", "),
    };
    let mut step = Step::new(Line::pg(op, format!("connect {name}"), detail), sql).owned_by(owner);
    if public_connect && database_exists {
        if let Some(others) = authority(admin, name)
            .await?
            .and_then(|a| a.other_public_grantors)
        {
            step = step.blocked(&others, foreign_grant(name, &others));
        }
    }
    let app_may_connect = Effect::Connect {
        role: app.to_owned(),
        db: name.to_owned(),
        allowed: true,
    };
    if task.db.platform {
        if let Some(a) = authority(admin, name).await? {
            step.owner = Some(a.owner.clone());
            if !a.acts_for_owner && !app_connect {
                step = step.blocked(
                    &a.owner,
                    format!(
                        "does not own the platform database {name} and is not a member of its owner {}",
                        a.owner
                    ),
                );
            }
        }
        return Ok(step.promising(vec![app_may_connect]));
    }
    Ok(step.promising(vec![
        Effect::PublicConnect {
            db: name.to_owned(),
            allowed: false,
        },
        app_may_connect,
    ]))
}

/// The production database on an instance shared with staging: PUBLIC loses CONNECT, the
/// production roles `keep_connect` names keep it, the staging roles never hold it.
pub(super) async fn production(
    admin: &Client,
    task: &PgTask<'_>,
    prod: &str,
) -> Result<Step, PgError> {
    let owner = task.db.owner.get_ref().as_str();
    let app = task.db.app_role.get_ref().as_str();
    let object = format!("connect {prod} (production)");
    let mut staging_roles = vec![app, owner];
    if let Some(m) = &task.migrations {
        staging_roles.push(m.role);
    }
    for role in staging_roles.iter().copied() {
        if let Some(through) = effect::connect_not_through_public(admin, role, prod).await? {
            return Err(PgError::Refused(format!(
                "the staging role {role} holds CONNECT on the production database {prod} (granted to {through}); revoke it first"
            )));
        }
    }
    let staging_roles_closed: Vec<Effect> = staging_roles
        .iter()
        .map(|role| Effect::Connect {
            role: (*role).to_owned(),
            db: prod.to_owned(),
            allowed: false,
        })
        .collect();
    if !effect::public_connect(admin, prod).await? {
        let step = Step::new(
            Line::pg(Op::Unchanged, object, "closed to the staging roles"),
            vec![],
        );
        return Ok(step.promising(staging_roles_closed));
    }
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
    let mut effects = vec![Effect::PublicConnect {
        db: prod.to_owned(),
        allowed: false,
    }];
    for r in keep {
        sql.push((
            Db::Admin,
            format!("GRANT CONNECT ON DATABASE {} TO {}", ident(prod), ident(r)),
        ));
        effects.push(Effect::Connect {
            role: r.clone(),
            db: prod.to_owned(),
            allowed: true,
        });
    }
    effects.extend(staging_roles_closed);
    let line = Line::pg(
        Op::Change,
        object,
        format!(
            "REVOKE CONNECT FROM PUBLIC, GRANT CONNECT TO {}",
            keep.join(", ")
        ),
    );
    let step = Step::new(line, sql).promising(effects);
    let Some(authority) = authority(admin, prod).await? else {
        return Ok(step);
    };
    Ok(if let Some(others) = &authority.other_public_grantors {
        step.blocked(others, foreign_grant(prod, others))
    } else if !authority.acts_for_owner {
        let lacks = format!(
            "does not own the production database {prod} and is not a member of its owner {}",
            authority.owner
        );
        step.blocked(&authority.owner, lacks)
    } else {
        step.owned_by(&authority.owner)
    })
}

fn foreign_grant(db: &str, grantors: &str) -> String {
    format!(
        "cannot revoke the CONNECT on {db} that {grantors} granted to PUBLIC (a REVOKE reaches only what the owner granted)"
    )
}
