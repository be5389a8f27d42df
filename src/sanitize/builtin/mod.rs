//! Built-in rules, one per file. Each declares its `RuleSpec` and carries its own tests.

pub mod address;
pub mod choice;
pub mod composite;
pub mod constant;
pub mod date_shift;
pub mod email;
pub mod finance;
pub mod format_preserve;
pub mod hash;
pub mod int_range;
pub mod internet;
pub mod ip;
pub mod json;
pub mod keep;
pub mod lorem;
pub mod mask;
pub mod names;
pub mod null;
pub mod number_noise;
pub mod phone;
pub mod regex_replace;
pub mod scrub;
pub mod template;
pub mod util;
pub mod uuid;
pub mod words;
