//! The map of user type OIDs between a source (or a snapshot's manifest) and a target, for
//! binary values that embed them (arrays and composites of user types).

use crate::catalog::{Shape, TypeCatalog};
use crate::codec::typeoids::{SimpleTypeMap, TypeKind};

pub(crate) fn type_map(
    types: &TypeCatalog,
    target_types: &[(u32, String, String)],
) -> SimpleTypeMap {
    let oids = types.oid_map(target_types);
    let mut map = SimpleTypeMap::new();
    for oid in types.oids() {
        map.set_kind(oid, type_kind(types, oid));
        if let Some(target) = oids.get(&oid) {
            map.set_target(oid, *target);
        }
    }
    map
}

pub(crate) fn type_kind(types: &TypeCatalog, oid: u32) -> TypeKind {
    match types.shape(oid) {
        Shape::Array => TypeKind::Array,
        Shape::Composite => TypeKind::Composite,
        Shape::Other => TypeKind::Other,
    }
}
