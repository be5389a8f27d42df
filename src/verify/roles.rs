//! What each rule means to `verify`: which sanitized columns can be compared value for value,
//! whose production values are looked for elsewhere in the target, and how each column of the
//! target is swept.

use crate::catalog::{SourceCatalog, Table};
use crate::rules::{ColumnDecision, Resolution};
use crate::sanitize::spec::TypeClass;

use super::sweep::{self, Look, NeedleSource};

/// Rules whose output shares the original's range by design (a shifted date may equal another
/// row's date; a choice from a list may pick the original): value equality says nothing about
/// a leak there, so they are listed but not scanned.
pub(super) const RANGE_PRESERVING: &[&str] = &["choice", "constant", "int_range", "number_noise"];

/// Rules drawing from small sets of realistic values (first names, cities): another row's real
/// value turns up by chance, so without a kept primary key to compare row by row they are
/// not scanned either.
pub(super) const SMALL_OUTPUT_DOMAIN: &[&str] = &[
    "first_name",
    "last_name",
    "city",
    "country",
    "postcode",
    "date_shift",
];

/// Rules whose output is wholly generated (nothing of the original survives in it): their
/// columns are not swept for other columns' production values (a fake name may equal a real
/// one by chance), and their production values are what the sweep looks for elsewhere.
const WHOLE_VALUE: &[&str] = &[
    "null",
    "constant",
    "hash",
    "email",
    "person_name",
    "first_name",
    "last_name",
    "phone",
    "lorem",
    "date_shift",
    "number_noise",
    "int_range",
    "uuid",
    "ip",
    "choice",
    "address",
    "street",
    "city",
    "postcode",
    "country",
    "company",
    "username",
    "url",
    "credit_card",
    "iban",
];

/// A keyed permutation of the column's whole range (`hash` on integers, `ip`): the target
/// holds the same set of values as the source, so a value found in both says nothing; only a
/// row keeping its own value does.
pub(super) fn permutes(rule: &str, class: Option<TypeClass>) -> bool {
    rule == "ip" || (rule == "hash" && class == Some(TypeClass::Integer))
}

/// The rule class of a source column (None if the catalog does not have it).
pub(super) fn class_of(
    catalog: &SourceCatalog,
    table: &Table,
    decision: &ColumnDecision,
) -> Option<TypeClass> {
    let col = table.columns.iter().find(|c| c.name == decision.column)?;
    Some(crate::rules::column_info(table, col, &catalog.types).class)
}

/// The rule of a decided column, unless a `when` makes it keep some values.
pub(super) fn whole_value_rule(decision: &ColumnDecision) -> Option<&str> {
    let decided = decision.decided.as_ref()?;
    let rule = decided.entry.rule();
    (WHOLE_VALUE.contains(&rule) && !decided.entry.spec.contains_key("when")).then_some(rule)
}

/// Sanitized columns whose production values must not turn up anywhere in the target: those
/// whose rule rewrites the whole value into a space of its own. Values that another row's
/// output may equal by design (ranges, small lists, permutations) are not looked for.
pub(super) fn needle_sources(
    catalog: &SourceCatalog,
    tables: &[Table],
    resolution: &Resolution,
) -> Vec<NeedleSource> {
    let mut out = Vec::new();
    for table in tables {
        let Some(decisions) = resolution.table(table.oid) else {
            continue;
        };
        for decision in &decisions.columns {
            let Some(rule) = whole_value_rule(decision) else {
                continue;
            };
            let Some(col) = table.columns.iter().find(|c| c.name == decision.column) else {
                continue;
            };
            let info = crate::rules::column_info(table, col, &catalog.types);
            if RANGE_PRESERVING.contains(&rule)
                || SMALL_OUTPUT_DOMAIN.contains(&rule)
                || permutes(rule, Some(info.class))
            {
                continue;
            }
            out.push(NeedleSource {
                table: table.qualified(),
                column: decision.column.clone(),
                array: info.array,
            });
        }
    }
    out
}

/// How a target column is swept, from the decision for it (None: the rules do not know it).
pub(super) fn look(
    decision: Option<&ColumnDecision>,
    column: &sweep::TargetColumn,
    derived: bool,
) -> Look {
    if derived || column.generated {
        // Computed on the target from sanitized and kept columns: it can only repeat what
        // those hold, but a production value copied into it is a leak all the same.
        return Look {
            needles: true,
            shapes: false,
        };
    }
    match decision {
        None => Look {
            needles: true,
            shapes: column.textual,
        },
        Some(d) if d.passes_through() => Look {
            needles: true,
            shapes: column.textual,
        },
        Some(d) if whole_value_rule(d).is_some() => Look {
            needles: false,
            shapes: false,
        },
        // json paths, templates, masks, regex replacements, `when` branches: the rest of
        // the value is the original's.
        Some(_) => Look {
            needles: true,
            shapes: false,
        },
    }
}

/// Mail domains the rules files give the `email` rule: addresses there are generated.
pub(super) fn mail_domains(resolution: &Resolution) -> Vec<String> {
    resolution
        .tables
        .iter()
        .flat_map(|t| &t.columns)
        .filter_map(|c| c.decided.as_ref())
        .filter_map(|d| d.entry.spec.get("mail_domain"))
        .filter_map(toml::Value::as_str)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Origin;
    use crate::rules::{Decided, Entry};
    use sweep::TargetColumn;

    fn decision(rule: &str, when: bool) -> ColumnDecision {
        let mut spec = toml::Table::new();
        spec.insert("rule".into(), rule.into());
        if when {
            spec.insert("when".into(), toml::Value::Array(Vec::new()));
        }
        ColumnDecision {
            column: "c".into(),
            type_name: "text".into(),
            decided: Some(Decided {
                entry: Entry {
                    spec,
                    file: "rules.toml".into(),
                    offset: 0,
                    line: 1,
                    column: 1,
                },
                domain: rule.into(),
                origin: Origin::Explicit,
            }),
            marked: None,
        }
    }

    fn text_column(generated: bool) -> TargetColumn {
        TargetColumn {
            name: "c".into(),
            textual: true,
            bytea: false,
            generated,
        }
    }

    #[test]
    fn kept_columns_are_searched_for_everything_rewritten_ones_for_nothing() {
        let col = text_column(false);
        let all = Look {
            needles: true,
            shapes: true,
        };
        let needles_only = Look {
            needles: true,
            shapes: false,
        };
        let nothing = Look {
            needles: false,
            shapes: false,
        };
        assert_eq!(look(None, &col, false), all);
        assert_eq!(look(Some(&decision("keep", false)), &col, false), all);
        assert_eq!(look(Some(&decision("email", false)), &col, false), nothing);
        // The rest of the value is the original's, or some values are kept on purpose.
        assert_eq!(
            look(Some(&decision("json", false)), &col, false),
            needles_only
        );
        assert_eq!(
            look(Some(&decision("email", true)), &col, false),
            needles_only
        );
        // Computed on the target from columns that are checked themselves.
        assert_eq!(look(None, &col, true), needles_only);
        assert_eq!(look(None, &text_column(true), false), needles_only);
    }

    #[test]
    fn only_full_range_permutations_give_back_the_same_set() {
        assert!(permutes("hash", Some(TypeClass::Integer)));
        assert!(permutes("ip", Some(TypeClass::Inet)));
        assert!(!permutes("hash", Some(TypeClass::Text)));
        assert!(!permutes("email", Some(TypeClass::Text)));
    }
}
