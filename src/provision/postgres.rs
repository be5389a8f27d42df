//! The staging database and its roles, idempotently: read the catalogs, compute the minimum
//! set of statements, run them, and read back that each privilege change took effect.
//! Nothing is ever dropped. Passwords travel only as SCRAM verifiers computed client-side.
//!
//! - [`roles`]: the owner, app and migrations roles, the admin's membership in the owner;
//! - [`database`]: the staging database and who may connect to it and to production;
//! - [`inside`]: extensions, schema grants and default privileges;
//! - [`effect`]: what each privilege statement promises, read back from the catalogs;
//! - [`apply`]: running the statements, checking the effects, saying what the admin lacks.

mod apply;
mod database;
mod effect;
mod inside;
mod roles;

use tokio_postgres::Client;

use super::plan::Line;
use super::secrets::Secret;
use super::spec::DatabaseSpec;
use crate::conn::ConnSpec;
use crate::pgerr;
use effect::Effect;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("{what}: {message}")]
    Query { what: String, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    /// The admin role cannot make a planned privilege change, or one did not take effect.
    #[error("{0}")]
    Privileges(String),
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
/// password; they are not printed anyway, except a blocked step's, which never holds one).
struct Step {
    line: Line,
    sql: Vec<(Db, String)>,
    /// What must hold once `sql` ran; read back before the next step.
    effects: Vec<Effect>,
    /// The role that can make the change when the admin role cannot.
    owner: Option<String>,
    /// What the admin role lacks to make this change (known before anything runs).
    lacks: Option<String>,
    /// What `owner` would run instead of `sql`, when only part of it is beyond the admin.
    fix: Vec<(Db, String)>,
}

impl Step {
    fn new(line: Line, sql: Vec<(Db, String)>) -> Step {
        Step {
            line,
            sql,
            effects: Vec::new(),
            owner: None,
            lacks: None,
            fix: Vec::new(),
        }
    }

    fn promising(mut self, effects: Vec<Effect>) -> Step {
        self.effects = effects;
        self
    }

    fn owned_by(mut self, owner: &str) -> Step {
        self.owner = Some(owner.to_owned());
        self
    }

    /// What the owner would run to make this change.
    fn fix_statements(&self) -> &[(Db, String)] {
        if self.fix.is_empty() {
            &self.sql
        } else {
            &self.fix
        }
    }

    fn fixed_by(mut self, fix: Vec<(Db, String)>) -> Step {
        self.fix = fix;
        self
    }

    /// This admin role cannot make the change; `owner` can.
    fn blocked(mut self, owner: &str, lacks: String) -> Step {
        self.line.detail = format!(
            "{} (cannot be made by this admin: it {lacks})",
            self.line.detail
        );
        self.owner = Some(owner.to_owned());
        self.lacks = Some(lacks);
        self
    }
}

/// The admin role.
struct Admin {
    name: String,
    superuser: bool,
}

/// Refuses an `owner` or `app_role` that is the admin role itself or a superuser: provision
/// would make the one NOLOGIN and give the other a new password (Supabase's `postgres`,
/// say, named as the owner because it owns the platform's tables).
async fn refuse_foreign_roles(
    admin: &Client,
    task: &PgTask<'_>,
    who: &Admin,
) -> Result<(), PgError> {
    let db = task.db;
    let roles = [
        ("owner", db.owner.get_ref(), "NOLOGIN"),
        (
            "app_role",
            db.app_role.get_ref(),
            "the app's login with a new password",
        ),
    ];
    for (key, role, effect) in roles {
        let superuser: bool = admin
            .query_opt("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[role])
            .await
            .map_err(q("reading roles"))?
            .is_some_and(|r| r.get(0));
        let what = if *role == who.name {
            "the admin role this run connects as"
        } else if superuser {
            "a superuser"
        } else {
            continue;
        };
        return Err(PgError::Refused(format!(
            "[database] {key} = {role:?} is {what}: provision would make it {effect}; name a \
             role of the application's own (it is created)"
        )));
    }
    Ok(())
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

/// What the PostgreSQL part needs to know.
pub struct PgTask<'a> {
    pub admin_spec: &'a ConnSpec,
    pub db: &'a DatabaseSpec,
    pub password: &'a Secret,
    /// The production database when it lives on the same instance.
    pub shared_production_db: Option<&'a str>,
    /// Roles that keep CONNECT on production after PUBLIC loses it (shared instance).
    pub keep_connect: Option<&'a [String]>,
    /// The migrations role, when the spec names one.
    pub migrations: Option<MigrationsRole<'a>>,
}

/// The LOGIN role migrations run as, and its password.
pub struct MigrationsRole<'a> {
    pub role: &'a str,
    pub password: &'a Secret,
}

/// The plan lines, and (dry run only) why this admin role cannot make some of them.
pub struct Converged {
    pub lines: Vec<Line>,
    pub cannot: Option<String>,
}

/// Plans (and, unless `dry_run`, applies) the database side. A change this admin role cannot
/// make is an error before anything runs, or in a dry run `cannot` in the result.
pub async fn converge(
    admin: &Client,
    task: &PgTask<'_>,
    dry_run: bool,
) -> Result<Converged, PgError> {
    let db = task.db;
    let name = db.name.get_ref().as_str();
    let mut passwords = vec![(db.password_secret.get_ref().as_str(), task.password)];
    if let (Some(m), Some(secret)) = (&task.migrations, &db.migrations_password_secret) {
        passwords.push((secret.get_ref().as_str(), m.password));
    }
    for (secret, password) in passwords {
        if !password.expose().is_ascii() || password.is_empty() {
            // The server normalizes non-ASCII passwords with SASLprep before hashing; a
            // verifier computed without it could not be checked reliably.
            return Err(PgError::Refused(format!(
                "the password secret {secret} must be non-empty ASCII"
            )));
        }
    }
    let who = admin_role(admin).await?;
    refuse_foreign_roles(admin, task, &who).await?;

    let mut steps: Vec<Step> = Vec::new();
    // Production is closed first, so that a failed run never leaves a new staging role
    // able to connect to it.
    if let Some(prod) = task.shared_production_db {
        steps.push(database::production(admin, task, prod).await?);
    }
    let database_exists = database::exists(admin, name).await?;
    steps.push(roles::owner(admin, task, &who).await?);
    steps.push(roles::app(admin, task, &who, database_exists).await?);
    if let Some(m) = &task.migrations {
        steps.push(roles::migrations(admin, task, &who, database_exists, m).await?);
    }
    if !who.superuser {
        steps.push(roles::membership(admin, task).await?);
    }
    steps.push(database::staging(admin, task).await?);
    steps.push(database::staging_connect(admin, task, database_exists).await?);
    if let Some(m) = &task.migrations {
        steps.push(roles::migrations_acts_as_owner(admin, task, m).await?);
    }
    let staging = if database_exists {
        Some(connect_to(task.admin_spec, name).await?)
    } else {
        None
    };
    let server = server(admin, &who).await?;
    steps.extend(inside::steps(staging.as_ref(), task, &server).await?);

    let cannot = apply::cannot(&who.name, name, &steps);
    if !dry_run {
        if let Some(message) = &cannot {
            return Err(PgError::Privileges(message.clone()));
        }
        apply::run(admin, staging, task, &who.name, &steps).await?;
    }
    Ok(Converged {
        lines: steps.into_iter().map(|s| s.line).collect(),
        cannot,
    })
}

/// The roles only, as `converge` makes them: the owner role, the admin's membership in it.
/// The LOGIN roles (the app role, the migrations role) must exist already and keep their
/// passwords: those belong to `provision` and its deliveries, which a refresh (a CronJob
/// without an API token or a writable state file) cannot read back. Used by `refresh`, which
/// touches nothing else of the environment.
pub async fn converge_roles(admin: &Client, task: &PgTask<'_>) -> Result<Vec<Line>, PgError> {
    let login_roles = std::iter::once(("app role", task.db.app_role.get_ref().as_str())).chain(
        task.db
            .migrations_role
            .as_ref()
            .map(|m| ("migrations role", m.get_ref().as_str())),
    );
    for (what, role) in login_roles {
        let exists = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .map_err(q("reading roles"))?
            .is_some();
        if !exists {
            return Err(PgError::Refused(format!(
                "the {what} {role} does not exist: run `restage provision` for this environment first"
            )));
        }
    }
    let who = admin_role(admin).await?;
    refuse_foreign_roles(admin, task, &who).await?;
    let mut steps = vec![roles::owner(admin, task, &who).await?];
    if !who.superuser {
        steps.push(roles::membership(admin, task).await?);
    }
    apply_steps(admin, None, task, &who, steps).await
}

/// Extensions, schema grants and default privileges inside `staging`, a database of the
/// environment other than the one the spec names (e.g. a copy about to replace it).
pub async fn converge_inside(
    admin: &Client,
    staging: Client,
    task: &PgTask<'_>,
) -> Result<Vec<Line>, PgError> {
    let who = admin_role(admin).await?;
    let server = server(admin, &who).await?;
    let steps = inside::steps(Some(&staging), task, &server).await?;
    apply_steps(admin, Some(staging), task, &who, steps).await
}

async fn server(admin: &Client, who: &Admin) -> Result<inside::Server, PgError> {
    let version: i32 = admin
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(q("reading the server version"))?
        .get(0);
    Ok(inside::Server {
        version,
        superuser: who.superuser,
    })
}

async fn admin_role(admin: &Client) -> Result<Admin, PgError> {
    let row = admin
        .query_one(
            "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(q("reading the admin role"))?;
    Ok(Admin {
        name: row.get(0),
        superuser: row.get(1),
    })
}

async fn apply_steps(
    admin: &Client,
    staging: Option<Client>,
    task: &PgTask<'_>,
    who: &Admin,
    steps: Vec<Step>,
) -> Result<Vec<Line>, PgError> {
    if let Some(message) = apply::cannot(&who.name, task.db.name.get_ref(), &steps) {
        return Err(PgError::Privileges(message));
    }
    apply::run(admin, staging, task, &who.name, &steps).await?;
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
