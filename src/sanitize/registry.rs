//! The one list of built-in rules. A new rule is a file under `builtin/` plus one line here.

use super::builtin;
use super::Rule;

static RULES: &[&dyn Rule] = &[
    &builtin::keep::Keep,
    &builtin::null::Null,
    &builtin::constant::Constant,
    &builtin::hash::Hash,
    &builtin::email::Email,
    &builtin::names::PersonName,
    &builtin::names::FirstName,
    &builtin::names::LastName,
    &builtin::phone::Phone,
    &builtin::mask::Mask,
    &builtin::lorem::Lorem,
    &builtin::date_shift::DateShift,
    &builtin::number_noise::NumberNoise,
    &builtin::int_range::IntRange,
    &builtin::uuid::Uuid,
    &builtin::ip::Ip,
    &builtin::json::Json,
    &builtin::template::Template,
    &builtin::choice::Choice,
    &builtin::regex_replace::RegexReplace,
    &builtin::address::Address,
    &builtin::address::Street,
    &builtin::address::City,
    &builtin::address::Postcode,
    &builtin::address::Country,
    &builtin::internet::Company,
    &builtin::internet::Username,
    &builtin::internet::Url,
    &builtin::finance::CreditCard,
    &builtin::finance::Iban,
];

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
