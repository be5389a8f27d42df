//! Foreign keys in the skeleton. `rules check` gives a referencing column the mapping of the
//! key it references whenever a rule changes that key (`resolve::follow_foreign_keys`), and
//! rejects an entry of its own that differs. So a referencing column gets no entry when the
//! referenced one has a rule, and is left undecided when the referenced one is.

use super::{Entry, Suggestion, TableSection};

/// One column pair of a foreign key, by section (`schema.table` as written) and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLink {
    pub from: (String, String),
    pub to: (String, String),
    /// Same type and modifier on both sides: a rule can follow the key.
    pub same_type: bool,
}

fn find<'a>(sections: &'a [TableSection], at: &(String, String)) -> Option<&'a Suggestion> {
    sections
        .iter()
        .find(|t| t.name == at.0)
        .and_then(|t| t.columns.iter().find(|(c, _)| *c == at.1))
        .map(|(_, s)| s)
}

fn find_mut<'a>(
    sections: &'a mut [TableSection],
    at: &(String, String),
) -> Option<&'a mut Suggestion> {
    sections
        .iter_mut()
        .find(|t| t.name == at.0)
        .and_then(|t| t.columns.iter_mut().find(|(c, _)| *c == at.1))
        .map(|(_, s)| s)
}

/// Rewrites referencing columns after their keys, repeating until chains settle.
pub fn follow_keys(sections: &mut [TableSection], links: &[KeyLink]) {
    for _round in 0..16 {
        let mut changed = false;
        for link in links {
            let Some(referenced) = find(sections, &link.to) else {
                continue;
            };
            let place = format!("{}.{}", link.to.0, link.to.1);
            let new = match &referenced.entry {
                Entry::Rule { rule, .. } | Entry::Follows { rule, .. }
                    if referenced.entry.changes_values() =>
                {
                    if link.same_type {
                        Entry::Follows {
                            references: place,
                            rule: rule.clone(),
                        }
                    } else {
                        Entry::Undecided(format!(
                            "references {place}, whose rule `{rule}` changes its values, but \
                             the two columns' types differ, so the mapping cannot follow the \
                             key: give both the same type, or decide {place} differently"
                        ))
                    }
                }
                Entry::Undecided(_) => Entry::Undecided(format!(
                    "foreign key → {place}, which is undecided: a rule there follows the key \
                     here (then remove this entry); if it is kept, keep this column too"
                )),
                _ => continue,
            };
            let Some(here) = find_mut(sections, &link.from) else {
                continue;
            };
            let settled = match (&here.entry, &new) {
                (Entry::Follows { .. }, Entry::Follows { .. }) => here.entry == new,
                // Already undecided for a reason of its own: that reason stays.
                (Entry::Undecided(_), Entry::Undecided(_)) => true,
                _ => false,
            };
            if !settled {
                if matches!(new, Entry::Undecided(_)) {
                    here.reason = super::UNDECIDED_COMMENT.to_string();
                }
                here.entry = new;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &str, columns: &[(&str, Entry)]) -> TableSection {
        TableSection {
            name: name.into(),
            columns: columns
                .iter()
                .map(|(c, e)| {
                    (
                        c.to_string(),
                        Suggestion {
                            entry: e.clone(),
                            reason: "r".into(),
                            pii: None,
                            findings: Vec::new(),
                            fallbacks: Vec::new(),
                        },
                    )
                })
                .collect(),
            note: None,
        }
    }

    fn link(from: (&str, &str), to: (&str, &str), same_type: bool) -> KeyLink {
        KeyLink {
            from: (from.0.into(), from.1.into()),
            to: (to.0.into(), to.1.into()),
            same_type,
        }
    }

    fn email() -> Entry {
        Entry::Rule {
            rule: "email".into(),
            domain: Some("email".into()),
            params: toml::Table::new(),
        }
    }

    #[test]
    fn referencing_columns_follow_rules_through_chains_and_wait_for_undecided_keys() {
        let mut sections = vec![
            section(
                "public.a",
                &[("email", email()), ("code", Entry::Undecided("x".into()))],
            ),
            section(
                "public.b",
                &[("a_email", Entry::Keep), ("a_code", Entry::Keep)],
            ),
            section(
                "public.c",
                &[("b_email", Entry::Keep), ("other", Entry::Keep)],
            ),
        ];
        let links = [
            link(("public.c", "b_email"), ("public.b", "a_email"), true),
            link(("public.b", "a_email"), ("public.a", "email"), true),
            link(("public.b", "a_code"), ("public.a", "code"), true),
            link(("public.c", "other"), ("public.a", "email"), false),
        ];
        follow_keys(&mut sections, &links);
        let entry = |t: usize, c: usize| sections[t].columns[c].1.entry.clone();
        assert_eq!(
            entry(1, 0),
            Entry::Follows {
                references: "public.a.email".into(),
                rule: "email".into()
            }
        );
        assert_eq!(
            entry(2, 0),
            Entry::Follows {
                references: "public.b.a_email".into(),
                rule: "email".into()
            }
        );
        assert!(
            matches!(entry(1, 1), Entry::Undecided(r) if r.contains("public.a.code, which is undecided"))
        );
        assert!(matches!(entry(2, 1), Entry::Undecided(r) if r.contains("types differ")));
    }
}
