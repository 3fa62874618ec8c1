//! Randomness from the operating system's CSPRNG.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// N random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing means the machine cannot do cryptography at all; there is no
    // safe fallback, so this is the one place the program aborts on purpose.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    buf
}

/// A 256-bit secret (session token, client secret, one-time token), base64url, 43 chars.
pub fn secret_token() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// A 128-bit opaque identifier (user id / `sub`, client id, event id), base64url, 22 chars.
/// Never starting with `-`: operators pass these on the command line, where a leading dash
/// reads as an option (a 1-in-64 draw is simply drawn again).
pub fn identifier() -> String {
    loop {
        let id = URL_SAFE_NO_PAD.encode(bytes::<16>());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// Salt bytes for argon2.
pub fn salt() -> [u8; 16] {
    bytes::<16>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_promised_entropy_and_alphabet() {
        let t = secret_token();
        assert_eq!(t.len(), 43);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(t, secret_token());
        assert_eq!(identifier().len(), 22);
    }

    #[test]
    fn identifiers_never_start_with_a_dash() {
        for _ in 0..5000 {
            let id = identifier();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'), "{id}");
        }
    }
}
