//! Recovery codes: ten single-use codes shown once, for when the authenticator is lost.
//!
//! Invariants: each code carries 80 random bits, so its unsalted SHA-256 (the only form
//! stored) cannot be reversed by brute force; a code is spent by one conditional UPDATE,
//! so it works once even under concurrent use; generating a new set deletes the old one.

use crate::crypto::{random, token};
use crate::store::recovery_codes as rows;
use crate::store::{DbConn, StoreError};

pub const COUNT: usize = 10;

/// Crockford's base32 alphabet: no i, l, o or u to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn generate_one() -> String {
    let bytes: [u8; 10] = random::bytes();
    // 80 bits → 16 symbols of 5 bits.
    let bits = bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let symbols: String = (0..16)
        .rev()
        .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
        .collect();
    symbols
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The canonical form that is hashed: lower-case symbols only, misreadings mapped back.
pub fn normalize(input: &str) -> Option<String> {
    let symbols: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    (symbols.len() == 16 && symbols.bytes().all(|b| ALPHABET.contains(&b))).then_some(symbols)
}

fn hash(code: &str) -> Option<String> {
    normalize(code).map(|c| token::hash(&c))
}

/// Replaces the user's codes with a fresh set and returns it (to show once). Call inside a
/// transaction.
pub fn regenerate(c: &mut DbConn, user_id: &str, now: i64) -> Result<Vec<String>, StoreError> {
    let codes: Vec<String> = (0..COUNT).map(|_| generate_one()).collect();
    let hashes: Vec<String> = codes.iter().filter_map(|c| hash(c)).collect();
    rows::replace(c, user_id, &hashes, now)?;
    Ok(codes)
}

/// Spends `code` if it is one of the user's unused codes; returns how many are left.
pub fn redeem(
    c: &mut DbConn,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let Some(hash) = hash(code) else {
        return Ok(None);
    };
    if !rows::spend(c, user_id, &hash, now)? {
        return Ok(None);
    }
    Ok(Some(rows::remaining(c, user_id)?))
}

pub fn remaining(c: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    rows::remaining(c, user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_crockford_base32_and_normalize_back() {
        let code = generate_one();
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3);
        assert_eq!(normalize(&code).unwrap(), code.replace('-', ""));
        assert_eq!(
            normalize(&code.to_uppercase().replace('-', " ")),
            normalize(&code)
        );
        assert_ne!(generate_one(), code);
    }

    #[test]
    fn misread_letters_map_to_digits_and_junk_is_refused() {
        assert_eq!(
            normalize("OIL0-0000-0000-0000").as_deref(),
            Some("0110000000000000")
        );
        assert_eq!(normalize("0000-0000-0000-000"), None);
        assert_eq!(normalize("0000-0000-0000-000u"), None);
        assert_eq!(normalize(""), None);
    }
}
