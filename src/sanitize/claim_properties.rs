//! Property tests over every rule of the registry: what `rules list` and `rules explain` state
//! about a rule's output (its length bound and whether it produces NULL) holds for its output.
//!
//! Uniqueness has its own test (`echo_properties::unique_preserving_rules_stay_injective`); this
//! one runs each rule's documented example and defaults on text columns of several lengths and
//! on every type it accepts, with the inputs the echo tests use.

use super::echo_properties::{binary_inputs, entries, oids_of, run, text_inputs};
use super::registry;
use super::spec::*;
use super::testing::column;

/// The bound a rule's declaration promises on a column of `max_chars`, for an `entry`.
fn promised(spec: &RuleSpec, entry: &toml::Table, max_chars: Option<usize>) -> Option<usize> {
    match spec.max_len {
        MaxLen::Unbounded => None,
        MaxLen::Chars(n) => Some(max_chars.map_or(n, |m| m.min(n))),
        MaxLen::SameAsInput => max_chars,
        MaxLen::Param(p) => entry
            .get(p)
            .and_then(toml::Value::as_integer)
            .and_then(|n| usize::try_from(n).ok())
            .or(max_chars),
    }
}

#[test]
fn every_rule_keeps_its_stated_length_and_null_guarantees() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for rule in registry::all() {
        let spec = rule.spec();
        for class in spec.accepts {
            for &oid in oids_of(*class) {
                let lengths: &[Option<usize>] = if *class == TypeClass::Text {
                    &[None, Some(12), Some(40)]
                } else {
                    &[None]
                };
                for &max_chars in lengths {
                    let mut col = column(*class, oid);
                    col.max_chars = max_chars;
                    col.not_null = !spec.may_produce_null;
                    for entry in entries(*rule) {
                        let Ok(s) = super::build_column(&entry, &col, &[col.clone()], "d") else {
                            continue;
                        };
                        let bound = promised(spec, &entry, max_chars);
                        let inputs: Vec<Vec<u8>> = if *class == TypeClass::Text {
                            text_inputs(max_chars.unwrap_or(200))
                                .into_iter()
                                .map(String::into_bytes)
                                .collect()
                        } else {
                            binary_inputs(oid).into_iter().map(|(v, _)| v).collect()
                        };
                        for input in &inputs {
                            checked += 1;
                            let what = || {
                                format!(
                                    "{} {{{}}} on {}{}: {:?}",
                                    spec.name,
                                    entry.to_string().trim().replace('\n', ", "),
                                    col.type_name,
                                    max_chars.map_or(String::new(), |n| format!("({n})")),
                                    String::from_utf8_lossy(input)
                                )
                            };
                            match run(s.as_ref(), input) {
                                Ok((Outcome::Null, _)) if !spec.may_produce_null => {
                                    failures.push(format!("{}: NULL, declared never NULL", what()))
                                }
                                Ok((_, out)) if *class == TypeClass::Text => {
                                    let chars = String::from_utf8_lossy(&out).chars().count();
                                    if bound.is_some_and(|b| chars > b) {
                                        failures.push(format!(
                                            "{}: {chars} characters, declared at most {bound:?}",
                                            what()
                                        ));
                                    }
                                }
                                Ok(_) => {}
                                Err(e) => failures.push(format!("{}: error {e}", what())),
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 10_000, "only {checked} values checked");
    assert!(
        failures.is_empty(),
        "{} broken promises, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
