//! `--owner ROLE` for `clone` and `restore`: every object is created by the run's sessions
//! acting as ROLE (`SET ROLE` at connection start, reaching pg_restore through PGOPTIONS, with
//! no OWNER TO or GRANT from production), so ROLE owns it. Then the grants step: ROLE's
//! default privileges in the target (`ALTER DEFAULT PRIVILEGES FOR ROLE …`, as `provision`
//! sets them for the app role) are read before anything changes, put back if `--clean`
//! dropped them with their schema, and applied to the objects just created, so the
//! application can use the database straight away.

use tokio_postgres::Client;

use super::{pg_failure, Failure};
use crate::conn::ConnSpec;
use crate::exit;
use crate::refresh::{ident, literal};

/// The target reached as `owner`.
pub(super) fn acting_as(target: &ConnSpec, owner: &str) -> ConnSpec {
    target.with_settings(&[&format!("role={owner}")])
}

/// `owner`'s default privileges in the target, as the statements that restore them and grant
/// them on existing objects; read before the run changes anything.
pub(super) struct Grants {
    statements: Vec<String>,
}

impl Grants {
    pub(super) fn read(
        rt: &tokio::runtime::Runtime,
        target: &ConnSpec,
        owner: &str,
    ) -> Result<Grants, Failure> {
        rt.block_on(async {
            let client = connect(target).await?;
            let statements = statements(&client, owner)
                .await
                .map_err(|e| pg_failure(exit::FAILURE, "target: reading default privileges", &e))?;
            Ok(Grants { statements })
        })
    }

    /// Runs the statements as the owner, once the objects exist.
    pub(super) fn apply(
        &self,
        rt: &tokio::runtime::Runtime,
        target: &ConnSpec,
    ) -> Result<(), Failure> {
        if self.statements.is_empty() {
            return Ok(());
        }
        rt.block_on(async {
            let client = connect(target).await?;
            for sql in &self.statements {
                client.batch_execute(sql).await.map_err(|e| {
                    pg_failure(exit::FAILURE, &format!("target: grants step: {sql}"), &e)
                })?;
            }
            Ok(())
        })
    }
}

/// Makes `owner` the owner of a database restage just created (a template), so that the
/// objects `owner` creates in it can go into its `public` schema (owned by the database's
/// owner since PostgreSQL 15).
pub(super) fn give_database(
    rt: &tokio::runtime::Runtime,
    admin: &ConnSpec,
    db: &str,
    owner: &str,
) -> Result<(), Failure> {
    rt.block_on(async {
        let client = connect(admin).await?;
        let sql = format!("ALTER DATABASE {} OWNER TO {}", ident(db), ident(owner));
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| pg_failure(exit::FAILURE, &format!("target: {sql}"), &e))
    })
}

async fn connect(target: &ConnSpec) -> Result<Client, Failure> {
    target
        .connect("restage")
        .await
        .map_err(|e| Failure::new(exit::CONNECTION, format!("target: {e}")))
}

async fn statements(client: &Client, owner: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT n.nspname::text, d.defaclobjtype::text, \
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END, \
                    a.privilege_type, a.is_grantable \
             FROM pg_default_acl d \
             LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, \
                  aclexplode(d.defaclacl) a \
             WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = $1) \
               AND a.grantee <> d.defaclrole \
             ORDER BY 1, 2, 3, 4",
            &[&owner],
        )
        .await?;
    let user_schemas: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname NOT IN \
             ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for row in rows {
        let schema: Option<String> = row.get(0);
        let objtype: String = row.get(1);
        let grantee: String = row.get(2);
        let privilege: String = row.get(3);
        let grantable: bool = row.get(4);
        let Some(kind) = kind(&objtype) else { continue };
        let grantee = if grantee == "PUBLIC" {
            grantee
        } else {
            ident(&grantee)
        };
        let option = if grantable { " WITH GRANT OPTION" } else { "" };
        let owner = ident(owner);
        match &schema {
            // Put back (--clean drops it with its schema) and applied, if the schema exists.
            Some(s) => out.push(in_schema_if_exists(
                s,
                &[
                    format!(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {} GRANT {privilege} ON {kind} TO {grantee}{option}",
                        ident(s)
                    ),
                    format!("GRANT {privilege} ON ALL {kind} IN SCHEMA {} TO {grantee}{option}", ident(s)),
                ],
            )),
            None => {
                out.push(format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} GRANT {privilege} ON {kind} TO {grantee}{option}"
                ));
                for s in &user_schemas {
                    out.push(in_schema_if_exists(
                        s,
                        &[format!("GRANT {privilege} ON ALL {kind} IN SCHEMA {} TO {grantee}{option}", ident(s))],
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// `statements`, run only when `schema` exists (after --clean it may not).
fn in_schema_if_exists(schema: &str, statements: &[String]) -> String {
    let body: String = statements
        .iter()
        .map(|sql| format!("EXECUTE {}; ", literal(sql)))
        .collect();
    format!(
        "DO $restage$ BEGIN IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = {}) THEN {body}END IF; END $restage$",
        literal(schema)
    )
}

/// The object class of a default-privileges entry that `GRANT … ON ALL … IN SCHEMA` covers.
fn kind(objtype: &str) -> Option<&'static str> {
    match objtype {
        "r" => Some("TABLES"),
        "S" => Some("SEQUENCES"),
        "f" => Some("FUNCTIONS"),
        _ => None,
    }
}
