//! Rules files: TOML → validated rule set, and the skeleton `restage rules init` writes.

pub mod suggest;
