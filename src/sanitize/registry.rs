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
}
