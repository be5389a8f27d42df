//! Element-wise application of a sanitizer to binary arrays: dimensions, lower bounds and the
//! element OID are kept, NULL elements go through the element rule like NULL values, and the
//! has-null flag is recomputed.

use super::spec::*;
use super::value::err;
use crate::codec::array::ArrayHeader;

/// Applies `element` to every element of an array value.
pub struct Elementwise {
    pub element: Box<dyn ColumnSanitizer>,
}

fn be_i32(b: &[u8], at: usize) -> Result<i32, SanitizeError> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(i32::from_be_bytes)
        .ok_or_else(|| err("malformed array: truncated"))
}

impl ColumnSanitizer for Elementwise {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(b) = input else {
            return Ok(Outcome::Null);
        };
        let ArrayHeader {
            elements: count,
            len: header,
            ..
        } = ArrayHeader::read(b, 0, b.len())
            .map_err(|(_, why)| err(format!("malformed array: {why}")))?;
        let start = out.len();
        out.extend_from_slice(&b[..header]);
        let mut has_null = false;
        let mut at = header;
        for _ in 0..count {
            let len = be_i32(b, at)?;
            at += 4;
            let element = if len < 0 {
                None
            } else {
                let end = at + len as usize;
                let e = b
                    .get(at..end)
                    .ok_or_else(|| err("malformed array: element past the end"))?;
                at = end;
                Some(e)
            };
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            let outcome = self.element.sanitize(element, ctx, out)?;
            let written = match (outcome, element) {
                (Outcome::Value, _) => Some(out.len() - len_at - 4),
                (Outcome::Same, Some(e)) => {
                    out.extend_from_slice(e);
                    Some(e.len())
                }
                (Outcome::Null, _) | (Outcome::Same, None) => None,
            };
            let len = match written {
                Some(n) => i32::try_from(n).map_err(|_| err("array element too large"))?,
                None => {
                    has_null = true;
                    out.truncate(len_at + 4);
                    -1
                }
            };
            out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        }
        if at != b.len() {
            out.truncate(start);
            return Err(err("malformed array: trailing bytes"));
        }
        out[start + 4..start + 8].copy_from_slice(&i32::from(has_null).to_be_bytes());
        Ok(Outcome::Value)
    }

    fn reads(&self) -> Vec<ColumnRead> {
        self.element.reads()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::build_column;
    use crate::sanitize::testing::{column, run};

    /// A 1-D int4[] / text[] value.
    fn array(oid: u32, elems: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&i32::from(elems.iter().any(Option::is_none)).to_be_bytes());
        b.extend_from_slice(&oid.to_be_bytes());
        b.extend_from_slice(&(elems.len() as i32).to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        for e in elems {
            match e {
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v);
                }
            }
        }
        b
    }

    fn elements(b: &[u8]) -> Vec<Option<Vec<u8>>> {
        let n = be_i32(b, 12).expect("dim") as usize;
        let mut at = 20;
        let mut v = Vec::new();
        for _ in 0..n {
            let len = be_i32(b, at).expect("len");
            at += 4;
            if len < 0 {
                v.push(None);
            } else {
                v.push(Some(b[at..at + len as usize].to_vec()));
                at += len as usize;
            }
        }
        assert_eq!(at, b.len());
        v
    }

    #[test]
    fn applies_to_each_element() {
        let mut col = column(TypeClass::Text, oids::TEXT);
        col.array = true;
        let entry: toml::Table = "rule = \"phone\"".parse().expect("toml");
        let s = build_column(&entry, &col, &[], "d").map_err(|e| e.join("; "));
        let s = s.expect("builds");
        let input = array(oids::TEXT, &[Some(b"555-1234"), None, Some(b"+1 555 9876")]);
        let (o, out) = run(s.as_ref(), Some(&input));
        assert_eq!(o, Outcome::Value);
        assert_eq!(&out[..20], &input[..20], "header and dimensions kept");
        let e = elements(&out);
        assert_eq!(e.len(), 3);
        assert_eq!(e[1], None);
        assert_eq!(e[0].as_ref().map(Vec::len), Some(8));
        assert_ne!(e[0].as_deref(), Some(&b"555-1234"[..]));
        assert_eq!(run(s.as_ref(), None).0, Outcome::Null);
        let (o, out) = run(s.as_ref(), Some(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]));
        assert_eq!((o, out.len()), (Outcome::Value, 12), "empty array");
    }

    #[test]
    fn null_flag_recomputed_and_malformed_refused() {
        let mut col = column(TypeClass::Integer, oids::INT4);
        col.array = true;
        let entry: toml::Table = "rule = \"constant\"\nvalue = \"1\"\nreplace_null = true"
            .parse()
            .expect("toml");
        let s = build_column(&entry, &col, &[], "d").map_err(|e| e.join("; "));
        let s = s.expect("builds");
        let input = array(oids::INT4, &[None, Some(&5i32.to_be_bytes())]);
        let (_, out) = run(s.as_ref(), Some(&input));
        assert_eq!(be_i32(&out, 4).expect("flag"), 0);
        assert_eq!(elements(&out), vec![Some(1i32.to_be_bytes().to_vec()); 2]);
        let mut bad = input.clone();
        bad.push(0);
        let mut o = Vec::new();
        let k = crate::sanitize::testing::key();
        let ctx = Ctx { key: &k, row: None };
        assert!(s.sanitize(Some(&bad), &ctx, &mut o).is_err());
        assert!(s.sanitize(Some(&input[..22]), &ctx, &mut o).is_err());
        // keep/null apply to the whole array.
        let entry: toml::Table = "rule = \"null\"".parse().expect("toml");
        let s = build_column(&entry, &col, &[], "d").map_err(|e| e.join("; "));
        assert_eq!(
            run(s.expect("builds").as_ref(), Some(&input)).0,
            Outcome::Null
        );
    }
}
