//! Helpers for the rules' unit tests.

use super::spec::*;
use super::Key;

/// A nullable, non-unique, unbounded column of the given class and scalar type.
pub fn column(class: TypeClass, scalar_oid: u32) -> ColumnInfo {
    ColumnInfo {
        table: "public.t".to_string(),
        name: "c".to_string(),
        type_name: class.to_string(),
        class,
        scalar_oid,
        array: false,
        max_chars: None,
        fields: Vec::new(),
        not_null: false,
        unique: false,
        unique_mappings: Default::default(),
    }
}

/// The test key.
pub fn key() -> Key {
    Key::from_secret(b"restage unit tests")
}

/// Runs a sanitizer on one value under the test key, without row access.
pub fn run(s: &dyn ColumnSanitizer, input: Option<&[u8]>) -> (Outcome, Vec<u8>) {
    run_with(s, input, &key())
}

/// Runs a sanitizer on one value under `key`.
pub fn run_with(s: &dyn ColumnSanitizer, input: Option<&[u8]>, key: &Key) -> (Outcome, Vec<u8>) {
    let mut out = Vec::new();
    let ctx = Ctx { key, row: None };
    let outcome = match s.sanitize(input, &ctx, &mut out) {
        Ok(o) => o,
        Err(e) => panic!("sanitize failed: {e}"),
    };
    (outcome, out)
}
