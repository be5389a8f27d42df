//! Shared pieces of the built-in rules: parameter access, the per-value random stream, keyed
//! discriminators, the format-preserving permutation, and the text-generator sanitizer.

use crate::sanitize::spec::*;
use crate::sanitize::value;
use crate::sanitize::Key;

// ---------------------------------------------------------------- parameters
// Kinds are already checked by `compose::check_params`; these only read.

pub fn p_str<'a>(params: &'a toml::Table, name: &str) -> Option<&'a str> {
    params.get(name).and_then(toml::Value::as_str)
}

pub fn p_int(params: &toml::Table, name: &str) -> Option<i64> {
    params.get(name).and_then(toml::Value::as_integer)
}

pub fn p_float(params: &toml::Table, name: &str) -> Option<f64> {
    match params.get(name)? {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

pub fn p_bool(params: &toml::Table, name: &str) -> Option<bool> {
    params.get(name).and_then(toml::Value::as_bool)
}

pub fn p_strs(params: &toml::Table, name: &str) -> Option<Vec<String>> {
    let a = params.get(name)?.as_array()?;
    Some(
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

pub fn p_floats(params: &toml::Table, name: &str) -> Option<Vec<f64>> {
    let a = params.get(name)?.as_array()?;
    Some(
        a.iter()
            .filter_map(|v| match v {
                toml::Value::Float(f) => Some(*f),
                toml::Value::Integer(i) => Some(*i as f64),
                _ => None,
            })
            .collect(),
    )
}

/// A non-negative integer parameter that fits `usize`, with a default.
pub fn p_count(params: &toml::Table, name: &str, default: usize) -> Result<usize, String> {
    match p_int(params, name) {
        None => Ok(default),
        Some(n) => usize::try_from(n)
            .map_err(|_| format!("parameter `{name}` must not be negative, got {n}")),
    }
}

// ---------------------------------------------------------------- randomness

/// The random stream of one value: xoshiro256** seeded with the keyed hash
/// (`Key::hash(rule, domain, original)`), so it is as deterministic and as keyed as the hash.
pub struct Stream([u64; 4]);

impl Stream {
    pub fn new(seed: &[u8; 32]) -> Stream {
        let mut s = [0u64; 4];
        for (i, w) in s.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&seed[i * 8..i * 8 + 8]);
            *w = u64::from_le_bytes(b);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Stream(s)
    }

    pub fn of(key: &Key, rule: &str, domain: &str, value: &[u8]) -> Stream {
        Stream::new(&key.hash(rule, domain, value))
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
        if span > u128::from(u64::MAX) {
            return self.next_u64() as i64;
        }
        (i128::from(lo) + i128::from(self.below(span as u64))) as i64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }

    pub fn digit(&mut self) -> u8 {
        b'0' + self.below(10) as u8
    }
}

// ---------------------------------------------------------------- discriminators

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Characters of the unique discriminator: 16 base32 characters = 80 bits of the keyed hash,
/// so 10⁹ distinct values collide with probability below 10⁻⁶.
pub const DISCRIMINATOR_LEN: usize = 16;

/// Appends `n` lowercase base32 characters of `bytes` (n ≤ 8 × len / 5).
pub fn push_base32(bytes: &[u8], n: usize, out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits = 0;
    let mut it = bytes.iter();
    for _ in 0..n {
        if bits < 5 {
            acc = (acc << 8) | u64::from(it.next().copied().unwrap_or(0));
            bits += 8;
        }
        bits -= 5;
        out.push(BASE32[((acc >> bits) & 31) as usize]);
    }
}

// ---------------------------------------------------------------- format-preserving permutation

/// A keyed permutation of `0..n`: a balanced Feistel network on the smallest even number of
/// bits covering `n`, with cycle-walking back into range. Bijective for every key and tweak.
pub struct Permutation {
    round_keys: [u64; 8],
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Permutation {
    /// Round keys from the keyed hash of (rule, domain, tweak).
    pub fn new(key: &Key, rule: &str, domain: &str, tweak: &[u8]) -> Permutation {
        let mut s = Stream::new(&key.hash(rule, domain, tweak));
        let mut round_keys = [0u64; 8];
        for k in &mut round_keys {
            *k = s.next_u64();
        }
        Permutation { round_keys }
    }

    fn round(&self, r: usize, v: u64) -> u64 {
        mix(v ^ self.round_keys[r]).wrapping_add(self.round_keys[(r + 3) & 7])
    }

    fn encrypt(&self, x: u128, half: u32) -> u128 {
        let mask: u64 = if half == 64 {
            u64::MAX
        } else {
            (1u64 << half) - 1
        };
        let mut l = (x >> half) as u64 & mask;
        let mut r = x as u64 & mask;
        for i in 0..8 {
            let next = l ^ (self.round(i, r) & mask);
            l = r;
            r = next;
        }
        (u128::from(l) << half) | u128::from(r)
    }

    fn decrypt(&self, x: u128, half: u32) -> u128 {
        let mask: u64 = if half == 64 {
            u64::MAX
        } else {
            (1u64 << half) - 1
        };
        let mut l = (x >> half) as u64 & mask;
        let mut r = x as u64 & mask;
        for i in (0..8).rev() {
            let prev = r ^ (self.round(i, l) & mask);
            r = l;
            l = prev;
        }
        (u128::from(l) << half) | u128::from(r)
    }

    fn half_bits(n: u128) -> u32 {
        let bits = (128 - (n - 1).leading_zeros()).max(2);
        bits.div_ceil(2)
    }

    /// The image of `x` (< n) in `0..n`.
    pub fn apply(&self, n: u128, x: u128) -> u128 {
        Self::walk(n, x, |v, half| self.encrypt(v, half))
    }

    /// The preimage of `y` (< n): `invert(n, apply(n, x)) == x`. Cycle-walking backwards
    /// passes the same out-of-range points the forward walk did.
    pub fn invert(&self, n: u128, y: u128) -> u128 {
        Self::walk(n, y, |v, half| self.decrypt(v, half))
    }

    /// Cycle-walking: applies `step` (a permutation of the `2 * half`-bit domain) until the
    /// value falls back into `0..n`.
    fn walk(n: u128, start: u128, step: impl Fn(u128, u32) -> u128) -> u128 {
        if n <= 1 {
            return 0;
        }
        let half = Self::half_bits(n);
        let mut v = start;
        loop {
            v = step(v, half);
            if v < n {
                return v;
            }
        }
    }

    /// A keyed permutation of `0..n` without fixed points (n ≥ 2): the cycle `0 → 1 → … →
    /// n-1 → 0` relabelled through the permutation, so every value moves, distinct values stay
    /// distinct, and which value a given one moves to is as keyed as `apply`.
    pub fn derange(&self, n: u128, x: u128) -> u128 {
        if n <= 1 {
            return 0;
        }
        let at = self.invert(n, x);
        self.apply(n, if at + 1 == n { 0 } else { at + 1 })
    }
}

// ---------------------------------------------------------------- echoes

/// Longest run of input digits, and of input characters, an output may keep in place.
pub const ECHO_DIGITS: usize = 4;
pub const ECHO_CHARS: usize = 6;

/// The output gives production input back: it equals the input (unless both are empty), or
/// keeps a run of `ECHO_DIGITS` input digits or `ECHO_CHARS` input bytes at the same
/// positions. `skip` leading bytes are left out of the comparison (a fixed prefix the rule
/// always writes, such as `https://`).
pub fn echoes(input: &[u8], output: &[u8], skip: usize) -> bool {
    if input == output && !input.is_empty() {
        return true;
    }
    let (mut chars, mut digits) = (0, 0);
    for (a, b) in input.iter().zip(output).skip(skip) {
        if a == b {
            chars += 1;
            digits = if a.is_ascii_digit() { digits + 1 } else { 0 };
            if chars >= ECHO_CHARS || digits >= ECHO_DIGITS {
                return true;
            }
        } else {
            chars = 0;
            digits = 0;
        }
    }
    false
}

/// A character of `alphabet` drawn from `s` that differs from `avoid` when `avoid` is in the
/// alphabet (every position of a generated value can differ from the original's).
pub fn draw_other(s: &mut Stream, alphabet: &[u8], avoid: Option<u8>) -> u8 {
    match avoid.and_then(|a| alphabet.iter().position(|c| *c == a)) {
        Some(at) if alphabet.len() > 1 => {
            let step = 1 + s.below(alphabet.len() as u64 - 1) as usize;
            alphabet[(at + step) % alphabet.len()]
        }
        _ => alphabet[s.below(alphabet.len() as u64) as usize],
    }
}

pub const DIGITS: &[u8; 10] = b"0123456789";
pub const UPPER: &[u8; 26] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const LOWER: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

// ---------------------------------------------------------------- text output

/// Truncates `out[start..]` to at most `max` characters, at a character boundary.
pub fn truncate_chars(out: &mut Vec<u8>, start: usize, max: Option<usize>) {
    let Some(max) = max else { return };
    let mut chars = 0;
    for (i, b) in out[start..].iter().enumerate() {
        if b & 0xC0 != 0x80 {
            if chars == max {
                out.truncate(start + i);
                return;
            }
            chars += 1;
        }
    }
}

/// A rule that makes up a text value from the value's random stream.
pub trait Generate: Send + Sync + 'static {
    /// Appends a UTF-8 value for `original` (the input bytes) to `out`.
    fn generate(&self, s: &mut Stream, original: &[u8], out: &mut Vec<u8>);

    /// Leading bytes every output starts with whatever the input (`https://`): not an echo.
    fn fixed_prefix(&self) -> usize {
        0
    }
}

/// The sanitizer of a generating text rule: NULL stays NULL, the output is cut to the
/// column's `varchar(n)`, and on a unique column a keyed discriminator is appended
/// (`unique_suffix`) so distinct inputs never share an output.
pub struct Generated<G: Generate> {
    pub gen: G,
    pub rule: &'static str,
    pub domain: String,
    pub max_chars: Option<usize>,
    pub unique: bool,
}

impl<G: Generate> Generated<G> {
    pub fn new(gen: G, rule: &'static str, args: &RuleArgs<'_>) -> Generated<G> {
        Generated {
            gen,
            rule,
            domain: args.domain.to_string(),
            max_chars: args.column.max_chars,
            unique: args.column.unique,
        }
    }
}

/// Draws after the first when a generated value gives its input back (a draw from a small
/// list may: "Jack" → "Jack"). A draw echoes rarely and independently of the one before, so
/// running out of draws is not seen in practice.
pub const REDRAWS: usize = 8;

impl<G: Generate> Generated<G> {
    /// One draw: generated, cut to the column and, on a unique column, with the discriminator.
    fn draw(&self, s: &mut Stream, seed: &[u8; 32], input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        self.gen.generate(s, input, out);
        if self.unique {
            let room = self
                .max_chars
                .map(|m| m.saturating_sub(DISCRIMINATOR_LEN + 1));
            truncate_chars(out, start, room);
            out.push(b'-');
            push_base32(seed, DISCRIMINATOR_LEN, out);
        } else {
            truncate_chars(out, start, self.max_chars);
        }
    }
}

impl<G: Generate> ColumnSanitizer for Generated<G> {
    fn sanitize(
        &self,
        input: Option<&[u8]>,
        ctx: &Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome, SanitizeError> {
        let Some(input) = input else {
            return Ok(Outcome::Null);
        };
        let seed = ctx.key.hash(self.rule, &self.domain, input);
        let mut s = Stream::new(&seed);
        let start = out.len();
        self.draw(&mut s, &seed, input, out);
        // Drawing again from the same stream stays deterministic; the discriminator (from the
        // seed, not the stream) is the same in every draw, so uniqueness does not depend on it.
        for _ in 0..REDRAWS {
            if !echoes(input, &out[start..], self.gen.fixed_prefix()) {
                break;
            }
            out.truncate(start);
            self.draw(&mut s, &seed, input, out);
        }
        Ok(Outcome::Value)
    }
}

/// Refuses a unique column too narrow for the discriminator.
pub fn check_unique_room(column: &ColumnInfo, needed: usize) -> Result<(), String> {
    match column.max_chars {
        Some(n) if column.unique && n < needed => Err(format!(
            "the column is unique and {} but a unique-preserving output needs at least {needed} \
             characters",
            column.type_name
        )),
        _ => Ok(()),
    }
}

/// Decodes the text of a text-class input (checks UTF-8).
pub fn text_input(input: &[u8]) -> Result<&str, SanitizeError> {
    value::utf8(input)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::sanitize::testing::{key, run, run_with};
    use crate::sanitize::Rule;

    /// Builds `rule` with `params` (TOML text) for `col`.
    pub fn build(
        rule: &dyn Rule,
        params: &str,
        col: &ColumnInfo,
    ) -> Result<Box<dyn ColumnSanitizer>, String> {
        build_in(rule, params, col, &NO_UNIQUE_DOMAINS)
    }

    /// [`build`] where the rule + domain pairs `unique` rule a unique column.
    pub fn build_in(
        rule: &dyn Rule,
        params: &str,
        col: &ColumnInfo,
        unique: &UniqueDomains,
    ) -> Result<Box<dyn ColumnSanitizer>, String> {
        let params: toml::Table = params.parse().map_err(|e| format!("bad test TOML: {e}"))?;
        let problems = crate::sanitize::compose::check_params(rule.spec(), &params);
        if let Some(p) = problems.first() {
            return Err(p.clone());
        }
        rule.build(&RuleArgs {
            params: &params,
            column: col,
            domain: "d",
            row: std::slice::from_ref(col),
            unique_domains: unique,
            dictionary: None,
        })
    }

    /// A value's format: digits as `9`, letters as `a`/`A`, everything else as it is.
    pub fn shape(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '0'..='9' => '9',
                'a'..='z' => 'a',
                'A'..='Z' => 'A',
                c => c,
            })
            .collect()
    }

    /// The set holding one rule + domain pair.
    pub fn unique_pair(rule: &str, domain: &str) -> UniqueDomains {
        [(rule.to_string(), domain.to_string())]
            .into_iter()
            .collect()
    }

    pub fn must(r: Result<Box<dyn ColumnSanitizer>, String>) -> Box<dyn ColumnSanitizer> {
        match r {
            Ok(s) => s,
            Err(e) => panic!("build failed: {e}"),
        }
    }

    /// Output bytes of a value that must produce a value.
    pub fn value_of(s: &dyn ColumnSanitizer, input: &[u8]) -> Vec<u8> {
        let (o, out) = run(s, Some(input));
        assert_eq!(o, Outcome::Value);
        out
    }

    pub fn text_of(s: &dyn ColumnSanitizer, input: &str) -> String {
        match String::from_utf8(value_of(s, input.as_bytes())) {
            Ok(t) => t,
            Err(e) => panic!("not UTF-8: {e}"),
        }
    }

    /// The common checks: NULL stays NULL, deterministic, keyed, differs from input.
    pub fn common(s: &dyn ColumnSanitizer, input: &[u8]) {
        assert_eq!(run(s, None), (Outcome::Null, Vec::new()), "NULL stays NULL");
        let a = value_of(s, input);
        assert_eq!(a, value_of(s, input), "same key, same output");
        assert_ne!(a, input, "output differs from input");
        // Small lists can pick the same entry under one other key; not under eight.
        let differs = (0..8u8).any(|i| {
            let other = Key::from_secret(&[b'k', i]);
            run_with(s, Some(input), &other).1 != a
        });
        assert!(differs, "another key gives another output");
        let _ = key();
    }

    #[test]
    fn permutation_is_a_bijection() {
        let k = key();
        for n in [1u128, 2, 3, 10, 1000, 1 << 12, 9000] {
            let p = Permutation::new(&k, "t", "d", &[]);
            let mut seen = vec![false; n as usize];
            for x in 0..n {
                let y = p.apply(n, x);
                assert!(y < n);
                assert!(!seen[y as usize], "n={n} collision");
                seen[y as usize] = true;
            }
        }
        let p = Permutation::new(&k, "t", "d", &[]);
        let n = 1u128 << 127;
        assert!(p.apply(n, 5) < n);
        assert_eq!(
            p.apply(u128::from(u64::MAX) + 1, 7),
            p.apply(1u128 << 64, 7)
        );
    }

    #[test]
    fn base32_and_truncation() {
        let mut out = Vec::new();
        push_base32(&[0xff, 0, 0xff, 0, 0xff], 8, &mut out);
        assert_eq!(out, b"74ap6ah7");
        let mut out = "héllo".as_bytes().to_vec();
        truncate_chars(&mut out, 0, Some(2));
        assert_eq!(out, "hé".as_bytes());
    }
}
