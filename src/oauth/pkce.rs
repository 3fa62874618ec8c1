//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` offers no protection when the
//! authorization request leaks, so it is refused (RFC 9700 §2.1.1).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::crypto::token::constant_time_eq;

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A challenge is the base64url SHA-256 of a verifier: exactly 43 characters.
pub fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved)
}

pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn verify(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier) && constant_time_eq(&s256(verifier), challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(s256(verifier), challenge);
        assert!(verify(verifier, challenge));
        assert!(is_valid_challenge(challenge));
    }

    #[test]
    fn wrong_or_malformed_verifiers_fail() {
        let challenge = s256(&"a".repeat(43));
        assert!(!verify(&"b".repeat(43), &challenge));
        assert!(
            !verify(&"a".repeat(42), &s256(&"a".repeat(42))),
            "too short"
        );
        assert!(
            !verify(&"a".repeat(129), &s256(&"a".repeat(129))),
            "too long"
        );
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(!is_valid_challenge("plain-challenge"));
    }
}
