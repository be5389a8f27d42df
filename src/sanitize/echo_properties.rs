//! Property tests over every rule of the registry: a rule never gives production input back.
//!
//! Each rule is held to its declared `OutputSource`, so a new rule is covered by adding it to
//! the registry: `KeyedHash` rules never return their input nor keep a run of 4+ input digits
//! or 6+ input characters in place; `Perturbed` and `Masked` rules never return their input;
//! unique-preserving rules stay injective on 100,000 zero-padded values, none mapped to itself.
//! Inputs come from a fixed-seed generator: all zeros, one digit, zero-padded, separators,
//! maximum-length and random values of every class a rule accepts.

use std::collections::HashSet;

use super::builtin::util::echoes;
use super::registry;
use super::spec::*;
use super::testing::{column, key};
use super::{oids, value};

/// xorshift64: the same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn from(&mut self, alphabet: &[u8]) -> u8 {
        alphabet[self.below(alphabet.len())]
    }
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Text inputs no longer than `max` characters (a varchar(n) column), `max` itself included.
pub(super) fn text_inputs(max: usize) -> Vec<String> {
    let mut v: Vec<String> = [
        "0",
        "7",
        "00",
        "0000",
        "0000000000",
        "0000000001",
        "000000000000000000000000000000",
        "+1 000-000-0001",
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
        "0049 30 1234567",
        "030/1234567",
        "555-0100",
        "a",
        "Z",
        "Maria Lopez",
        "Jack",
        "jack.smith@corp-mail.de",
        "4111-1111-1111-1111",
        "378282246310005",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "SW1A 1AA",
        "10115",
        "192.168.1.20",
        "2001:db8::1",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "742 Oak Street, Springfield 40213",
        "call me",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("9".repeat(max));
    v.push("0".repeat(max));
    v.push("x".repeat(max));
    let mut rng = Rng(0x5DEE_CE66_D1CE_5EED);
    for _ in 0..100 {
        v.push(std::net::Ipv4Addr::from(rng.next() as u32).to_string());
        v.push(std::net::Ipv6Addr::from(u128::from(rng.next()) << 64).to_string());
    }
    for i in 0..400 {
        let len = 1 + rng.below(max.min(40));
        let s: String = match i % 5 {
            // Zero-padded numbers.
            0 => {
                let n = rng.next() % 10u64.pow(len.min(18) as u32);
                format!("{n:0len$}")
            }
            // Digits in groups, as phone and card numbers are written.
            1 => (0..len)
                .map(|j| {
                    if j % 4 == 3 {
                        '-'
                    } else {
                        rng.from(b"0123456789") as char
                    }
                })
                .collect(),
            2 => (0..len).map(|_| rng.from(ALNUM) as char).collect(),
            3 => {
                let local: String = (0..1 + len / 2)
                    .map(|_| rng.from(LETTERS) as char)
                    .collect();
                format!("{local}@mail{}.org", rng.below(100))
            }
            _ => (0..len).map(|_| rng.from(LETTERS) as char).collect(),
        };
        v.push(s);
    }
    v.retain(|s| s.chars().count() <= max);
    v
}

/// Binary inputs of a non-text scalar type, and whether each is zero (which relative noise
/// cannot move).
pub(super) fn binary_inputs(oid: u32) -> Vec<(Vec<u8>, bool)> {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let mut v = Vec::new();
    match oid {
        oids::INT2 | oids::INT4 | oids::INT8 => {
            let (lo, hi) = value::int_bounds(oid);
            for x in [0, 1, -1, 7, lo, hi, lo + 1, hi - 1] {
                v.push(x);
            }
            for _ in 0..400 {
                v.push((rng.next() as i64).clamp(lo, hi) >> rng.below(60));
            }
            return v
                .into_iter()
                .map(|x| {
                    let mut out = Vec::new();
                    value::write_int(oid, x.clamp(lo, hi), &mut out);
                    (out, x == 0)
                })
                .collect();
        }
        oids::UUID => {
            v.push(0);
            for _ in 0..200 {
                v.push(rng.next() as i64);
            }
            return v
                .into_iter()
                .map(|x| {
                    let mut u = [0u8; 16];
                    u[8..].copy_from_slice(&x.to_be_bytes());
                    (u.to_vec(), false)
                })
                .collect();
        }
        oids::INET => {
            let mut out = Vec::new();
            for i in 0..300u32 {
                let addr = if i % 3 == 0 {
                    (0..16).map(|_| rng.next() as u8).collect()
                } else if i < 3 {
                    vec![0; 4]
                } else {
                    (rng.next() as u32).to_be_bytes().to_vec()
                };
                let bits = (addr.len() * 8) as u8;
                let mut b = Vec::new();
                value::write_inet(
                    &value::Inet {
                        addr,
                        bits,
                        cidr: false,
                    },
                    &mut b,
                );
                out.push((b, false));
            }
            return out;
        }
        oids::DATE => {
            for x in [0i32, 1, -1, 9000, -36500, 100_000] {
                v.push(i64::from(x));
            }
            return v
                .into_iter()
                .map(|x| ((x as i32).to_be_bytes().to_vec(), false))
                .collect();
        }
        oids::TIMESTAMP => {
            for _ in 0..100 {
                v.push((rng.next() >> 12) as i64);
            }
            v.push(0);
            return v
                .into_iter()
                .map(|x| (x.to_be_bytes().to_vec(), false))
                .collect();
        }
        oids::NUMERIC => {
            let mut out = Vec::new();
            for s in [
                "0",
                "1",
                "-1",
                "0.01",
                "123456789.12",
                "-99999.999",
                "100000000",
            ] {
                let mut b = Vec::new();
                value::numeric_from_str(s, &mut b).expect("numeric test input");
                out.push((b, s == "0"));
            }
            return out;
        }
        oids::BYTEA => {
            let mut out: Vec<(Vec<u8>, bool)> = [0usize, 1, 4, 6, 32, 100]
                .iter()
                .map(|&len| ((0..len).map(|_| rng.next() as u8).collect(), false))
                .collect();
            out.push((vec![0; 64], false));
            return out;
        }
        _ => {}
    }
    Vec::new()
}

/// A scalar type of each class the tests can make inputs for.
pub(super) fn oids_of(class: TypeClass) -> &'static [u32] {
    match class {
        TypeClass::Text => &[oids::TEXT],
        TypeClass::Integer => &[oids::INT2, oids::INT4, oids::INT8],
        TypeClass::Numeric => &[oids::NUMERIC],
        TypeClass::Date => &[oids::DATE],
        TypeClass::Timestamp => &[oids::TIMESTAMP],
        TypeClass::Uuid => &[oids::UUID],
        TypeClass::Bytea => &[oids::BYTEA],
        TypeClass::Inet => &[oids::INET],
        _ => &[],
    }
}

/// The entries a rule is tried with: its documented example and, when it needs no parameter,
/// its defaults.
pub(super) fn entries(rule: &dyn Rule) -> Vec<toml::Table> {
    let spec = rule.spec();
    let mut out = Vec::new();
    let line: toml::Table = spec.example.parse().unwrap_or_default();
    if let Some(toml::Value::Table(t)) = line.values().next() {
        let mut t = t.clone();
        t.remove("domain");
        out.push(t);
    }
    if spec.params.iter().all(|p| !p.required) {
        let mut t = toml::Table::new();
        t.insert("rule".into(), toml::Value::String(spec.name.into()));
        out.push(t);
    }
    out
}

pub(super) fn run(
    s: &dyn ColumnSanitizer,
    input: &[u8],
) -> Result<(Outcome, Vec<u8>), SanitizeError> {
    let k = key();
    let mut out = Vec::new();
    let outcome = s.sanitize(Some(input), &Ctx { key: &k, row: None }, &mut out)?;
    if outcome == Outcome::Same {
        out = input.to_vec();
    }
    Ok((outcome, out))
}

/// Every value-producing rule, on every class it accepts, on plain, unique and varchar(n)
/// columns, against the promise of its `OutputSource`.
#[test]
fn no_rule_echoes_its_input() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for rule in registry::all() {
        let spec = rule.spec();
        let source = rule.output_source();
        if matches!(
            source,
            OutputSource::Parameters | OutputSource::Nested | OutputSource::Input
        ) {
            continue;
        }
        for class in spec.accepts {
            for &oid in oids_of(*class) {
                for (unique, max_chars) in [(false, None), (true, None), (false, Some(40))] {
                    if unique && !spec.unique_preserving {
                        continue;
                    }
                    if max_chars.is_some() && *class != TypeClass::Text {
                        continue;
                    }
                    let mut col = column(*class, oid);
                    col.unique = unique;
                    col.max_chars = max_chars;
                    for entry in entries(*rule) {
                        let Ok(s) = super::build_column(&entry, &col, &[col.clone()], "d") else {
                            continue;
                        };
                        let inputs: Vec<(Vec<u8>, bool)> = if *class == TypeClass::Text {
                            text_inputs(max_chars.unwrap_or(1000))
                                .into_iter()
                                .map(|t| (t.into_bytes(), false))
                                .collect()
                        } else {
                            binary_inputs(oid)
                        };
                        for (input, zero) in &inputs {
                            checked += 1;
                            let what = || {
                                format!(
                                    "{} {{{}}} on {}{}{}: {:?}",
                                    spec.name,
                                    entry.to_string().trim().replace('\n', ", "),
                                    col.type_name,
                                    if unique { " unique" } else { "" },
                                    max_chars.map_or(String::new(), |n| format!("({n})")),
                                    String::from_utf8_lossy(input)
                                )
                            };
                            let out = match run(s.as_ref(), input) {
                                Ok((Outcome::Null, _)) => continue,
                                Ok((_, out)) => out,
                                Err(e) => {
                                    failures.push(format!("{}: error {e}", what()));
                                    continue;
                                }
                            };
                            let bad = match source {
                                OutputSource::KeyedHash if *class == TypeClass::Text => {
                                    echoes(input, &out, 0)
                                }
                                OutputSource::Perturbed if *zero => false,
                                _ => !input.is_empty() && out == *input,
                            };
                            if bad {
                                failures.push(format!(
                                    "{} → {:?}",
                                    what(),
                                    String::from_utf8_lossy(&out)
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 20_000, "only {checked} values checked");
    let mut per_rule = std::collections::BTreeMap::new();
    for f in &failures {
        let name = f.split(' ').next().unwrap_or_default();
        *per_rule.entry(name).or_insert(0) += 1;
    }
    assert!(
        failures.is_empty(),
        "{} echoes ({per_rule:?}), first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// 100,000 zero-padded values (sequential keys) through every unique-preserving rule on a
/// unique column: no two share an output and none maps to itself.
#[test]
fn unique_preserving_rules_stay_injective() {
    let mut tried = 0;
    for rule in registry::all() {
        let spec = rule.spec();
        if !spec.unique_preserving || rule.output_source() != OutputSource::KeyedHash {
            continue;
        }
        for class in spec.accepts {
            for &oid in oids_of(*class) {
                let mut col = column(*class, oid);
                col.unique = true;
                for entry in entries(*rule) {
                    let Ok(s) = super::build_column(&entry, &col, &[col.clone()], "d") else {
                        continue;
                    };
                    tried += 1;
                    let mut seen = HashSet::with_capacity(100_000);
                    for i in 0..100_000u32 {
                        let input = match *class {
                            TypeClass::Text => format!("{i:010}").into_bytes(),
                            TypeClass::Integer => {
                                let v = i64::from(i) - 50_000;
                                let (lo, hi) = value::int_bounds(oid);
                                if v < lo || v > hi {
                                    continue;
                                }
                                let mut b = Vec::new();
                                value::write_int(oid, v, &mut b);
                                b
                            }
                            TypeClass::Uuid => {
                                let mut u = [0u8; 16];
                                u[12..].copy_from_slice(&i.to_be_bytes());
                                u.to_vec()
                            }
                            TypeClass::Inet => {
                                let mut b = Vec::new();
                                let inet = value::Inet {
                                    addr: i.to_be_bytes().to_vec(),
                                    bits: 32,
                                    cidr: false,
                                };
                                value::write_inet(&inet, &mut b);
                                b
                            }
                            _ => i.to_be_bytes().to_vec(),
                        };
                        let out = match run(s.as_ref(), &input) {
                            Ok((_, out)) => out,
                            Err(e) => panic!("{} on {}: {e}", spec.name, col.type_name),
                        };
                        assert_ne!(out, input, "{} maps {i} to itself", spec.name);
                        assert!(
                            seen.insert(out),
                            "{} on {}: collision at {i}",
                            spec.name,
                            col.type_name
                        );
                    }
                }
            }
        }
    }
    assert!(tried >= 8, "only {tried} unique-preserving rules tried");
}
