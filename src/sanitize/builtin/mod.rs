//! Built-in rules, one per file. Each declares its `RuleSpec` and carries its own tests.

pub mod keep;
pub mod null;
