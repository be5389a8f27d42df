//! Built-in rules, one per file. Each declares its `RuleSpec` and carries its own tests.
//!
//! A new rule is its file plus one line in the `rules!` list below, which declares the module
//! and registers its rules in `restage rules list` order.

use super::Rule;

/// Declares each rule module and lists its rules, in order, in `RULES`.
macro_rules! rules {
    ($($module:ident: $($rule:ident),+;)+) => {
        $(pub mod $module;)+

        /// Every built-in rule, in the order `restage rules list` prints them.
        pub(super) static RULES: &[&dyn Rule] = &[$($(&$module::$rule,)+)+];
    };
}

rules! {
    keep: Keep;
    null: Null;
    constant: Constant;
    hash: Hash;
    email: Email;
    names: PersonName, FirstName, LastName;
    phone: Phone;
    format_preserve: FormatPreserve;
    mask: Mask;
    lorem: Lorem;
    date_shift: DateShift;
    number_noise: NumberNoise;
    int_range: IntRange;
    uuid: Uuid;
    ip: Ip;
    json: Json;
    composite: Composite;
    scrub: Scrub;
    template: Template;
    choice: Choice;
    regex_replace: RegexReplace;
    address: Address, Street, City, Postcode, Country;
    internet: Company, Username, Url;
    finance: CreditCard, Iban;
}

// Helpers shared by the rules, not rules themselves.
pub mod util;
pub mod words;
