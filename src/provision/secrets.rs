//! Secret values: generated from the OS CSPRNG, supplied through environment variables
//! (checked against their pattern and against production), or derived from the app role's
//! connection. Values live in [`Secret`]s; only fingerprints are ever shown.

use std::collections::BTreeMap;

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

pub use crate::conn::Secret;

use super::spec::{Derived, EnvSpec, GenerateSpec};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the operating system's random generator failed")]
    Random,
    #[error("secret {name}: environment variable {var} is not set")]
    MissingEnv { name: String, var: String },
    #[error("secret {name}: the value of {var} does not match the required pattern {pattern:?}")]
    PatternMismatch {
        name: String,
        var: String,
        pattern: String,
    },
    #[error("secret {name}: the value of {var} equals the production value in {production_var}; staging must never use production secrets")]
    SameAsProduction {
        name: String,
        var: String,
        production_var: String,
    },
    #[error("an alphabet needs between 2 and 256 distinct characters (it has {0})")]
    Alphabet(usize),
    #[error("secret {name}: invalid pattern: {message}")]
    Pattern { name: String, message: String },
}

/// A short, non-reversible tag of a value for plans and diffs: the first 8 hex digits of
/// SHA-256 over a domain prefix and the value.
pub fn fingerprint(value: &Secret) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"restage-fingerprint\0");
    ctx.update(value.expose().as_bytes());
    let digest = ctx.finish();
    digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Constant-time comparison of two values (the guard compares without leaking timing).
pub fn same_value(a: &Secret, b: &Secret) -> bool {
    same_bytes(a.expose().as_bytes(), b.expose().as_bytes())
}

/// Byte comparison whose time does not depend on where the inputs differ.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const ALPHANUMERIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new value as `spec` describes.
pub fn generate(spec: &GenerateSpec) -> Result<Secret, SecretError> {
    let rng = SystemRandom::new();
    match spec.encoding.get_ref().as_str() {
        "alphabet" => {
            let alphabet: Vec<char> = spec
                .alphabet
                .as_deref()
                .unwrap_or(ALPHANUMERIC)
                .chars()
                .fold(Vec::new(), |mut v, c| {
                    if !v.contains(&c) {
                        v.push(c);
                    }
                    v
                });
            let n = alphabet.len();
            if !(2..=256).contains(&n) {
                return Err(SecretError::Alphabet(n));
            }
            let length = spec.length.unwrap_or(32);
            // Rejection sampling: bytes at or above the largest multiple of n are redrawn, so
            // every character is equally likely.
            let limit = (256 / n) * n;
            let mut out = String::with_capacity(length);
            let mut buf = [0u8; 64];
            while out.chars().count() < length {
                rng.fill(&mut buf).map_err(|_| SecretError::Random)?;
                for &b in &buf {
                    if (b as usize) < limit && out.chars().count() < length {
                        out.push(alphabet[b as usize % n]);
                    }
                }
            }
            Ok(Secret::new(out))
        }
        encoding => {
            let mut bytes = vec![0u8; spec.bytes.unwrap_or(32)];
            rng.fill(&mut bytes).map_err(|_| SecretError::Random)?;
            let text = match encoding {
                "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect(),
                "base64" => base64::engine::general_purpose::STANDARD.encode(&bytes),
                _ => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
            };
            Ok(Secret::new(text))
        }
    }
}

/// Random bytes from the OS CSPRNG (salts, session keys).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| SecretError::Random)?;
    Ok(out)
}

/// Where the app role connects (for derived secrets).
#[derive(Debug, Clone)]
pub struct AppConnection {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub dbname: String,
    pub sslmode: Option<String>,
}

fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A derived value from the app role's connection and password (for `MigrationsUrl`, the
/// caller passes the migrations role's name in `conn` and its password).
pub fn derive(kind: Derived, conn: &AppConnection, password: &Secret) -> Secret {
    let host = if conn.host.contains(':') {
        format!("[{}]", conn.host)
    } else {
        conn.host.clone()
    };
    match kind {
        Derived::Url | Derived::MigrationsUrl => {
            let mut url = format!(
                "postgresql://{}:{}@{host}:{}/{}",
                url_encode(&conn.username),
                url_encode(password.expose()),
                conn.port,
                url_encode(&conn.dbname)
            );
            if let Some(mode) = &conn.sslmode {
                url.push_str("?sslmode=");
                url.push_str(mode);
            }
            Secret::new(url)
        }
        Derived::Json => {
            let doc = serde_json::json!({
                "host": conn.host,
                "port": conn.port,
                "username": conn.username,
                "password": password.expose(),
                "dbname": conn.dbname,
            });
            Secret::new(doc.to_string())
        }
        Derived::Host => Secret::new(conn.host.clone()),
        Derived::Port => Secret::new(conn.port.to_string()),
        Derived::Username => Secret::new(conn.username.clone()),
        Derived::Dbname => Secret::new(conn.dbname.clone()),
    }
}

/// Every secret's value, by name, and whether it is new in this run.
#[derive(Debug, Default, Clone)]
pub struct Values {
    pub values: BTreeMap<String, Secret>,
    /// Secrets generated (new or rotated) in this run.
    pub generated: Vec<String>,
}

impl Values {
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.values.get(name)
    }
}

/// Resolves every secret: supplied ones from the environment (checked), generated ones
/// reused from `existing` unless missing or rotated, derived ones computed last.
pub fn resolve(
    spec: &EnvSpec,
    existing: &BTreeMap<String, Secret>,
    rotate: &[String],
    conn: &AppConnection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Values, SecretError> {
    let mut out = Values::default();
    for (name, s) in &spec.secrets {
        let s = s.get_ref();
        if let Some(g) = &s.generate {
            let reuse = existing.get(name).filter(|_| !rotate.contains(name));
            let value = match reuse {
                Some(v) => v.clone(),
                None => {
                    out.generated.push(name.clone());
                    generate(g)?
                }
            };
            out.values.insert(name.clone(), value);
        } else if let Some(var) = &s.from_env {
            let var = var.get_ref();
            let value = env(var)
                .map(Secret::new)
                .ok_or_else(|| SecretError::MissingEnv {
                    name: name.clone(),
                    var: var.clone(),
                })?;
            check_supplied(
                name,
                var,
                &value,
                s.must_match.as_ref().map(|p| p.get_ref().as_str()),
            )?;
            if let Some(prod_var) = &s.production_env {
                if let Some(prod) = env(prod_var.get_ref()).map(Secret::new) {
                    if same_value(&value, &prod) {
                        return Err(SecretError::SameAsProduction {
                            name: name.clone(),
                            var: var.clone(),
                            production_var: prod_var.get_ref().clone(),
                        });
                    }
                }
            }
            out.values.insert(name.clone(), value);
        }
    }
    let password = spec.database.password_secret.get_ref();
    let pw = out
        .values
        .get(password)
        .cloned()
        .unwrap_or_else(|| Secret::new(""));
    let migrations = spec.database.migrations_role.as_ref().map(|role| {
        let conn = AppConnection {
            username: role.get_ref().clone(),
            ..conn.clone()
        };
        let pw = spec
            .database
            .migrations_password_secret
            .as_ref()
            .and_then(|s| out.values.get(s.get_ref()))
            .cloned()
            .unwrap_or_else(|| Secret::new(""));
        (conn, pw)
    });
    for (name, s) in &spec.secrets {
        if let Some(kind) = s
            .get_ref()
            .derive
            .as_ref()
            .and_then(|d| Derived::parse(d.get_ref()))
        {
            let value = match (kind, &migrations) {
                (Derived::MigrationsUrl, Some((conn, pw))) => derive(kind, conn, pw),
                _ => derive(kind, conn, &pw),
            };
            out.values.insert(name.clone(), value);
        }
    }
    Ok(out)
}

/// A supplied value must match its pattern (e.g. test-mode API keys only).
pub fn check_supplied(
    name: &str,
    var: &str,
    value: &Secret,
    pattern: Option<&str>,
) -> Result<(), SecretError> {
    if let Some(p) = pattern {
        let re = regex::Regex::new(p).map_err(|e| SecretError::Pattern {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        if !re.is_match(value.expose()) {
            return Err(SecretError::PatternMismatch {
                name: name.to_owned(),
                var: var.to_owned(),
                pattern: p.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::Spanned;

    fn gen(bytes: Option<usize>, length: Option<usize>, encoding: &str) -> GenerateSpec {
        GenerateSpec {
            bytes,
            length,
            encoding: Spanned::new(0..0, encoding.to_owned()),
            alphabet: None,
        }
    }

    #[test]
    fn generated_values_have_the_requested_shape_and_differ() {
        let a = generate(&gen(Some(32), None, "hex")).unwrap();
        let b = generate(&gen(Some(32), None, "hex")).unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(!same_value(&a, &b));
        let c = generate(&gen(None, Some(40), "alphabet")).unwrap();
        assert_eq!(c.expose().len(), 40);
        assert!(c.expose().chars().all(|ch| ch.is_ascii_alphanumeric()));
        let d = generate(&gen(Some(32), None, "base64url")).unwrap();
        assert_eq!(d.expose().len(), 43);
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let s = Secret::new("hunter2");
        assert_eq!(fingerprint(&s), fingerprint(&Secret::new("hunter2")));
        assert_eq!(fingerprint(&s).len(), 8);
        assert!(!fingerprint(&s).contains("hunter2"));
    }

    #[test]
    fn supplied_values_must_match_their_pattern() {
        let ok = Secret::new("sk_test_123");
        let live = Secret::new("sk_live_123");
        assert!(check_supplied("stripe", "K", &ok, Some("^sk_test_")).is_ok());
        let err = check_supplied("stripe", "K", &live, Some("^sk_test_")).unwrap_err();
        assert!(!err.to_string().contains("sk_live_123"), "{err}");
    }

    #[test]
    fn derived_url_and_json_escape_the_password() {
        let conn = AppConnection {
            host: "db".into(),
            port: 5432,
            username: "app".into(),
            dbname: "app_staging".into(),
            sslmode: Some("require".into()),
        };
        let pw = Secret::new("a/b@c");
        let url = derive(Derived::Url, &conn, &pw);
        assert_eq!(
            url.expose(),
            "postgresql://app:a%2Fb%40c@db:5432/app_staging?sslmode=require"
        );
        let json: serde_json::Value =
            serde_json::from_str(derive(Derived::Json, &conn, &pw).expose()).unwrap();
        assert_eq!(json["password"], "a/b@c");
        assert_eq!(json["port"], 5432);
    }
}
