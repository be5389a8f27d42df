//! Type structure needed to rewrite the type OIDs that binary arrays and records embed.
//!
//! PostgreSQL's `array_recv` and `record_recv` reject a value whose embedded element or field
//! type OID differs from the receiving column's. Built-in types have fixed OIDs, but
//! user-defined ones (enums, domains, composites, their arrays) get new OIDs in the target, so
//! their OIDs are mapped by qualified name.

use std::collections::{HashMap, HashSet};

/// OIDs below this are assigned at initdb and identical in every cluster.
pub const FIRST_NORMAL_OID: u32 = 16384;

#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub schema: String,
    pub name: String,
    pub is_array: bool,
    pub is_composite: bool,
    pub is_domain: bool,
    pub is_enum: bool,
    /// Element type of an array.
    pub elem: u32,
    /// Base type of a domain.
    pub base: u32,
    /// Field types of a composite, in wire order.
    pub fields: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct TypeCatalog {
    types: HashMap<u32, TypeInfo>,
    /// Field names of composites, in the order of `TypeInfo::fields`.
    field_names: HashMap<u32, Vec<String>>,
}

/// Structural kind of a type for walking binary values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Array,
    Composite,
    Other,
}

impl TypeCatalog {
    pub fn insert(&mut self, oid: u32, info: TypeInfo) {
        self.types.insert(oid, info);
    }

    pub fn push_field(&mut self, composite: u32, field_type: u32) {
        if let Some(t) = self.types.get_mut(&composite) {
            t.fields.push(field_type);
        }
    }

    /// Appends a named field to a composite (names let rules address fields).
    pub fn push_named_field(&mut self, composite: u32, name: String, field_type: u32) {
        if self.types.contains_key(&composite) {
            self.push_field(composite, field_type);
            self.field_names.entry(composite).or_default().push(name);
        }
    }

    /// `(name, type OID)` of each field of a composite, in wire order (empty otherwise).
    pub fn named_fields(&self, composite: u32) -> Vec<(&str, u32)> {
        let (Some(t), Some(names)) = (self.types.get(&composite), self.field_names.get(&composite))
        else {
            return Vec::new();
        };
        names
            .iter()
            .map(String::as_str)
            .zip(t.fields.iter().copied())
            .collect()
    }

    /// Every known type OID.
    pub fn oids(&self) -> impl Iterator<Item = u32> + '_ {
        self.types.keys().copied()
    }

    pub fn get(&self, oid: u32) -> Option<&TypeInfo> {
        self.types.get(&oid)
    }

    /// The shape of a value of this type on the wire (domains look like their base type).
    pub fn shape(&self, oid: u32) -> Shape {
        let mut oid = oid;
        for _ in 0..32 {
            match self.types.get(&oid) {
                Some(t) if t.is_domain => oid = t.base,
                Some(t) if t.is_array => return Shape::Array,
                Some(t) if t.is_composite => return Shape::Composite,
                _ => return Shape::Other,
            }
        }
        Shape::Other
    }

    /// What a value of this type really is: (scalar type OID after unwrapping domains and one
    /// array level, whether it is an array, whether the scalar is an enum).
    pub fn resolve(&self, oid: u32) -> (u32, bool, bool) {
        let mut oid = self.unwrap_domain(oid);
        let mut array = false;
        if let Some(t) = self.types.get(&oid) {
            if t.is_array {
                array = true;
                oid = self.unwrap_domain(t.elem);
            }
        }
        let is_enum = self.types.get(&oid).is_some_and(|t| t.is_enum);
        (oid, array, is_enum)
    }

    fn unwrap_domain(&self, oid: u32) -> u32 {
        let mut oid = oid;
        for _ in 0..32 {
            match self.types.get(&oid) {
                Some(t) if t.is_domain => oid = t.base,
                _ => break,
            }
        }
        oid
    }

    /// Whether binary values of this type carry a user-defined type OID somewhere inside.
    pub fn embeds_user_oids(&self, oid: u32) -> bool {
        self.embeds(oid, &mut HashSet::new())
    }

    fn embeds(&self, oid: u32, seen: &mut HashSet<u32>) -> bool {
        if !seen.insert(oid) {
            return false;
        }
        let Some(t) = self.types.get(&oid) else {
            return false;
        };
        if t.is_domain {
            return self.embeds(t.base, seen);
        }
        if t.is_array {
            return t.elem >= FIRST_NORMAL_OID || self.embeds(t.elem, seen);
        }
        if t.is_composite {
            return t
                .fields
                .iter()
                .any(|&f| f >= FIRST_NORMAL_OID || self.embeds(f, seen));
        }
        false
    }

    /// Source OID → target OID for every user-defined type, matched by schema and name.
    /// `target` lists the target's user-defined types as (oid, schema, name).
    pub fn oid_map(&self, target: &[(u32, String, String)]) -> HashMap<u32, u32> {
        let by_name: HashMap<(&str, &str), u32> = target
            .iter()
            .map(|(oid, s, n)| ((s.as_str(), n.as_str()), *oid))
            .collect();
        self.types
            .iter()
            .filter(|(oid, _)| **oid >= FIRST_NORMAL_OID)
            .filter_map(|(oid, t)| {
                by_name
                    .get(&(t.schema.as_str(), t.name.as_str()))
                    .map(|target_oid| (*oid, *target_oid))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> TypeInfo {
        TypeInfo {
            schema: "public".into(),
            name: name.into(),
            is_array: false,
            is_composite: false,
            is_domain: false,
            is_enum: false,
            elem: 0,
            base: 0,
            fields: Vec::new(),
        }
    }

    fn sample() -> TypeCatalog {
        let mut c = TypeCatalog::default();
        // int4[] is built in and embeds only built-in OIDs.
        c.insert(
            1007,
            TypeInfo {
                is_array: true,
                elem: 23,
                ..info("_int4")
            },
        );
        c.insert(20000, info("mood")); // an enum
        c.insert(
            20001,
            TypeInfo {
                is_array: true,
                elem: 20000,
                ..info("_mood")
            },
        );
        c.insert(
            20002,
            TypeInfo {
                is_composite: true,
                fields: vec![23, 1007],
                ..info("pair")
            },
        );
        c.insert(
            20003,
            TypeInfo {
                is_domain: true,
                base: 20001,
                ..info("moods")
            },
        );
        c
    }

    #[test]
    fn arrays_of_user_types_embed_user_oids() {
        let c = sample();
        assert!(!c.embeds_user_oids(1007));
        assert!(c.embeds_user_oids(20001));
        assert!(!c.embeds_user_oids(20000), "an enum itself travels as text");
        assert!(
            c.embeds_user_oids(20003),
            "a domain over such an array does too"
        );
    }

    #[test]
    fn composites_embed_their_field_oids_even_when_built_in() {
        let c = sample();
        // Field OIDs 23 and 1007 are fixed, so nothing needs remapping.
        assert!(!c.embeds_user_oids(20002));
        assert_eq!(c.shape(20002), Shape::Composite);
        assert_eq!(c.shape(20003), Shape::Array);
    }

    #[test]
    fn oid_map_matches_by_qualified_name() {
        let c = sample();
        let map = c.oid_map(&[(30000, "public".into(), "mood".into())]);
        assert_eq!(map.get(&20000), Some(&30000));
        assert_eq!(map.get(&1007), None);
    }
}
