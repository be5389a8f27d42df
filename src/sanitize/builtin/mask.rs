//! `mask`: keeps the first and last few characters and masks the rest (`4111********1111`).
//! Not keyed: the same input always gives the same mask.

use super::util::*;
use crate::sanitize::spec::*;

pub struct Mask;

static SPEC: RuleSpec = RuleSpec {
    name: "mask",
    summary: "Mask the characters of a text value except the first/last few, never more than \
              half of them (same length).",
    params: &[
        ParamSpec {
            name: "keep_first",
            kind: ParamKind::Integer,
            required: false,
            doc: "characters kept at the start (default 0)",
        },
        ParamSpec {
            name: "keep_last",
            kind: ParamKind::Integer,
            required: false,
            doc: "characters kept at the end (default 4)",
        },
        ParamSpec {
            name: "mask_char",
            kind: ParamKind::String,
            required: false,
            doc: "the masking character (default \"*\")",
        },
        ParamSpec {
            name: "keep_separators",
            kind: ParamKind::Bool,
            required: false,
            doc: "leave spaces, dashes, dots, @ and other punctuation unmasked (default false)",
        },
    ],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"card_number = { rule = "mask", keep_last = 4, mask_char = "X" }"#,
};

struct MaskValue {
    first: usize,
    last: usize,
    mask: char,
    keep_separators: bool,
}

impl ColumnSanitizer for MaskValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        _ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let text = text_input(input)?;
        let n = text.chars().count();
        // A value shorter than what is kept would pass through whole: keep at most half of it,
        // the end first.
        let (first, last) = if self.first + self.last > n / 2 {
            let last = self.last.min(n / 2);
            (self.first.min(n / 2 - last), last)
        } else {
            (self.first, self.last)
        };
        let mut buf = [0u8; 4];
        let mask = self.mask.encode_utf8(&mut buf).as_bytes();
        for (i, c) in text.chars().enumerate() {
            let kept = i < first || i + last >= n || (self.keep_separators && !c.is_alphanumeric());
            if kept {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            } else {
                out.extend_from_slice(mask);
            }
        }
        Ok(Outcome::Value)
    }
}

impl Rule for Mask {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn output_source(&self) -> OutputSource {
        OutputSource::Masked
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let first = p_count(args.params, "keep_first", 0)?;
        let last = p_count(args.params, "keep_last", 4)?;
        let mask_str = p_str(args.params, "mask_char").unwrap_or("*");
        let mut chars = mask_str.chars();
        let (Some(mask), None) = (chars.next(), chars.next()) else {
            return Err(format!(
                "parameter `mask_char` must be exactly one character, got {mask_str:?}"
            ));
        };
        Ok(Box::new(MaskValue {
            first,
            last,
            mask,
            keep_separators: p_bool(args.params, "keep_separators").unwrap_or(false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::{column, run};

    #[test]
    fn masks_the_middle() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Mask, "", &col));
        assert_eq!(text_of(s.as_ref(), "4111111111111111"), "************1111");
        assert_eq!(text_of(s.as_ref(), "abc"), "**c");
        assert_eq!(text_of(s.as_ref(), "1234"), "**34");
        assert_eq!(text_of(s.as_ref(), "7"), "*");
        assert_eq!(run(s.as_ref(), None).0, Outcome::Null);
        let s = must(build(
            &Mask,
            "keep_first = 1\nkeep_last = 1\nmask_char = \"•\"",
            &col,
        ));
        assert_eq!(text_of(s.as_ref(), "héllo"), "h•••o");
        let s = must(build(&Mask, "keep_last = 0\nkeep_separators = true", &col));
        assert_eq!(text_of(s.as_ref(), "ab-12 x"), "**-** *");
    }

    #[test]
    fn bad_parameters() {
        let col = column(TypeClass::Text, oids::TEXT);
        let e = build(&Mask, "mask_char = \"ab\"", &col)
            .err()
            .expect("refused");
        assert!(e.contains("`mask_char`"), "{e}");
        let e = build(&Mask, "keep_last = -1", &col).err().expect("refused");
        assert!(e.contains("`keep_last`"), "{e}");
    }
}
