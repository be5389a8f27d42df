//! Running the planned statements and reading back what each step promised. A step the admin
//! role cannot make stops the run before anything changes; a statement that ran without its
//! effect (PostgreSQL only warned) stops it right there. Either way the message says what the
//! admin lacks and the exact statements to run as the role that can.

use tokio_postgres::Client;

use super::{connect_to, Db, PgError, PgTask, Step};
use crate::pgerr;

/// Why the planned changes cannot all be made by this admin role, or `None`.
pub(super) fn cannot(admin_role: &str, dbname: &str, steps: &[Step]) -> Option<String> {
    let blocked: Vec<&Step> = steps.iter().filter(|s| s.lacks.is_some()).collect();
    if blocked.is_empty() {
        return None;
    }
    let mut out = format!(
        "{} planned change(s) cannot be made by the admin role {admin_role} (PostgreSQL answers a \
         GRANT or REVOKE the role is not entitled to with a warning and changes nothing), so \
         provisioning changes nothing:",
        blocked.len()
    );
    for step in blocked {
        let lacks = step.lacks.as_deref().unwrap_or_default();
        out.push_str(&format!(
            "\n- {}: {admin_role} {lacks}. {}",
            step.line.object,
            fix(step.owner.as_deref(), step.fix_statements(), dbname)
        ));
    }
    Some(out)
}

/// "Run as OWNER, then provision again:" and the statements, one a line.
fn fix(owner: Option<&str>, statements: &[(Db, String)], dbname: &str) -> String {
    let owner = owner.unwrap_or("the object's owner");
    let place = if statements.iter().any(|(w, _)| *w == Db::Staging) {
        format!(" connected to the database {dbname}")
    } else {
        String::new()
    };
    let mut out = format!("Run as {owner}{place}, then provision again:");
    for (_, sql) in statements {
        out.push_str(&format!("\n    {sql};"));
    }
    out
}

/// Runs every step's statements, then checks the step's effects before the next step.
pub(super) async fn run(
    admin: &Client,
    mut staging: Option<Client>,
    task: &PgTask<'_>,
    admin_role: &str,
    steps: &[Step],
) -> Result<(), PgError> {
    let name = task.db.name.get_ref().as_str();
    let mut applied: Vec<&str> = Vec::new();
    for step in steps {
        let statements = if step.fix.is_empty() {
            &step.sql
        } else {
            &step.fix
        };
        for (where_, sql) in statements {
            let client = pick(admin, &mut staging, task, *where_).await?;
            client
                .batch_execute(sql)
                .await
                .map_err(|e| PgError::Query {
                    what: step.line.object.clone(),
                    message: pgerr::describe(&e),
                })?;
        }
        for effect in &step.effects {
            let client = pick(admin, &mut staging, task, effect.db()).await?;
            if let Some(unmet) = effect.unmet(client).await? {
                let mut message = format!(
                    "{}: {}{}",
                    step.line.object,
                    unmet.what,
                    if step.sql.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", although its statements ran: PostgreSQL only warns when a GRANT or REVOKE \
                             comes from a role that neither owns the object nor holds the grant option, \
                             and the admin role {admin_role} does not. {}",
                            fix(
                                unmet.owner.as_deref().or(step.owner.as_deref()),
                                &[(effect.db(), effect.statement())],
                                name
                            )
                        )
                    }
                );
                if !applied.is_empty() {
                    message.push_str(&format!(
                        "\nAlready changed in this run: {}.",
                        applied.join(", ")
                    ));
                }
                return Err(PgError::Privileges(message));
            }
        }
        if !step.sql.is_empty() {
            applied.push(&step.line.object);
        }
    }
    Ok(())
}

/// The connection a statement or a check runs on; the staging database's is opened on first
/// use, since the database may have been created by an earlier step.
async fn pick<'a>(
    admin: &'a Client,
    staging: &'a mut Option<Client>,
    task: &PgTask<'_>,
    where_: Db,
) -> Result<&'a Client, PgError> {
    match where_ {
        Db::Admin => Ok(admin),
        Db::Staging => {
            if staging.is_none() {
                *staging = Some(connect_to(task.admin_spec, task.db.name.get_ref()).await?);
            }
            match staging {
                Some(c) => Ok(c),
                None => Ok(admin),
            }
        }
    }
}
