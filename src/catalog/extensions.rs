//! Extensions the target already has. Managed platforms preinstall extensions in every new
//! database, so a target holding only extensions counts as empty: they are kept, and the
//! source's `CREATE EXTENSION IF NOT EXISTS` leaves them as they are. The report lists them; a
//! version that differs from the source's is a warning, a schema that differs is refused (the
//! source's objects name the extension's objects by schema and would not find them).

use tokio_postgres::Client;

use super::CatalogError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub version: String,
    pub schema: String,
}

impl Extension {
    fn describe(&self) -> String {
        format!(
            "extension {} {} (schema {})",
            self.name, self.version, self.schema
        )
    }
}

/// The database's extensions but plpgsql, which every database created from template1 has.
pub async fn list(client: &Client) -> Result<Vec<Extension>, CatalogError> {
    Ok(client
        .query(
            "SELECT e.extname::text, e.extversion, n.nspname::text \
             FROM pg_catalog.pg_extension e \
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname <> 'plpgsql' ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| Extension {
            name: r.get(0),
            version: r.get(1),
            schema: r.get(2),
        })
        .collect())
}

/// What happens to the target's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionCheck {
    /// `extension name version (schema s)`, for the report.
    pub kept: Vec<String>,
    pub warnings: Vec<String>,
    /// Extensions that would break the source's schema; the clone must not start.
    pub conflicts: Vec<String>,
}

/// Compares the target's extensions with the source's. With `clean`, only extensions in
/// `pg_catalog` survive (`--clean` drops every other schema, and an extension with its schema).
pub fn compare(source: &[Extension], target: &[Extension], clean: bool) -> ExtensionCheck {
    let mut check = ExtensionCheck::default();
    for ext in target.iter().filter(|e| !clean || e.schema == "pg_catalog") {
        check.kept.push(ext.describe());
        let Some(theirs) = source.iter().find(|s| s.name == ext.name) else {
            continue;
        };
        if theirs.schema != ext.schema {
            check.conflicts.push(format!(
                "extension {} is in schema {} on the target but in schema {} on the source, \
                 where the source's objects refer to it; drop it from the target first \
                 (DROP EXTENSION {};)",
                ext.name, ext.schema, theirs.schema, ext.name
            ));
        } else if theirs.version != ext.version {
            check.warnings.push(format!(
                "extension {} is kept at version {} on the target, the source has {} \
                 (ALTER EXTENSION {} UPDATE TO '{}'; on the target brings it level)",
                ext.name, ext.version, theirs.version, ext.name, theirs.version
            ));
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(name: &str, version: &str, schema: &str) -> Extension {
        Extension {
            name: name.into(),
            version: version.into(),
            schema: schema.into(),
        }
    }

    #[test]
    fn kept_extensions_are_listed_and_differences_named() {
        let source = [
            ext("citext", "1.6", "public"),
            ext("hstore", "1.8", "public"),
            ext("pg_trgm", "1.6", "ext"),
        ];
        let target = [
            ext("citext", "1.4", "public"),
            ext("hstore", "1.8", "public"),
            ext("pg_trgm", "1.6", "public"),
            ext("pgcrypto", "1.3", "public"),
        ];
        let check = compare(&source, &target, false);
        assert_eq!(
            check.kept,
            [
                "extension citext 1.4 (schema public)",
                "extension hstore 1.8 (schema public)",
                "extension pg_trgm 1.6 (schema public)",
                "extension pgcrypto 1.3 (schema public)",
            ]
        );
        assert_eq!(check.warnings.len(), 1);
        assert!(check.warnings[0].contains("version 1.4"));
        assert!(check.warnings[0].contains("the source has 1.6"));
        assert_eq!(check.conflicts.len(), 1);
        assert!(check.conflicts[0].contains("schema public on the target but in schema ext"));
    }

    #[test]
    fn clean_keeps_only_what_survives_it() {
        let target = [
            ext("citext", "1.4", "public"),
            ext("sysext", "1.0", "pg_catalog"),
        ];
        let check = compare(&[ext("citext", "1.6", "public")], &target, true);
        assert_eq!(check.kept, ["extension sysext 1.0 (schema pg_catalog)"]);
        assert!(check.warnings.is_empty() && check.conflicts.is_empty());
    }
}
