//! Envelope encryption for secrets at rest (signing keys now; TOTP secrets later).
//!
//! Each value gets its own random 256-bit data key (DEK); the value is sealed with
//! AES-256-GCM under the DEK, and the DEK is sealed under the key-encryption key (KEK),
//! which comes from configuration, the environment or a file, never from the database.
//! Rotating the KEK therefore only rewraps DEKs. The caller's `context` (say, a key id) is
//! bound as associated data, so a ciphertext moved to another row fails to open.
//!
//! Format (base64url, no padding): `v1 || dek_nonce(12) || wrapped_dek(48) || nonce(12) || ct`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const VERSION: u8 = 1;
const NONCE: usize = 12;
const WRAPPED_DEK: usize = 32 + 16;

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the key-encryption key must be 32 bytes, base64url or standard base64 encoded")]
    BadKek,
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext does not open with this key-encryption key (wrong key or tampered data)")]
    Open,
}

/// The key-encryption key. Never printed.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

fn seal(key: &[u8; 32], msg: &[u8], aad: &[u8]) -> (Vec<u8>, [u8; NONCE]) {
    let nonce: [u8; NONCE] = super::random::bytes();
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    // Encryption with a valid key and nonce size cannot fail for inputs this small.
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .unwrap_or_default();
    (ct, nonce)
}

fn open(key: &[u8], nonce: &[u8], ct: &[u8], aad: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| EnvelopeError::Malformed)?;
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| EnvelopeError::Open)
}

impl Kek {
    pub fn generate() -> Self {
        Kek(super::random::bytes())
    }

    /// Accepts base64url or standard base64, with or without padding.
    pub fn from_base64(text: &str) -> Result<Self, EnvelopeError> {
        let text = text.trim().trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| EnvelopeError::BadKek)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| EnvelopeError::BadKek)?;
        Ok(Kek(key))
    }

    /// A 256-bit key for another purpose, derived so that it reveals nothing about the KEK.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"portcullis-derive-v1\0");
        h.update(label.as_bytes());
        h.update([0]);
        h.update(self.0);
        h.finalize().into()
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> String {
        let dek: [u8; 32] = super::random::bytes();
        let (wrapped, dek_nonce) = seal(&self.0, &dek, context.as_bytes());
        let (ct, nonce) = seal(&dek, plaintext, context.as_bytes());
        let mut out = Vec::with_capacity(1 + NONCE + WRAPPED_DEK + NONCE + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&dek_nonce);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn decrypt(&self, sealed: &str, context: &str) -> Result<Vec<u8>, EnvelopeError> {
        let raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| EnvelopeError::Malformed)?;
        if raw.len() < 1 + NONCE + WRAPPED_DEK + NONCE + 16 || raw[0] != VERSION {
            return Err(EnvelopeError::Malformed);
        }
        let (dek_nonce, rest) = raw[1..].split_at(NONCE);
        let (wrapped, rest) = rest.split_at(WRAPPED_DEK);
        let (nonce, ct) = rest.split_at(NONCE);
        let dek = open(&self.0, dek_nonce, wrapped, context.as_bytes())?;
        open(&dek, nonce, ct, context.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_the_context() {
        let kek = Kek::generate();
        let sealed = kek.encrypt(b"private key material", "kid-1");
        assert_eq!(
            kek.decrypt(&sealed, "kid-1").unwrap(),
            b"private key material"
        );
        assert!(matches!(
            kek.decrypt(&sealed, "kid-2"),
            Err(EnvelopeError::Open)
        ));
        assert!(matches!(
            Kek::generate().decrypt(&sealed, "kid-1"),
            Err(EnvelopeError::Open)
        ));
        assert!(!sealed.contains("private"));
    }

    #[test]
    fn tampering_is_detected() {
        let kek = Kek::generate();
        let sealed = kek.encrypt(b"secret", "ctx");
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(kek.decrypt(&URL_SAFE_NO_PAD.encode(raw), "ctx").is_err());
        assert!(matches!(
            kek.decrypt("short", "ctx"),
            Err(EnvelopeError::Malformed)
        ));
    }

    #[test]
    fn kek_parsing() {
        let kek = Kek::generate();
        assert!(Kek::from_base64(&kek.to_base64()).is_ok());
        assert!(matches!(
            Kek::from_base64("dG9vIHNob3J0"),
            Err(EnvelopeError::BadKek)
        ));
        assert!(matches!(
            Kek::from_base64("!!!"),
            Err(EnvelopeError::BadKek)
        ));
        assert_eq!(format!("{kek:?}"), "Kek([redacted])");
    }
}
