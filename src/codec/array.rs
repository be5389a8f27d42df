//! The header of a binary array value (`array_send`): read in one place for the OID rewrite of
//! the codec and the element-wise rules of `sanitize`.

use super::read_i32;

/// Most dimensions PostgreSQL allows (MAXDIM).
pub const MAX_ARRAY_DIMS: usize = 6;

/// `int32 ndim, int32 has-null flag, int32 element OID, ndim × (int32 dim, int32 lbound)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayHeader {
    /// Element type OID as stored (the source's, before any rewrite).
    pub elem_oid: u32,
    /// Elements that follow the header (the product of the dimensions; 0 for no dimensions).
    pub elements: usize,
    /// Bytes of the header, from its start to the first element.
    pub len: usize,
}

impl ArrayHeader {
    /// Reads the header of the array starting at `pos`, which must end by `end`. An error is
    /// the offset of the problem and what it is.
    pub fn read(buf: &[u8], pos: usize, end: usize) -> Result<ArrayHeader, (usize, &'static str)> {
        let int = |at: usize, missing: &'static str| -> Result<i32, (usize, &'static str)> {
            if at.checked_add(4).is_none_or(|e| e > end) {
                return Err((at, missing));
            }
            read_i32(buf, at).ok_or((at, missing))
        };
        let ndim = int(pos, "array dimension count missing")?;
        let ndim = usize::try_from(ndim)
            .ok()
            .filter(|&n| n <= MAX_ARRAY_DIMS)
            .ok_or((pos, "invalid array dimension count"))?;
        // pos + 4 is the has-null flag, which does not affect the layout.
        int(pos + 4, "array flags missing")?;
        let elem_oid = int(pos + 8, "type OID missing")?;
        // A zero-dimensional array is empty but still carries its element type.
        let mut elements: usize = usize::from(ndim > 0);
        let mut at = pos + 12;
        for _ in 0..ndim {
            let dim = int(at, "array dimension missing")?;
            int(at + 4, "array lower bound missing")?;
            let dim = usize::try_from(dim).map_err(|_| (at, "negative array dimension"))?;
            elements = elements.checked_mul(dim).ok_or((at, "array too large"))?;
            at += 8;
        }
        Ok(ArrayHeader {
            elem_oid: u32::from_be_bytes(elem_oid.to_be_bytes()),
            elements,
            len: at - pos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ndim: i32, dims: &[(i32, i32)]) -> Vec<u8> {
        let mut v = Vec::new();
        for word in [ndim, 0, 23] {
            v.extend_from_slice(&word.to_be_bytes());
        }
        for (dim, lbound) in dims {
            v.extend_from_slice(&dim.to_be_bytes());
            v.extend_from_slice(&lbound.to_be_bytes());
        }
        v
    }

    #[test]
    fn dimensions_multiply_and_bad_headers_name_their_offset() {
        let h = header(2, &[(3, 1), (4, 1)]);
        assert_eq!(
            ArrayHeader::read(&h, 0, h.len()),
            Ok(ArrayHeader {
                elem_oid: 23,
                elements: 12,
                len: 28
            })
        );
        let empty = header(0, &[]);
        assert_eq!(
            ArrayHeader::read(&empty, 0, empty.len()).map(|h| h.elements),
            Ok(0)
        );
        let bad = header(7, &[]);
        assert_eq!(
            ArrayHeader::read(&bad, 0, bad.len()),
            Err((0, "invalid array dimension count"))
        );
        let negative = header(1, &[(-1, 1)]);
        assert_eq!(
            ArrayHeader::read(&negative, 0, negative.len()),
            Err((12, "negative array dimension"))
        );
        assert_eq!(
            ArrayHeader::read(&h, 0, 20),
            Err((20, "array dimension missing"))
        );
    }
}
