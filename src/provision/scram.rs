//! SCRAM-SHA-256 password verifiers computed client-side (RFC 5802/7677, PostgreSQL's
//! `pg_authid.rolpassword` format), so that `CREATE/ALTER ROLE … PASSWORD` sends only the
//! verifier and the server log never holds the password.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2};

use super::secrets::{random_bytes, Secret, SecretError};

/// PostgreSQL's default `scram_iterations`.
pub const ITERATIONS: u32 = 4096;

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for `password`.
pub fn verifier(password: &Secret) -> Result<String, SecretError> {
    let salt = random_bytes::<16>()?;
    Ok(verifier_with(password, &salt, ITERATIONS))
}

fn keys(password: &Secret, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32]) {
    let mut salted = [0u8; 32];
    let iterations = NonZeroU32::new(iterations.max(1)).unwrap_or(NonZeroU32::MIN);
    // PostgreSQL applies SASLprep; for ASCII passwords (all generated ones) it is the
    // identity, and the server falls back to the raw bytes when SASLprep fails.
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.expose().as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let server_key = hmac::sign(&key, b"Server Key");
    let stored = digest::digest(&digest::SHA256, client_key.as_ref());
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(stored.as_ref());
    b.copy_from_slice(server_key.as_ref());
    (a, b)
}

pub fn verifier_with(password: &Secret, salt: &[u8], iterations: u32) -> String {
    let (stored, server) = keys(password, salt, iterations);
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored),
        B64.encode(server)
    )
}

/// Whether `stored` (a `rolpassword` value) is a SCRAM verifier of `password`.
pub fn matches(stored: &str, password: &Secret) -> bool {
    let Some(rest) = stored.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((params, keys_part)) = rest.split_once('$') else {
        return false;
    };
    let Some((iter, salt)) = params.split_once(':') else {
        return false;
    };
    let (Ok(iterations), Ok(salt)) = (iter.parse::<u32>(), B64.decode(salt)) else {
        return false;
    };
    let expected = verifier_with(password, &salt, iterations);
    let expected_keys = expected.rsplit('$').next().unwrap_or("");
    super::secrets::same_bytes(expected_keys.as_bytes(), keys_part.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_round_trips_and_rejects_other_passwords() {
        let pw = Secret::new("correct horse");
        let v = verifier(&pw).unwrap();
        assert!(v.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!v.contains("correct horse"));
        assert!(matches(&v, &pw));
        assert!(!matches(&v, &Secret::new("battery staple")));
        assert!(!matches("md5abc", &pw));
    }

    #[test]
    fn same_salt_same_verifier() {
        let salt = [7u8; 16];
        let a = verifier_with(&Secret::new("pencil"), &salt, 4096);
        let b = verifier_with(&Secret::new("pencil"), &salt, 4096);
        assert_eq!(a, b);
        assert_eq!(a.split('$').count(), 3);
    }
}
