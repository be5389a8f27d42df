//! The secret key and the deterministic randomness derived from it.
//!
//! value seed = blake3 keyed hash(key; rule, domain, original bytes) → ChaCha RNG → generator.
//! Same input and key give the same output across tables, processes and runs; a different key
//! gives unrelated output. There is no thread-local or time-based randomness anywhere.

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Inputs up to this long are hashed in one call from a stack buffer (within BLAKE3's 1 KiB
/// chunk, and small enough that clearing the buffer costs little next to the hash).
const ONE_CALL: usize = 256;

/// A 256-bit secret. Its Debug never shows the bytes.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(****)")
    }
}

impl Key {
    /// Derives the key from secret material of any length (e.g. `RESTAGE_KEY`).
    pub fn from_secret(secret: &[u8]) -> Key {
        Key(blake3::derive_key("restage 2026 sanitizer key v1", secret))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    /// Keyed hash of (rule, domain, value), unambiguous thanks to length prefixes.
    ///
    /// This runs once per sanitized value, so the usual short case is laid out in a stack
    /// buffer and hashed in one call, which skips the incremental hasher's large state; the
    /// result is the same as hashing the parts one by one.
    pub fn hash(&self, rule: &str, domain: &str, value: &[u8]) -> [u8; 32] {
        let parts = [rule.as_bytes(), domain.as_bytes(), value];
        let total: usize = parts.iter().map(|p| 8 + p.len()).sum();
        if total <= ONE_CALL {
            let mut buf = [0u8; ONE_CALL];
            let mut at = 0;
            for part in parts {
                buf[at..at + 8].copy_from_slice(&(part.len() as u64).to_le_bytes());
                buf[at + 8..at + 8 + part.len()].copy_from_slice(part);
                at += 8 + part.len();
            }
            return *blake3::keyed_hash(&self.0, &buf[..at]).as_bytes();
        }
        let mut h = blake3::Hasher::new_keyed(&self.0);
        for part in parts {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        *h.finalize().as_bytes()
    }

    /// A fingerprint that tells keys apart in a run report without revealing the key: a keyed
    /// hash of a fixed label (one-way; the same key always gives the same fingerprint).
    pub fn fingerprint(&self) -> String {
        let digest = blake3::keyed_hash(&self.0, b"restage key fingerprint v1");
        let hex = digest.to_hex();
        format!("blake3:{}", &hex.as_str()[..16])
    }

    /// A deterministic RNG for one value.
    pub fn rng(&self, rule: &str, domain: &str, value: &[u8]) -> ChaCha8Rng {
        ChaCha8Rng::from_seed(self.hash(rule, domain, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::Rng;

    #[test]
    fn same_key_and_input_same_stream_other_key_other_stream() {
        let a = Key::from_secret(b"one");
        let b = Key::from_secret(b"two");
        let x = a.rng("email", "d", b"v").next_u64();
        assert_eq!(x, a.rng("email", "d", b"v").next_u64());
        assert_ne!(x, b.rng("email", "d", b"v").next_u64());
        assert_ne!(x, a.rng("email", "e", b"v").next_u64());
        assert_ne!(a.hash("ab", "c", b""), a.hash("a", "bc", b""));
        assert_eq!(format!("{a:?}"), "Key(****)");
        assert_eq!(a.fingerprint(), Key::from_secret(b"one").fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert!(!a
            .fingerprint()
            .contains(&blake3::Hash::from(a.0).to_hex().as_str()[..16]));
    }

    #[test]
    fn one_call_hash_equals_the_streamed_hash() {
        let k = Key::from_secret(b"k");
        let streamed = |rule: &str, domain: &str, value: &[u8]| {
            let mut h = blake3::Hasher::new_keyed(&k.0);
            for part in [rule.as_bytes(), domain.as_bytes(), value] {
                h.update(&(part.len() as u64).to_le_bytes());
                h.update(part);
            }
            *h.finalize().as_bytes()
        };
        // Around the one-call limit (24 bytes of prefixes + "email" + "d") and BLAKE3's blocks.
        for len in [0, 1, 63, 64, 65, 225, 226, 227, 1024, 5000] {
            let v = vec![b'x'; len];
            assert_eq!(
                k.hash("email", "d", &v),
                streamed("email", "d", &v),
                "{len}"
            );
        }
    }
}
