//! `lorem`: lorem-ipsum text of about the original's length (never longer).

use super::util::*;
use super::words::LOREM;
use crate::sanitize::spec::*;

pub struct Lorem;

static SPEC: RuleSpec = RuleSpec {
    name: "lorem",
    summary: "Lorem-ipsum words of about the original's length (never longer), sentence-cased.",
    params: &[],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: false,
    max_len: MaxLen::SameAsInput,
    example: r#"comment = { rule = "lorem" }"#,
};

struct LoremGen;

impl Generate for LoremGen {
    fn generate(&self, s: &mut Stream, original: &[u8], out: &mut Vec<u8>) {
        // Characters of the original: UTF-8 bytes that do not continue a character.
        let target = original.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        let start = out.len();
        let mut sentence_start = true;
        while out.len() - start < target {
            let word = s.pick(LOREM);
            let sep = usize::from(out.len() > start);
            if out.len() - start + sep + word.len() > target {
                // Fill the remainder with a cut word so the length stays close.
                let room = target - (out.len() - start);
                if room > sep {
                    if sep == 1 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(&word.as_bytes()[..room - sep]);
                }
                break;
            }
            if sep == 1 {
                out.push(b' ');
            }
            let at = out.len();
            out.extend_from_slice(word.as_bytes());
            if sentence_start {
                out[at] = out[at].to_ascii_uppercase();
                sentence_start = false;
            }
            if s.below(8) == 0 && out.len() - start + 1 < target {
                out.push(b'.');
                sentence_start = true;
            }
        }
    }
}

impl Rule for Lorem {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        let mut g = Generated::new(LoremGen, "lorem", args);
        g.unique = false;
        Ok(Box::new(g))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::*;
    use super::*;
    use crate::sanitize::oids;
    use crate::sanitize::testing::column;

    #[test]
    fn about_the_same_length() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&Lorem, "", &col));
        let input = "The customer called about the late delivery of order 12345 again.";
        common(s.as_ref(), input.as_bytes());
        for len in [1, 3, 10, 65, 400] {
            let input: String = "x".repeat(len);
            let out = text_of(s.as_ref(), &input);
            assert!(out.len() <= len && out.len() + 1 >= len, "{len}: {out:?}");
        }
        assert_eq!(text_of(s.as_ref(), ""), "");
        assert!(build(&Lorem, "words = 3", &col).is_err());
    }
}
