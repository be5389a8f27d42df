//! What the live database carries over to the database replacing it: settings made with
//! `ALTER DATABASE … SET` (and per role in it), CONNECT/CREATE/TEMP grants, the connection
//! limit. Applied to the replacement just before the swap, so the clone's own sessions never
//! run under them (a database-level `statement_timeout` would cut the copy short).

use tokio_postgres::Client;

use super::{ident, literal};

/// Variables whose value is a list that `ALTER … SET` takes as separate items (as pg_dump's
/// `makeAlterConfigCommand` knows them, GUC_LIST_QUOTE): one quoted string would become one
/// odd item.
const LIST_VARIABLES: &[&str] = &[
    "search_path",
    "temp_tablespaces",
    "local_preload_libraries",
    "session_preload_libraries",
    "shared_preload_libraries",
    "unix_socket_directories",
];

/// The statements that give `to` what `from` has; empty when `from` does not exist.
pub async fn statements(
    admin: &Client,
    from: &str,
    to: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let Some(db) = admin
        .query_opt(
            "SELECT oid, datconnlimit, datacl IS NULL FROM pg_database WHERE datname = $1",
            &[&from],
        )
        .await?
    else {
        return Ok(Vec::new());
    };
    let oid: u32 = db.get(0);
    let limit: i32 = db.get(1);
    let default_acl: bool = db.get(2);
    let to_db = ident(to);
    let mut out = vec![format!("ALTER DATABASE {to_db} CONNECTION LIMIT {limit}")];
    if !default_acl {
        out.push(format!("REVOKE ALL ON DATABASE {to_db} FROM PUBLIC"));
        let rows = admin
            .query(
                "SELECT coalesce(r.rolname, 'PUBLIC'), a.privilege_type, a.is_grantable \
                 FROM pg_database d, aclexplode(d.datacl) a \
                 LEFT JOIN pg_roles r ON r.oid = a.grantee \
                 WHERE d.oid = $1 ORDER BY 1, 2",
                &[&oid],
            )
            .await?;
        for r in rows {
            let grantee: String = r.get(0);
            let privilege: String = r.get(1);
            let grantable: bool = r.get(2);
            let grantee = if grantee == "PUBLIC" {
                grantee
            } else {
                ident(&grantee)
            };
            out.push(format!(
                "GRANT {privilege} ON DATABASE {to_db} TO {grantee}{}",
                if grantable { " WITH GRANT OPTION" } else { "" }
            ));
        }
    }
    let settings = admin
        .query(
            "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s \
             LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = $1",
            &[&oid],
        )
        .await?;
    for row in settings {
        let role: Option<String> = row.get(0);
        let config: Vec<String> = row.get(1);
        let target = match &role {
            Some(role) => format!("ROLE {} IN DATABASE {to_db}", ident(role)),
            None => format!("DATABASE {to_db}"),
        };
        for item in config {
            let Some((name, value)) = item.split_once('=') else {
                continue;
            };
            out.push(format!(
                "ALTER {target} SET {} TO {}",
                ident(name),
                value_sql(name, value)
            ));
        }
    }
    Ok(out)
}

/// A stored setting's value as `SET … TO` takes it back.
fn value_sql(name: &str, value: &str) -> String {
    if !LIST_VARIABLES.contains(&name.to_ascii_lowercase().as_str()) {
        return literal(value);
    }
    split_list(value)
        .iter()
        .map(|item| literal(item))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"$user", public` → `$user`, `public`: commas outside double quotes separate, quotes are
/// removed, a doubled quote inside quotes is one quote (SplitGUCList).
fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => items.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    items.push(current.trim().to_owned());
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_settings_keep_their_items() {
        assert_eq!(
            value_sql("search_path", "\"$user\", public, \"a,\"\"b\""),
            "'$user', 'public', 'a,\"b'"
        );
        assert_eq!(value_sql("statement_timeout", "5s"), "'5s'");
        assert_eq!(value_sql("application_name", "it's"), "'it''s'");
    }
}
