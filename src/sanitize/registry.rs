//! Looking up the built-in rules. The list itself is declared once, module and rules on one
//! line, in `builtin/mod.rs`: a new rule is a file under `builtin/` plus that line.

use super::builtin::RULES;
use super::Rule;

/// Every built-in rule, in the order `restage rules list` prints them.
pub fn all() -> &'static [&'static dyn Rule] {
    RULES
}

/// The rule called `name`.
pub fn lookup(name: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.spec().name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_examples_name_their_rule() {
        let mut names: Vec<_> = all().iter().map(|r| r.spec().name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate rule names");
        for rule in all() {
            let spec = rule.spec();
            assert!(
                spec.example.contains(spec.name),
                "{}: example does not use the rule",
                spec.name
            );
            assert!(lookup(spec.name).is_some());
        }
        assert!(lookup("no_such_rule").is_none());
    }

    /// Arbitrary bytes (malformed binary input) give an error or a value, never a panic, for
    /// every rule on every class it accepts, scalar and array.
    #[test]
    fn malformed_input_never_panics() {
        use crate::sanitize::oids;
        use crate::sanitize::spec::{Ctx, TypeClass};
        use crate::sanitize::testing::{column, key};
        let k = key();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let inputs: Vec<Vec<u8>> = (0..300)
            .map(|i| (0..(i % 41)).map(|_| next() as u8).collect())
            .chain([
                vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 2, 0, 0, 0, 1],
                vec![
                    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1,
                ],
                vec![0, 2, 0x7f, 0xff, 0, 0, 0x3f, 0xff, 0x27, 0x0f, 0, 1],
                b"\x01{\"a\": [1, \"x\"]}".to_vec(),
            ])
            .collect();
        let mut built = 0;
        for rule in all() {
            let spec = rule.spec();
            let line: toml::Table = spec.example.parse().unwrap_or_default();
            let entry = match line.values().next() {
                Some(toml::Value::Table(t)) => t.clone(),
                _ => {
                    let mut t = toml::Table::new();
                    t.insert("rule".into(), toml::Value::String(spec.name.into()));
                    t
                }
            };
            for class in spec.accepts {
                let oids: &[u32] = match class {
                    TypeClass::Integer => &[oids::INT2, oids::INT4, oids::INT8],
                    TypeClass::Numeric => &[oids::NUMERIC, oids::FLOAT4, oids::FLOAT8],
                    TypeClass::Json => &[oids::JSON, oids::JSONB],
                    TypeClass::Inet => &[oids::INET, oids::CIDR],
                    TypeClass::Timestamp => &[oids::TIMESTAMP],
                    TypeClass::Date => &[oids::DATE],
                    TypeClass::Uuid => &[oids::UUID],
                    TypeClass::Bool => &[oids::BOOL],
                    TypeClass::Bytea => &[oids::BYTEA],
                    _ => &[oids::TEXT],
                };
                for &oid in oids {
                    for array in [false, true] {
                        let mut col = column(*class, oid);
                        col.array = array;
                        let mut row = vec![col.clone()];
                        for other in ["id", "first_name", "last_name"] {
                            let mut c = column(TypeClass::Text, oids::TEXT);
                            c.name = other.into();
                            row.push(c);
                        }
                        let Ok(s) = crate::sanitize::build_column(&entry, &col, &row, "d") else {
                            continue;
                        };
                        built += 1;
                        let ctx = Ctx { key: &k, row: None };
                        for input in &inputs {
                            let mut out = Vec::new();
                            let _ = s.sanitize(Some(input), &ctx, &mut out);
                        }
                    }
                }
            }
        }
        assert!(built > 80, "only {built} sanitizers built");
    }

    /// Every example line is valid TOML that builds on a column of the first accepted class.
    #[test]
    fn examples_build() {
        use crate::sanitize::oids;
        use crate::sanitize::spec::TypeClass;
        use crate::sanitize::testing::column;
        let oid = |c: TypeClass| match c {
            TypeClass::Text => oids::TEXT,
            TypeClass::Integer => oids::INT4,
            TypeClass::Numeric => oids::NUMERIC,
            TypeClass::Date => oids::DATE,
            TypeClass::Timestamp => oids::TIMESTAMP,
            TypeClass::Bool => oids::BOOL,
            TypeClass::Uuid => oids::UUID,
            TypeClass::Json => oids::JSONB,
            TypeClass::Bytea => oids::BYTEA,
            TypeClass::Inet => oids::INET,
            TypeClass::Enum | TypeClass::Other => 90_000,
        };
        for rule in all() {
            let spec = rule.spec();
            let line: toml::Table = match spec.example.parse() {
                Ok(t) => t,
                Err(e) => panic!("{}: example is not TOML: {e}", spec.name),
            };
            let Some((name, value)) = line.iter().next() else {
                panic!("{}: empty example", spec.name)
            };
            let entry = match value {
                toml::Value::String(r) => {
                    let mut t = toml::Table::new();
                    t.insert("rule".into(), toml::Value::String(r.clone()));
                    t
                }
                toml::Value::Table(t) => t.clone(),
                _ => panic!(
                    "{}: example entry is neither a string nor a table",
                    spec.name
                ),
            };
            let class = spec.accepts[0];
            let mut col = column(class, oid(class));
            col.name = name.clone();
            if class == TypeClass::Other {
                // A composite type, as examples of composite rules need one.
                col.fields = ["street", "city", "zip"]
                    .iter()
                    .map(|f| {
                        let mut c = column(TypeClass::Text, oids::TEXT);
                        c.name = (*f).into();
                        c
                    })
                    .collect();
            }
            let mut row = vec![col.clone()];
            for other in ["id", "first_name", "last_name"] {
                let mut c = column(TypeClass::Text, oids::TEXT);
                c.name = other.into();
                row.push(c);
            }
            if let Err(e) = crate::sanitize::build_column(&entry, &col, &row, "d") {
                panic!("{}: example does not build: {e:?}", spec.name);
            }
        }
    }
}
