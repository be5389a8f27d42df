//! Offline sealing for Bitnami sealed-secrets, in kubeseal's hybrid format: a random
//! 256-bit session key encrypted with RSA-OAEP (SHA-256, label = `namespace/name` for the
//! default strict scope), its length as two big-endian bytes, then the value encrypted with
//! AES-256-GCM under that session key with an all-zero nonce (each key is used once).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::sha2::Sha256;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use x509_cert::der::{DecodePem, Encode};

use super::secrets::{random_bytes, Secret};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read the sealing certificate {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("sealing failed: {0}")]
    Encrypt(String),
    #[error("unsealing failed: {0}")]
    Decrypt(String),
}

/// Seals one value for one Secret object.
pub trait Sealer {
    fn seal(&self, namespace: &str, name: &str, value: &Secret) -> Result<String, SealError>;
}

/// Seals with the controller's public key (strict scope).
pub struct CertSealer {
    key: RsaPublicKey,
}

impl CertSealer {
    /// From the PEM that `kubeseal --fetch-cert` prints (a certificate), or a bare
    /// `PUBLIC KEY` PEM.
    pub fn from_pem(pem: &str, path: &str) -> Result<CertSealer, SealError> {
        let bad = |message: String| SealError::Certificate {
            path: path.to_owned(),
            message,
        };
        let key = if pem.contains("BEGIN CERTIFICATE") {
            let cert = x509_cert::Certificate::from_pem(pem.trim().as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            let der = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| bad(e.to_string()))?;
            RsaPublicKey::from_public_key_der(&der).map_err(|e| bad(e.to_string()))?
        } else {
            RsaPublicKey::from_public_key_pem(pem.trim()).map_err(|e| bad(e.to_string()))?
        };
        Ok(CertSealer { key })
    }

    pub fn from_file(path: &std::path::Path) -> Result<CertSealer, SealError> {
        let shown = path.display().to_string();
        let pem = std::fs::read_to_string(path).map_err(|e| SealError::Certificate {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        Self::from_pem(&pem, &shown)
    }

    /// The public key as a PEM (for display and tests).
    pub fn public_key_pem(&self) -> Option<String> {
        self.key.to_public_key_pem(rsa::pkcs8::LineEnding::LF).ok()
    }
}

/// kubeseal's strict-scope label.
pub fn label(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl Sealer for CertSealer {
    fn seal(&self, namespace: &str, name: &str, value: &Secret) -> Result<String, SealError> {
        let sealed = hybrid_encrypt(
            &self.key,
            value.expose().as_bytes(),
            &label(namespace, name),
        )?;
        Ok(B64.encode(sealed))
    }
}

/// kubeseal's `HybridEncrypt`.
pub fn hybrid_encrypt(
    key: &RsaPublicKey,
    plaintext: &[u8],
    label: &str,
) -> Result<Vec<u8>, SealError> {
    let session = random_bytes::<32>().map_err(|e| SealError::Encrypt(e.to_string()))?;
    let padding = Oaep::new_with_label::<Sha256, _>(label);
    let rsa_ct = key
        .encrypt(&mut rsa::rand_core::OsRng, padding, &session)
        .map_err(|e| SealError::Encrypt(e.to_string()))?;
    let len =
        u16::try_from(rsa_ct.len()).map_err(|_| SealError::Encrypt("RSA key too large".into()))?;
    let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &session)
        .map_err(|_| SealError::Encrypt("AES key".into()))?;
    let sealing = aead::LessSafeKey::new(unbound);
    let mut body = plaintext.to_vec();
    sealing
        .seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key([0u8; 12]),
            aead::Aad::empty(),
            &mut body,
        )
        .map_err(|_| SealError::Encrypt("AES-GCM".into()))?;
    let mut out = Vec::with_capacity(2 + rsa_ct.len() + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&rsa_ct);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The controller's side (`HybridDecrypt`): used to verify sealing with a test key.
pub fn hybrid_decrypt(
    key: &RsaPrivateKey,
    sealed: &[u8],
    label: &str,
) -> Result<Vec<u8>, SealError> {
    let bad = |m: &str| SealError::Decrypt(m.to_owned());
    if sealed.len() < 2 {
        return Err(bad("too short"));
    }
    let len = usize::from(u16::from_be_bytes([sealed[0], sealed[1]]));
    let rest = &sealed[2..];
    if rest.len() < len {
        return Err(bad("truncated session key"));
    }
    let (rsa_ct, body) = rest.split_at(len);
    let session = key
        .decrypt(Oaep::new_with_label::<Sha256, _>(label), rsa_ct)
        .map_err(|e| SealError::Decrypt(e.to_string()))?;
    let unbound =
        aead::UnboundKey::new(&aead::AES_256_GCM, &session).map_err(|_| bad("session key"))?;
    let opening = aead::LessSafeKey::new(unbound);
    let mut buf = body.to_vec();
    let plain = opening
        .open_in_place(
            aead::Nonce::assume_unique_for_key([0u8; 12]),
            aead::Aad::empty(),
            &mut buf,
        )
        .map_err(|_| bad("AES-GCM authentication failed (wrong key or label)"))?;
    Ok(plain.to_vec())
}

/// Opens a base64 `encryptedData` value with a private key PEM (PKCS#8 or PKCS#1).
pub fn unseal_with_pem(
    private_pem: &str,
    namespace: &str,
    name: &str,
    value: &str,
) -> Result<Vec<u8>, SealError> {
    let key = RsaPrivateKey::from_pkcs8_pem(private_pem)
        .or_else(|_| {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            RsaPrivateKey::from_pkcs1_pem(private_pem)
        })
        .map_err(|e| SealError::Decrypt(e.to_string()))?;
    let sealed = B64
        .decode(value)
        .map_err(|e| SealError::Decrypt(e.to_string()))?;
    hybrid_decrypt(&key, &sealed, &label(namespace, name))
}
