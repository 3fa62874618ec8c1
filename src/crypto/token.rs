//! Hashing and comparing high-entropy tokens. A 256-bit random token needs no slow hash:
//! SHA-256 is preimage-resistant, and storing only the digest means a database leak does
//! not hand out usable tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 of the token, base64url without padding: the form stored in the database.
pub fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets without an early exit on the first differing byte.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether `token` looks like one of ours (43 base64url chars); lets callers reject junk
/// before touching the database.
pub fn is_well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_differs_from_the_token() {
        let t = crate::crypto::random::secret_token();
        assert_eq!(hash(&t), hash(&t));
        assert_ne!(hash(&t), t);
        assert_eq!(hash(&t).len(), 43);
    }

    #[test]
    fn constant_time_eq_compares_content() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }

    #[test]
    fn well_formed_rejects_junk() {
        assert!(is_well_formed(&crate::crypto::random::secret_token()));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(
            &"a".repeat(42)
                .chars()
                .chain(['='].into_iter())
                .collect::<String>()
        ));
    }
}
