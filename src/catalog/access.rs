//! What the source role can read. A role that row-level security filters, or that lacks a
//! privilege, would copy fewer rows than the source holds or fail midway; both are found here,
//! in the snapshot transaction and before anything is written, and listed with what to grant.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::queries::{not_extension_member, USER_NAMESPACE};
use super::{CatalogError, Table};

/// Everything the source role would need and does not have. Empty when the run can proceed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessProblems {
    /// The role the source session runs as, quoted for SQL.
    pub role: String,
    /// Copied tables whose rows row-level security would filter for this role.
    pub row_security: Vec<String>,
    /// One line per object: what is missing and the GRANT that fixes it.
    pub missing: Vec<String>,
}

impl AccessProblems {
    pub fn is_empty(&self) -> bool {
        self.row_security.is_empty() && self.missing.is_empty()
    }
}

impl std::fmt::Display for AccessProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "role {} cannot read everything that is copied; nothing was written:",
            self.role
        )?;
        if !self.row_security.is_empty() {
            write!(
                f,
                "\n  row-level security would silently filter the rows of {}: run `ALTER ROLE \
                 {} BYPASSRLS` as a superuser, or read the source as a role that has \
                 BYPASSRLS (or owns these tables and they do not FORCE ROW LEVEL SECURITY)",
                self.row_security.join(", "),
                self.role
            )?;
        }
        for line in &self.missing {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// Checks, as the connected role, every copied table (`copied`) for row-level security and
/// column privileges, every schema involved for USAGE, every table `pg_dump --schema-only`
/// locks for the privilege the lock needs, and every sequence (their positions are read) for
/// SELECT.
pub async fn check(
    client: &Client,
    copied: &[Table],
    server_version_num: u32,
) -> Result<AccessProblems, CatalogError> {
    let oids: Vec<u32> = copied.iter().map(|t| t.oid).collect();
    let role: String = client
        .query_one("SELECT pg_catalog.quote_ident(current_user)", &[])
        .await?
        .get(0);
    let mut problems = AccessProblems {
        role,
        ..AccessProblems::default()
    };

    // The server's own answer (it ignores the row_security setting): superusers, BYPASSRLS
    // roles and owners of tables that do not FORCE row-level security are not subject to it.
    problems.row_security = client
        .query(
            "SELECT n.nspname::text || '.' || c.relname::text \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = ANY($1) AND c.relrowsecurity \
               AND pg_catalog.row_security_active(c.oid) \
             ORDER BY 1",
            &[&oids],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();

    // Tables and sequences restage or pg_dump names: every table pg_dump dumps (it locks
    // them), every copied table, every sequence (its position is read).
    let involved = format!(
        "(c.oid = ANY($1) OR (c.relkind IN ('r', 'p', 'S') AND c.relpersistence <> 't' \
         AND {USER_NAMESPACE} AND {}))",
        not_extension_member("pg_class", "c.oid")
    );
    let schemas = client
        .query(
            &format!(
                "SELECT DISTINCT n.nspname::text, pg_catalog.quote_ident(n.nspname) \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE {involved} AND NOT pg_catalog.has_schema_privilege(n.oid, 'USAGE') \
                 ORDER BY 1"
            ),
            &[&oids],
        )
        .await?;
    for r in &schemas {
        let (name, quoted): (String, String) = (r.get(0), r.get(1));
        problems.missing.push(format!(
            "schema {name}: no USAGE, so nothing in it can be read: GRANT USAGE ON SCHEMA \
             {quoted} TO {};",
            problems.role
        ));
    }

    // Per table: the columns it cannot read (copied tables), and whether pg_dump can lock it.
    // LOCK … IN ACCESS SHARE MODE takes SELECT up to PostgreSQL 15; from 16 on any of these.
    let lock_privilege = if server_version_num >= 160000 {
        "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"
    } else {
        "SELECT"
    };
    let mut tables: BTreeMap<String, TableProblem> = BTreeMap::new();
    let unreadable_columns = client
        .query(
            "SELECT n.nspname::text || '.' || c.relname::text, \
                    pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), \
                    a.attname::text \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
               AND NOT pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT') \
             ORDER BY 1, a.attnum",
            &[&oids],
        )
        .await?;
    for r in &unreadable_columns {
        let entry = tables.entry(r.get(0)).or_insert_with(|| TableProblem {
            quoted: r.get(1),
            ..TableProblem::default()
        });
        entry.columns.push(r.get(2));
    }
    let unlockable = client
        .query(
            &format!(
                "SELECT n.nspname::text || '.' || c.relname::text, \
                        pg_catalog.quote_ident(n.nspname) || '.' || \
                        pg_catalog.quote_ident(c.relname) \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' \
                   AND {USER_NAMESPACE} AND {} \
                   AND NOT pg_catalog.has_table_privilege(c.oid, '{lock_privilege}') \
                 ORDER BY 1",
                not_extension_member("pg_class", "c.oid")
            ),
            &[],
        )
        .await?;
    for r in &unlockable {
        let entry = tables.entry(r.get(0)).or_insert_with(|| TableProblem {
            quoted: r.get(1),
            ..TableProblem::default()
        });
        entry.unlockable = true;
    }
    for (name, table) in &tables {
        problems.missing.push(table.describe(name, &problems.role));
    }

    let sequences = client
        .query(
            &format!(
                "SELECT n.nspname::text || '.' || c.relname::text, \
                        pg_catalog.quote_ident(n.nspname) || '.' || \
                        pg_catalog.quote_ident(c.relname) \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind = 'S' AND c.relpersistence <> 't' AND {USER_NAMESPACE} AND {} \
                   AND NOT pg_catalog.has_table_privilege(c.oid, 'SELECT') \
                 ORDER BY 1",
                not_extension_member("pg_class", "c.oid")
            ),
            &[],
        )
        .await?;
    for r in &sequences {
        let (name, quoted): (String, String) = (r.get(0), r.get(1));
        problems.missing.push(format!(
            "sequence {name}: no SELECT, so its position cannot be read: GRANT SELECT ON \
             SEQUENCE {quoted} TO {};",
            problems.role
        ));
    }
    Ok(problems)
}

#[derive(Debug, Default)]
struct TableProblem {
    quoted: String,
    /// Copied columns the role cannot SELECT.
    columns: Vec<String>,
    /// pg_dump cannot take its ACCESS SHARE lock while it reads the definition.
    unlockable: bool,
}

impl TableProblem {
    fn describe(&self, name: &str, role: &str) -> String {
        let mut why = Vec::new();
        if !self.columns.is_empty() {
            why.push(format!(
                "cannot read column{} {}",
                if self.columns.len() == 1 { "" } else { "s" },
                self.columns.join(", ")
            ));
        }
        if self.unlockable {
            why.push("pg_dump cannot lock it to read its definition".to_string());
        }
        format!(
            "{name}: {}: GRANT SELECT ON {} TO {role};",
            why.join("; "),
            self.quoted
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_listed_with_its_fix() {
        let problems = AccessProblems {
            role: "reader".into(),
            row_security: vec!["public.notes".into(), "public.forced".into()],
            missing: vec!["schema app: no USAGE …".into()],
        };
        let text = problems.to_string();
        assert!(text.contains("public.notes, public.forced"), "{text}");
        assert!(text.contains("ALTER ROLE reader BYPASSRLS"), "{text}");
        assert!(text.contains("\n  schema app"), "{text}");
        assert!(!problems.is_empty());
        assert!(AccessProblems::default().is_empty());
    }

    #[test]
    fn a_table_says_why_it_needs_select() {
        let table = TableProblem {
            quoted: "public.people".into(),
            columns: vec!["ssn".into(), "salary".into()],
            unlockable: true,
        };
        assert_eq!(
            table.describe("public.people", "reader"),
            "public.people: cannot read columns ssn, salary; pg_dump cannot lock it to read its \
             definition: GRANT SELECT ON public.people TO reader;"
        );
    }
}
