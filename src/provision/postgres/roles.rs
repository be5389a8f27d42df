//! The owner role (NOLOGIN), the app role (LOGIN, connection limit, SCRAM password), the
//! migrations role (LOGIN, acting as the owner) and, for a non-superuser admin, its
//! membership in the owner role.

use tokio_postgres::Client;

use super::effect::{self, Effect};
use super::{ident, q, Admin, Db, MigrationsRole, PgError, PgTask, Step};
use crate::conn::ConnSpec;
use crate::provision::plan::{Line, Op};
use crate::provision::scram;
use crate::provision::secrets::{fingerprint, Secret};

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

pub(super) async fn owner(admin: &Client, task: &PgTask<'_>, who: &Admin) -> Result<Step, PgError> {
    let owner = task.db.owner.get_ref().as_str();
    let object = format!("role {owner}");
    Ok(match role(admin, owner, who.superuser).await? {
        None => Step::new(
            Line::pg(Op::Create, object, "NOLOGIN (owner)"),
            vec![(Db::Admin, format!("CREATE ROLE {} NOLOGIN", ident(owner)))],
        ),
        Some(r) if r.can_login => Step::new(
            Line::pg(Op::Change, object, "LOGIN → NOLOGIN"),
            vec![(Db::Admin, format!("ALTER ROLE {} NOLOGIN", ident(owner)))],
        ),
        Some(_) => Step::new(Line::pg(Op::Unchanged, object, "NOLOGIN (owner)"), vec![]),
    })
}

pub(super) async fn app(
    admin: &Client,
    task: &PgTask<'_>,
    who: &Admin,
    database_exists: bool,
) -> Result<Step, PgError> {
    let login = Login {
        role: task.db.app_role.get_ref(),
        password: task.password,
        connection_limit: task.db.connection_limit,
    };
    login_role(admin, task, who, database_exists, &login).await
}

/// A LOGIN role with a SCRAM password: the app role or the migrations role.
struct Login<'a> {
    role: &'a str,
    password: &'a Secret,
    connection_limit: i32,
}

async fn login_role(
    admin: &Client,
    task: &PgTask<'_>,
    who: &Admin,
    database_exists: bool,
    login: &Login<'_>,
) -> Result<Step, PgError> {
    let db = task.db;
    let app = login.role;
    let object = format!("role {app}");
    let fp = fingerprint(login.password);
    let verifier = || scram::verifier(login.password).map_err(|e| PgError::Refused(e.to_string()));
    let Some(r) = role(admin, app, who.superuser).await? else {
        let verifier = verifier()?;
        return Ok(Step::new(
            Line::pg(
                Op::Create,
                object,
                format!(
                    "LOGIN, CONNECTION LIMIT {}, password {fp} (SCRAM-SHA-256)",
                    login.connection_limit
                ),
            ),
            vec![(
                Db::Admin,
                format!(
                    "CREATE ROLE {} LOGIN CONNECTION LIMIT {} PASSWORD '{verifier}'",
                    ident(app),
                    login.connection_limit
                ),
            )],
        ));
    };
    let mut changes = Vec::new();
    let mut clauses = Vec::new();
    if !r.can_login {
        changes.push("NOLOGIN → LOGIN".to_owned());
        clauses.push("LOGIN".to_owned());
    }
    if r.conn_limit != login.connection_limit {
        changes.push(format!(
            "connection limit {} → {}",
            r.conn_limit, login.connection_limit
        ));
        clauses.push(format!("CONNECTION LIMIT {}", login.connection_limit));
    }
    let password_ok = match &r.password {
        Some(stored) => scram::matches(stored, login.password),
        None => {
            let name = db.name.get_ref().as_str();
            login_works(task.admin_spec, app, login.password, name, database_exists).await
        }
    };
    if !password_ok {
        changes.push(format!("password → {fp}"));
        clauses.push(format!("PASSWORD '{}'", verifier()?));
    }
    Ok(if changes.is_empty() {
        Step::new(
            Line::pg(Op::Unchanged, object, format!("LOGIN, password {fp}")),
            vec![],
        )
    } else {
        Step::new(
            Line::pg(Op::Change, object, changes.join(", ")),
            vec![(
                Db::Admin,
                format!("ALTER ROLE {} {}", ident(app), clauses.join(" ")),
            )],
        )
    })
}

/// The migrations role as a LOGIN role (no connection limit: migration jobs are few).
pub(super) async fn migrations(
    admin: &Client,
    task: &PgTask<'_>,
    who: &Admin,
    database_exists: bool,
    m: &MigrationsRole<'_>,
) -> Result<Step, PgError> {
    let login = Login {
        role: m.role,
        password: m.password,
        connection_limit: -1,
    };
    login_role(admin, task, who, database_exists, &login).await
}

/// The migrations role acts as the owner in the staging database: it is a member of the
/// owner, its sessions there start with `SET role` to the owner (so every table a migration
/// creates belongs to the owner, and the owner's default privileges give the app role its
/// grants), and it may connect. Runs once the database exists.
pub(super) async fn migrations_acts_as_owner(
    admin: &Client,
    task: &PgTask<'_>,
    m: &MigrationsRole<'_>,
) -> Result<Step, PgError> {
    let owner = task.db.owner.get_ref().as_str();
    let name = task.db.name.get_ref().as_str();
    let role = m.role;
    let version: i32 = admin
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(q("reading the server version"))?
        .get(0);
    let state = admin
        .query_opt(
            "SELECT pg_has_role(m.oid, o.oid, 'MEMBER'),                     EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d                               ON d.oid = s.setdatabase                             WHERE s.setrole = m.oid AND d.datname = $3                               AND ('role=' || o.rolname) = ANY(s.setconfig))              FROM pg_roles m, pg_roles o WHERE m.rolname = $1 AND o.rolname = $2",
            &[&role, &owner, &name],
        )
        .await
        .map_err(q("reading the migrations role"))?;
    let (member, sets_role) = state
        .map(|r| (r.get(0), r.get(1)))
        .unwrap_or((false, false));
    let connect = effect::acl_has(admin, name, Some(role), "CONNECT").await?;
    let mut sql = Vec::new();
    let mut detail = Vec::new();
    if !member {
        detail.push(format!("member of {owner}"));
        // PostgreSQL 16 made SET and INHERIT options of each grant.
        let options = if version >= 160000 {
            " WITH INHERIT TRUE, SET TRUE"
        } else {
            ""
        };
        sql.push((
            Db::Admin,
            format!("GRANT {} TO {}{options}", ident(owner), ident(role)),
        ));
    }
    if !sets_role {
        detail.push(format!("sessions in {name} act as {owner}"));
        sql.push((
            Db::Admin,
            format!(
                "ALTER ROLE {} IN DATABASE {} SET role = '{owner}'",
                ident(role),
                ident(name)
            ),
        ));
    }
    if !connect {
        detail.push(format!("CONNECT on {name}"));
        sql.push((
            Db::Admin,
            format!(
                "GRANT CONNECT ON DATABASE {} TO {}",
                ident(name),
                ident(role)
            ),
        ));
    }
    let op = match (sql.is_empty(), member || sets_role || connect) {
        (true, _) => Op::Unchanged,
        (false, true) => Op::Change,
        (false, false) => Op::Create,
    };
    let detail = if detail.is_empty() {
        format!("acts as {owner} in {name}")
    } else {
        detail.join(", ")
    };
    let step = Step::new(Line::pg(op, format!("migrations {role}"), detail), sql);
    Ok(step.owned_by(owner).promising(vec![Effect::Connect {
        role: role.to_owned(),
        db: name.to_owned(),
        allowed: true,
    }]))
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

/// A non-superuser admin (managed services) must act for the owner to create the database
/// with that owner and to set the owner's default privileges.
pub(super) async fn membership(admin: &Client, task: &PgTask<'_>) -> Result<Step, PgError> {
    let owner = task.db.owner.get_ref().as_str();
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
    let acts_for = effect::acts_for(admin, owner, check).await?;
    let line = Line::pg(
        if acts_for { Op::Unchanged } else { Op::Create },
        format!("membership {owner}"),
        "the admin role acts for the owner",
    );
    let step = Step::new(
        line,
        if acts_for {
            vec![]
        } else {
            vec![(Db::Admin, grant)]
        },
    );
    Ok(step.promising(vec![Effect::ActsFor {
        role: owner.to_owned(),
        check,
    }]))
}
