//! Rewriting the type OIDs embedded in binary `array` and `record` values.
//!
//! `array_send` writes the element type OID and `record_send` writes every field's type OID
//! into the value, and the receiving server's `array_recv`/`record_recv` reject a value whose
//! OID differs from its own OID for that type ("wrong element type"). Built-in types have the
//! same OIDs everywhere, but user-defined types (OID >= 16384) are numbered per database, so
//! such values must be rewritten between source and target. The value's size never changes,
//! so the rewrite happens in place.

use std::collections::HashMap;

use super::array::ArrayHeader;
use super::{read_i32, CodecError};

/// OIDs below this are assigned at initdb time and identical in every database; OIDs from
/// here on are user objects, numbered per database.
pub const FIRST_NORMAL_OBJECT_ID: u32 = 16384;

/// Nesting bound for arrays and records inside each other, so a hostile value cannot
/// overflow the stack. Far beyond anything a real schema nests.
const MAX_NESTING: usize = 64;

/// How a type's binary value is laid out, as far as embedded OIDs are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// `array_send` layout: embeds the element type OID.
    Array,
    /// `record_send` layout: embeds each field's type OID.
    Composite,
    /// Anything else: no embedded OIDs.
    Other,
}

/// What the walker needs to know about source-database types.
///
/// For a domain, report the kind of its base type: values travel in the base type's format.
pub trait TypeMap {
    /// The layout of values of the source type `source_oid`; unknown OIDs are `Other`.
    fn kind(&self, source_oid: u32) -> TypeKind;
    /// The OID the target database uses for the source type, if it must be rewritten.
    fn target_oid(&self, source_oid: u32) -> Option<u32>;
}

/// A [`TypeMap`] backed by two hash maps, filled from the two catalogs.
#[derive(Debug, Clone, Default)]
pub struct SimpleTypeMap {
    kinds: HashMap<u32, TypeKind>,
    targets: HashMap<u32, u32>,
}

impl SimpleTypeMap {
    /// An empty map: every type is `Other` and unmapped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the layout of a source type (`Other` needs no entry).
    pub fn set_kind(&mut self, source_oid: u32, kind: TypeKind) -> &mut Self {
        self.kinds.insert(source_oid, kind);
        self
    }

    /// Records the target database's OID for a source type.
    pub fn set_target(&mut self, source_oid: u32, target_oid: u32) -> &mut Self {
        self.targets.insert(source_oid, target_oid);
        self
    }
}

impl TypeMap for SimpleTypeMap {
    fn kind(&self, source_oid: u32) -> TypeKind {
        self.kinds
            .get(&source_oid)
            .copied()
            .unwrap_or(TypeKind::Other)
    }

    fn target_oid(&self, source_oid: u32) -> Option<u32> {
        self.targets.get(&source_oid).copied()
    }
}

/// Rewrites, in place, every type OID embedded in a binary value whose top-level layout is
/// `top`, recursing into elements and fields by the OIDs found in the data.
///
/// Every OID the map has a target for is overwritten; a user-defined OID (>= 16384) without
/// one is [`CodecError::UnmappedTypeOid`]. Structural problems (truncation, bad counts,
/// trailing bytes) are [`CodecError::MalformedValue`] with the offset in `value`; nothing
/// here panics on malformed input.
pub fn remap_value_oids(
    value: &mut [u8],
    top: TypeKind,
    map: &dyn TypeMap,
) -> Result<(), CodecError> {
    let mut walker = Walker { buf: value, map };
    let end = walker.value(0, walker.buf.len(), top, 0)?;
    if end != walker.buf.len() {
        return Err(malformed(end, "trailing bytes after the value"));
    }
    Ok(())
}

fn malformed(offset: usize, reason: &'static str) -> CodecError {
    CodecError::MalformedValue { offset, reason }
}

/// Walks one value buffer; every read is bounded by the end of the enclosing value.
struct Walker<'a> {
    buf: &'a mut [u8],
    map: &'a dyn TypeMap,
}

impl Walker<'_> {
    /// Walks the value occupying `pos..end` and returns where it stopped reading.
    fn value(
        &mut self,
        pos: usize,
        end: usize,
        kind: TypeKind,
        depth: usize,
    ) -> Result<usize, CodecError> {
        if depth > MAX_NESTING {
            return Err(malformed(pos, "arrays/records nested too deeply"));
        }
        match kind {
            TypeKind::Array => self.array(pos, end, depth),
            TypeKind::Composite => self.record(pos, end, depth),
            TypeKind::Other => Ok(end),
        }
    }

    /// `int32 ndim, int32 flags, int32 elemtype, ndim × (int32 dim, int32 lbound)`, then the
    /// elements.
    fn array(&mut self, pos: usize, end: usize, depth: usize) -> Result<usize, CodecError> {
        let header =
            ArrayHeader::read(self.buf, pos, end).map_err(|(at, why)| malformed(at, why))?;
        let elem_oid = self.remap_oid(pos + 8, end)?;
        let mut at = pos + header.len;
        let elem_kind = self.map.kind(elem_oid);
        for _ in 0..header.elements {
            at = self.element(at, end, elem_kind, depth)?;
        }
        Ok(at)
    }

    /// `int32 nfields`, then per field `int32 type OID, int32 len or -1, bytes`.
    fn record(&mut self, pos: usize, end: usize, depth: usize) -> Result<usize, CodecError> {
        let nfields = self.read(pos, end, "record field count missing")?;
        let nfields =
            usize::try_from(nfields).map_err(|_| malformed(pos, "negative record field count"))?;
        let mut at = pos + 4;
        for _ in 0..nfields {
            let field_oid = self.remap_oid(at, end)?;
            at = self.element(at + 4, end, self.map.kind(field_oid), depth)?;
        }
        Ok(at)
    }

    /// `int32 len or -1, bytes`; walks the bytes as `kind`, which must fill them exactly.
    fn element(
        &mut self,
        at: usize,
        end: usize,
        kind: TypeKind,
        depth: usize,
    ) -> Result<usize, CodecError> {
        let len = self.read(at, end, "element length missing")?;
        let start = at + 4;
        if len == -1 {
            return Ok(start);
        }
        let len = usize::try_from(len).map_err(|_| malformed(at, "invalid element length"))?;
        let elem_end = start
            .checked_add(len)
            .filter(|&e| e <= end)
            .ok_or_else(|| malformed(at, "element extends past the end of the value"))?;
        let stop = self.value(start, elem_end, kind, depth + 1)?;
        if stop != elem_end {
            return Err(malformed(stop, "trailing bytes inside an element"));
        }
        Ok(elem_end)
    }

    /// Reads the OID at `at`, overwrites it with the target's OID if mapped, and returns the
    /// source OID (layout lookups use source OIDs).
    fn remap_oid(&mut self, at: usize, end: usize) -> Result<u32, CodecError> {
        let oid = self.read(at, end, "type OID missing")? as u32;
        match self.map.target_oid(oid) {
            Some(target) => {
                if let Some(word) = self.buf.get_mut(at..at + 4) {
                    word.copy_from_slice(&target.to_be_bytes());
                }
            }
            None if oid >= FIRST_NORMAL_OBJECT_ID => return Err(CodecError::UnmappedTypeOid(oid)),
            None => {}
        }
        Ok(oid)
    }

    /// Reads an int32 at `at` that must end by `end`; `missing` names it in the error.
    fn read(&self, at: usize, end: usize, missing: &'static str) -> Result<i32, CodecError> {
        if at.checked_add(4).is_none_or(|e| e > end) {
            return Err(malformed(at, missing));
        }
        read_i32(self.buf, at).ok_or_else(|| malformed(at, missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a binary array value (`array_send` layout).
    fn array(elem_oid: u32, dims: &[i32], elems: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(dims.len() as i32).to_be_bytes());
        v.extend_from_slice(&i32::from(elems.iter().any(Option::is_none)).to_be_bytes());
        v.extend_from_slice(&elem_oid.to_be_bytes());
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
            v.extend_from_slice(&1i32.to_be_bytes());
        }
        for e in elems {
            push_len_value(&mut v, e.as_deref());
        }
        v
    }

    /// Builds a binary record value (`record_send` layout).
    fn record(fields: &[(u32, Option<Vec<u8>>)]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(fields.len() as i32).to_be_bytes());
        for (oid, value) in fields {
            v.extend_from_slice(&oid.to_be_bytes());
            push_len_value(&mut v, value.as_deref());
        }
        v
    }

    fn push_len_value(v: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            None => v.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                v.extend_from_slice(&(b.len() as i32).to_be_bytes());
                v.extend_from_slice(b);
            }
        }
    }

    const INT4: u32 = 23;
    const TEXT: u32 = 25;
    const INT4_ARRAY: u32 = 1007;

    // Source OIDs of user types and the target OIDs they get.
    const MOOD: u32 = 16390; // an enum
    const INNER: u32 = 16400; // composite (mood, int4[])
    const INNER_ARRAY: u32 = 16401;
    const OUTER: u32 = 16410; // composite (int4, inner[], text)
    const OUTER_ARRAY: u32 = 16411;

    fn target(oid: u32) -> u32 {
        oid + 1000
    }

    fn type_map() -> SimpleTypeMap {
        let mut m = SimpleTypeMap::new();
        m.set_kind(INT4_ARRAY, TypeKind::Array)
            .set_kind(INNER, TypeKind::Composite)
            .set_kind(INNER_ARRAY, TypeKind::Array)
            .set_kind(OUTER, TypeKind::Composite)
            .set_kind(OUTER_ARRAY, TypeKind::Array);
        for oid in [MOOD, INNER, INNER_ARRAY, OUTER, OUTER_ARRAY] {
            m.set_target(oid, target(oid));
        }
        m
    }

    /// outer[] = {(1, {(happy, {1,2}), NULL}, 'x'), NULL, (NULL, {}, NULL)} with OIDs from
    /// `oid`.
    fn nested(oid: impl Fn(u32) -> u32) -> Vec<u8> {
        let ints = array(
            INT4,
            &[2],
            &[
                Some(1i32.to_be_bytes().to_vec()),
                Some(2i32.to_be_bytes().to_vec()),
            ],
        );
        let inner = record(&[
            (oid(MOOD), Some(b"happy".to_vec())),
            (INT4_ARRAY, Some(ints)),
        ]);
        let inners = array(oid(INNER), &[2], &[Some(inner), None]);
        let empty_inners = array(oid(INNER), &[], &[]);
        let outer1 = record(&[
            (INT4, Some(1i32.to_be_bytes().to_vec())),
            (oid(INNER_ARRAY), Some(inners)),
            (TEXT, Some(b"x".to_vec())),
        ]);
        let outer2 = record(&[
            (INT4, None),
            (oid(INNER_ARRAY), Some(empty_inners)),
            (TEXT, None),
        ]);
        array(oid(OUTER), &[3], &[Some(outer1), None, Some(outer2)])
    }

    #[test]
    fn remaps_nested_array_of_composites() {
        let mut value = nested(|o| o);
        let want = nested(target);
        assert_ne!(value, want);
        remap_value_oids(&mut value, TypeKind::Array, &type_map()).unwrap();
        assert_eq!(value, want);
    }

    #[test]
    fn remaps_top_level_composite() {
        let mut value = record(&[(MOOD, Some(b"sad".to_vec())), (INT4, None)]);
        remap_value_oids(&mut value, TypeKind::Composite, &type_map()).unwrap();
        assert_eq!(
            value,
            record(&[(target(MOOD), Some(b"sad".to_vec())), (INT4, None)])
        );
    }

    #[test]
    fn other_values_are_untouched() {
        let mut value = b"\x00\x00\x40\x06 anything".to_vec();
        let before = value.clone();
        remap_value_oids(&mut value, TypeKind::Other, &type_map()).unwrap();
        assert_eq!(value, before);
    }

    #[test]
    fn builtin_oids_need_no_mapping() {
        let mut value = array(INT4, &[1], &[Some(7i32.to_be_bytes().to_vec())]);
        let before = value.clone();
        remap_value_oids(&mut value, TypeKind::Array, &SimpleTypeMap::new()).unwrap();
        assert_eq!(value, before);
    }

    #[test]
    fn unmapped_user_oid_is_an_error() {
        let mut value = array(16999, &[1], &[None]);
        assert_eq!(
            remap_value_oids(&mut value, TypeKind::Array, &type_map()),
            Err(CodecError::UnmappedTypeOid(16999))
        );
        // Nested, in a record field.
        let mut value = nested(|o| if o == MOOD { 17000 } else { o });
        assert_eq!(
            remap_value_oids(&mut value, TypeKind::Array, &type_map()),
            Err(CodecError::UnmappedTypeOid(17000))
        );
    }

    /// `SELECT ARRAY[ROW('Main St', 12345, ARRAY[1,2])::addr, NULL, ROW(NULL, 7, NULL)::addr]`
    /// as PostgreSQL 15 sent it in a binary COPY, with `addr` = OID 16386.
    const CAPTURED_ADDR_ARRAY: &str = "0000000100000001000040020000000300000001\
        0000004b0000000300000019000000074d61696e205374000000170000000400003039000003ef00000024\
        000000010000000000000017000000020000000100000004000000010000000400000002\
        ffffffff\
        000000200000000300000019ffffffff000000170000000400000007000003efffffffff";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn remaps_a_value_postgres_produced() {
        let mut value = unhex(CAPTURED_ADDR_ARRAY);
        let before = value.clone();
        let mut map = SimpleTypeMap::new();
        map.set_kind(16386, TypeKind::Composite)
            .set_kind(INT4_ARRAY, TypeKind::Array)
            .set_target(16386, 20001);
        remap_value_oids(&mut value, TypeKind::Array, &map).unwrap();
        // Only the element type OID changes; every nested OID is built in.
        assert_eq!(&value[8..12], &20001u32.to_be_bytes());
        assert_eq!(value[..8], before[..8]);
        assert_eq!(value[12..], before[12..]);
    }

    fn malformed_reason(value: &mut [u8], top: TypeKind) -> &'static str {
        match remap_value_oids(value, top, &type_map()) {
            Err(CodecError::MalformedValue { reason, .. }) => reason,
            other => panic!("expected MalformedValue, got {other:?}"),
        }
    }

    #[test]
    fn malformed_arrays() {
        let good = array(INT4, &[2], &[Some(vec![0; 4]), None]);
        assert_eq!(
            malformed_reason(&mut good[..6].to_vec(), TypeKind::Array),
            "array flags missing"
        );
        assert_eq!(
            malformed_reason(&mut good[..10].to_vec(), TypeKind::Array),
            "type OID missing"
        );
        assert_eq!(
            malformed_reason(&mut good[..14].to_vec(), TypeKind::Array),
            "array dimension missing"
        );
        assert_eq!(
            malformed_reason(&mut good[..18].to_vec(), TypeKind::Array),
            "array lower bound missing"
        );
        assert_eq!(
            malformed_reason(&mut good[..good.len() - 2].to_vec(), TypeKind::Array),
            "element length missing"
        );
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(
            malformed_reason(&mut extra, TypeKind::Array),
            "trailing bytes after the value"
        );

        let mut v = good.clone();
        v[..4].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Array),
            "invalid array dimension count"
        );
        v[..4].copy_from_slice(&7i32.to_be_bytes());
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Array),
            "invalid array dimension count"
        );

        let mut v = good.clone();
        v[12..16].copy_from_slice(&(-3i32).to_be_bytes());
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Array),
            "negative array dimension"
        );

        let mut v = good.clone();
        v[20..24].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Array),
            "invalid element length"
        );
        v[20..24].copy_from_slice(&100i32.to_be_bytes());
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Array),
            "element extends past the end of the value"
        );
    }

    #[test]
    fn huge_dimensions_do_not_overflow() {
        let mut v = array(INT4, &[i32::MAX; 6], &[]);
        assert_eq!(malformed_reason(&mut v, TypeKind::Array), "array too large");
        // Many elements claimed, none present.
        let mut v = array(INT4, &[i32::MAX], &[]);
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Array),
            "element length missing"
        );
    }

    #[test]
    fn malformed_records() {
        let mut v = record(&[(INT4, Some(vec![0; 4]))]);
        v[..4].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Composite),
            "negative record field count"
        );
        assert_eq!(
            malformed_reason(&mut [0, 0], TypeKind::Composite),
            "record field count missing"
        );
        let mut v = record(&[(INT4, Some(vec![0; 4]))]);
        v[..4].copy_from_slice(&2i32.to_be_bytes());
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Composite),
            "type OID missing"
        );
    }

    #[test]
    fn element_must_fill_its_length() {
        // A composite element with a stray byte inside its declared length.
        let mut inner = record(&[(INT4, None)]);
        inner.push(0);
        let mut v = array(INNER, &[1], &[Some(inner)]);
        assert_eq!(
            malformed_reason(&mut v, TypeKind::Array),
            "trailing bytes inside an element"
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut map = SimpleTypeMap::new();
        map.set_kind(INT4_ARRAY, TypeKind::Array);
        let mut v = array(INT4, &[], &[]);
        for _ in 0..100 {
            v = array(INT4_ARRAY, &[1], &[Some(v)]);
        }
        assert!(matches!(
            remap_value_oids(&mut v, TypeKind::Array, &map),
            Err(CodecError::MalformedValue {
                reason: "arrays/records nested too deeply",
                ..
            })
        ));
    }

    /// Every truncation and every single-bit flip of a valid nested value must yield Ok or an
    /// error, never a panic.
    #[test]
    fn corrupted_values_never_panic() {
        let good = nested(|o| o);
        let map = type_map();
        for len in 0..good.len() {
            let mut v = good[..len].to_vec();
            assert!(
                remap_value_oids(&mut v, TypeKind::Array, &map).is_err(),
                "prefix {len}"
            );
        }
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut v = good.clone();
                v[byte] ^= 1 << bit;
                let _ = remap_value_oids(&mut v, TypeKind::Array, &map);
                let _ = remap_value_oids(&mut v, TypeKind::Composite, &map);
            }
        }
    }
}
