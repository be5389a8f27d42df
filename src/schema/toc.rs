//! Parsing `pg_restore --list` output. A line reads
//! `3220; 1259 16402 INDEX public users_email_idx app`: dump ID; catalog OID, object OID, then
//! the description and tag. Tags may contain spaces (quoted identifiers), so objects are
//! matched by their OIDs, never by name.

/// One entry of the archive's table of contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub dump_id: u32,
    pub catalog_oid: u32,
    pub object_oid: u32,
    /// `INDEX`, `CONSTRAINT`, `FK CONSTRAINT`, `TRIGGER`, `TABLE`…
    pub desc: String,
}

/// Descriptions are one or more upper-case words; these multi-word ones start like shorter
/// ones and must be recognised whole.
const MULTI_WORD: &[&str] = &[
    "FK CONSTRAINT",
    "CHECK CONSTRAINT",
    "INDEX ATTACH",
    "MATERIALIZED VIEW DATA",
    "MATERIALIZED VIEW",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "DEFAULT ACL",
    "TABLE DATA",
    "TABLE ATTACH",
    "ROW SECURITY",
    "EVENT TRIGGER",
    "FOREIGN TABLE",
    "SHELL TYPE",
    "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY",
    "OPERATOR CLASS",
    "OPERATOR FAMILY",
    "PROCEDURAL LANGUAGE",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "STATISTICS DATA",
];

/// The dump ID at the start of a TOC line, if it is an entry (not a `;` comment).
pub fn dump_id(line: &str) -> Option<u32> {
    let (id, _) = line.trim_start().split_once(';')?;
    id.trim().parse().ok()
}

/// The schemas a TOC list holds objects of: each entry's namespace, and the name of every
/// `SCHEMA` entry (whose namespace is `-`). Names are read as pg_restore prints them,
/// separated by spaces.
pub fn schemas(list: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for line in list.lines() {
        let Some(entry) = parse_line(line) else {
            continue;
        };
        let Some((_, rest)) = line.split_once(';') else {
            continue;
        };
        // `<catalog oid> <object oid> <desc> <namespace> <tag> <owner>`
        let words: Vec<&str> = rest.split_whitespace().collect();
        let after_desc = 2 + entry.desc.split(' ').count();
        match (
            entry.desc.as_str(),
            words.get(after_desc),
            words.get(after_desc + 1),
        ) {
            ("SCHEMA", Some(&"-"), Some(name)) => {
                out.insert((*name).to_owned());
            }
            (_, Some(namespace), _) if *namespace != "-" => {
                out.insert((*namespace).to_owned());
            }
            _ => {}
        }
    }
    out
}

pub fn parse(list: &str) -> Vec<TocEntry> {
    list.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<TocEntry> {
    let dump_id = dump_id(line)?;
    let (_, rest) = line.split_once(';')?;
    let mut words = rest.split_whitespace();
    let catalog_oid = words.next()?.parse().ok()?;
    let object_oid = words.next()?.parse().ok()?;
    let remainder = words.collect::<Vec<_>>().join(" ");
    let desc = MULTI_WORD
        .iter()
        .find(|d| remainder.starts_with(*d) && remainder[d.len()..].starts_with(' '))
        .map(|d| d.to_string())
        .or_else(|| remainder.split(' ').next().map(str::to_string))?;
    Some(TocEntry {
        dump_id,
        catalog_oid,
        object_oid,
        desc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_skips_comments() {
        let list = ";\n; Archive created at 2026-11-22\n\
            3220; 1259 16402 INDEX public users_email_idx app\n\
            3221; 2606 16385 CONSTRAINT public users users_pkey app\n\
            3222; 2606 16390 FK CONSTRAINT public orders orders_user_fk app\n\
            3223; 0 0 INDEX ATTACH public p_1_pkey app\n\
            3224; 2606 16391 CONSTRAINT CamelSchema \"table with space\" pk app\n";
        let entries = parse(list);
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[0].desc, "INDEX");
        assert_eq!(entries[0].object_oid, 16402);
        assert_eq!(entries[1].desc, "CONSTRAINT");
        assert_eq!(entries[2].desc, "FK CONSTRAINT");
        assert_eq!(entries[3].desc, "INDEX ATTACH");
        assert_eq!(entries[4].dump_id, 3224);
        assert_eq!(dump_id("; comment"), None);
    }

    #[test]
    fn schemas_are_the_namespaces_and_schema_entries() {
        let list = ";\n\
            5; 2615 16385 SCHEMA - app owner\n\
            3345; 0 0 ACL - SCHEMA public pg_database_owner\n\
            220; 1259 16402 TABLE app orders owner\n\
            221; 1259 16410 FK CONSTRAINT billing orders orders_fk owner\n\
            2; 3079 16384 EXTENSION - pgcrypto\n";
        let found: Vec<String> = schemas(list).into_iter().collect();
        assert_eq!(found, vec!["app".to_owned(), "billing".to_owned()]);
    }
}
