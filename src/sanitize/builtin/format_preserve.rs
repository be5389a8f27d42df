//! `format_preserve`: identifiers and codes in their own format. Every ASCII digit becomes a
//! keyed-hash digit and every ASCII letter a keyed-hash letter of the same case (or stays, with
//! `letters = false`); separators, length and a literal `prefix` stay, so `DE-123-456-78`
//! becomes `DE-904-117-23` and a CHECK on the format still passes.
//!
//! The map is a keyed permutation within each format, so distinct inputs stay distinct (a
//! UNIQUE column stays unique): the replaced characters are split into guards (every third)
//! and the rest. Guards move to another character of their class by an offset drawn from the
//! keyed hash of the rest; the rest then goes through a keyed permutation (Feistel network
//! with cycle-walking, per block of characters) tweaked by the new guards. Both steps can be
//! undone knowing the output, and since every third character changes, no run of three input
//! digits stays in place.

use super::util::*;
use crate::sanitize::spec::*;

pub struct FormatPreserve;

static SPEC: RuleSpec = RuleSpec {
    name: "format_preserve",
    summary: "Replace every digit (and letter) of a code or identifier with keyed-hash ones of \
              the same class, keeping separators, length and a literal prefix; a keyed \
              permutation, so it is unique-preserving.",
    params: &[
        ParamSpec {
            name: "prefix",
            kind: ParamKind::String,
            required: false,
            doc: "kept as it is on values that start with it, e.g. \"DE-\" (default none)",
        },
        ParamSpec {
            name: "letters",
            kind: ParamKind::Bool,
            required: false,
            doc: "replace ASCII letters too, keeping their case (default true); false keeps \
                  them, for letters that are a fixed part of the format",
        },
    ],
    accepts: &[TypeClass::Text],
    may_produce_null: false,
    unique_preserving: true,
    max_len: MaxLen::SameAsInput,
    example: r#"national_id = { rule = "format_preserve", prefix = "DE-" }"#,
};

const DIGITS: &[u8] = b"0123456789";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Characters of one permuted block: 26^12 < 2^57, well inside the permutation's range.
const BLOCK: usize = 12;

struct FormatValue {
    domain: String,
    prefix: String,
    letters: bool,
}

/// One replaced character: where it is, its alphabet and its index in that alphabet.
#[derive(Clone, Copy)]
struct Symbol {
    at: usize,
    alphabet: &'static [u8],
    value: u8,
}

impl Symbol {
    fn byte(self) -> u8 {
        self.alphabet[usize::from(self.value)]
    }
}

impl FormatValue {
    fn alphabet(&self, b: u8) -> Option<&'static [u8]> {
        match b {
            b'0'..=b'9' => Some(DIGITS),
            b'a'..=b'z' if self.letters => Some(LOWER),
            b'A'..=b'Z' if self.letters => Some(UPPER),
            _ => None,
        }
    }

    /// The keyed permutation of the symbols of one format (`shape`: the value with every
    /// replaced character written as its class).
    fn permute(&self, key: &crate::sanitize::Key, shape: &[u8], symbols: &mut [Symbol]) {
        let guard = |i: usize| i % 3 == 0;
        let mut seed = shape.to_vec();
        seed.push(b'/');
        seed.extend(
            symbols
                .iter()
                .enumerate()
                .filter(|(i, _)| !guard(*i))
                .map(|(_, s)| s.byte()),
        );
        let mut s = Stream::of(key, "format_preserve", &self.domain, &seed);
        let mut tweak = shape.to_vec();
        tweak.push(b'/');
        for sym in symbols.iter_mut().step_by(3) {
            let new = draw_other(&mut s, sym.alphabet, Some(sym.byte()));
            sym.value = sym.alphabet.iter().position(|c| *c == new).unwrap_or(0) as u8;
            tweak.push(sym.byte());
        }
        let others: Vec<usize> = (0..symbols.len()).filter(|i| !guard(*i)).collect();
        for (b, block) in others.chunks(BLOCK).enumerate() {
            let mut t = tweak.clone();
            t.extend_from_slice(format!("/{b}").as_bytes());
            let perm = Permutation::new(key, "format_preserve", &self.domain, &t);
            let n = block
                .iter()
                .fold(1u128, |a, &i| a * symbols[i].alphabet.len() as u128);
            let v = block.iter().fold(0u128, |a, &i| {
                a * symbols[i].alphabet.len() as u128 + u128::from(symbols[i].value)
            });
            let mut y = perm.apply(n, v);
            for &i in block.iter().rev() {
                let radix = symbols[i].alphabet.len() as u128;
                symbols[i].value = (y % radix) as u8;
                y /= radix;
            }
        }
    }
}

impl ColumnSanitizer for FormatValue {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        text_input(input)?;
        let prefixed = !self.prefix.is_empty() && input.starts_with(self.prefix.as_bytes());
        let kept = if prefixed { self.prefix.len() } else { 0 };
        let mut symbols: Vec<Symbol> = Vec::new();
        let mut shape = vec![if prefixed { b'P' } else { b'-' }];
        for (at, &b) in input.iter().enumerate().skip(kept) {
            match self.alphabet(b) {
                Some(alphabet) => {
                    let value = alphabet.iter().position(|c| *c == b).unwrap_or(0) as u8;
                    symbols.push(Symbol {
                        at,
                        alphabet,
                        value,
                    });
                    shape.push(alphabet[0]);
                }
                None => shape.push(b),
            }
        }
        if symbols.is_empty() {
            return Ok(Outcome::Same);
        }
        let start = out.len();
        loop {
            self.permute(ctx.key, &shape, &mut symbols);
            out.truncate(start);
            out.extend_from_slice(input);
            for sym in &symbols {
                out[start + sym.at] = sym.byte();
            }
            // A value without the prefix must not come out with it, or it could meet a value
            // that keeps it: walking the permutation's cycle stays injective on the others.
            if prefixed
                || self.prefix.is_empty()
                || !out[start..].starts_with(self.prefix.as_bytes())
            {
                return Ok(Outcome::Value);
            }
        }
    }
}

impl Rule for FormatPreserve {
    fn spec(&self) -> &'static RuleSpec {
        &SPEC
    }

    fn build(&self, args: &RuleArgs<'_>) -> Result<Box<dyn ColumnSanitizer>, String> {
        Ok(Box::new(FormatValue {
            domain: args.domain.to_string(),
            prefix: p_str(args.params, "prefix").unwrap_or_default().to_string(),
            letters: p_bool(args.params, "letters").unwrap_or(true),
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
    fn keeps_the_format_and_the_prefix() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&FormatPreserve, r#"prefix = "DE-""#, &col));
        common(s.as_ref(), b"DE-123-456-78");
        let out = text_of(s.as_ref(), "DE-123-456-78");
        assert!(out.starts_with("DE-"), "{out}");
        assert_eq!(shape(&out), "AA-999-999-99", "{out}");
        assert!(!echoes(b"DE-123-456-78", out.as_bytes(), 3), "{out}");
        // Letters outside the prefix are replaced, keeping their case.
        let out = text_of(s.as_ref(), "AT-12 ab");
        assert_eq!(shape(&out), "AA-99 aa", "{out}");
        assert!(!out.starts_with("DE-"), "{out}");
        // Without letters, only digits move.
        let s = must(build(&FormatPreserve, "letters = false", &col));
        let out = text_of(s.as_ref(), "AB123456C");
        assert!(out.starts_with("AB") && out.ends_with('C'), "{out}");
        assert_eq!(shape(&out), "AA999999A", "{out}");
        assert_eq!(run(s.as_ref(), Some(b"no digits")).0, Outcome::Same);
    }

    #[test]
    fn distinct_values_stay_distinct_and_every_third_character_moves() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&FormatPreserve, "", &col));
        let mut seen = std::collections::HashSet::new();
        for i in 0..50_000 {
            let input = format!("{:03}-{:02}-{:04}", i % 1000, (i / 1000) % 100, i % 7919);
            let out = text_of(s.as_ref(), &input);
            assert_eq!(shape(&out), "999-99-9999");
            let moved = input
                .bytes()
                .filter(u8::is_ascii_digit)
                .zip(out.bytes().filter(u8::is_ascii_digit))
                .step_by(3)
                .all(|(a, b)| a != b);
            assert!(moved, "{input} → {out}");
            seen.insert((input, out));
        }
        let outputs: std::collections::HashSet<_> = seen.iter().map(|(_, o)| o).collect();
        let inputs: std::collections::HashSet<_> = seen.iter().map(|(i, _)| i).collect();
        assert_eq!(outputs.len(), inputs.len());
    }

    #[test]
    fn values_without_the_prefix_never_take_it() {
        let col = column(TypeClass::Text, oids::TEXT);
        let s = must(build(&FormatPreserve, r#"prefix = "A""#, &col));
        for i in 0..2000 {
            let input = format!("{}{i}", ['B', 'C', 'Z'][i % 3]);
            assert!(!text_of(s.as_ref(), &input).starts_with('A'), "{input}");
        }
    }
}
