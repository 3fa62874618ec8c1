//! Whether a client's public key (one JWK of its JWK Set) is usable, checked when the key is
//! registered or fetched rather than when the first assertion fails to verify.
//!
//! Invariants: RSA keys have a modulus of 2048 to 16384 bits that is odd, and the public
//! exponent 65537 (RFC 7518 §3.3 asks for 2048 bits; small or unusual exponents and even
//! moduli are broken keys or a probe); EC keys name P-256, P-384 or P-521, give both
//! coordinates at the curve's full length (RFC 7518 §6.2.1.2) and describe a point on that
//! curve, as OpenSSL (the library that later verifies with them) checks it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use serde_json::Value;

const MIN_RSA_BITS: usize = 2048;
/// Verifying with a larger modulus costs more than any client needs.
const MAX_RSA_BITS: usize = 16384;

/// Why a key cannot be used, in words for the registering party.
pub(super) fn problem(key: &Value) -> Option<String> {
    match key.get("kty").and_then(Value::as_str) {
        Some("RSA") => rsa_problem(key),
        Some("EC") => ec_problem(key),
        _ => Some("only RSA and EC keys are accepted".into()),
    }
}

/// A base64url member of the key, without padding (RFC 7518 §2).
fn member(key: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = key
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("it has no {name} member"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("its {name} member is not base64url"))
}

/// The big-endian integer without its leading zero bytes.
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn rsa_problem(key: &Value) -> Option<String> {
    let n = match member(key, "n") {
        Ok(n) => n,
        Err(e) => return Some(e),
    };
    let e = match member(key, "e") {
        Ok(e) => e,
        Err(e) => return Some(e),
    };
    let n = strip_zeros(&n);
    let bits = match n.first() {
        Some(first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    };
    if bits < MIN_RSA_BITS {
        return Some(format!(
            "its RSA modulus has {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    if bits > MAX_RSA_BITS {
        return Some(format!(
            "its RSA modulus has {bits} bits; at most {MAX_RSA_BITS} are accepted"
        ));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Some("its RSA modulus is even, so it is not an RSA key".into());
    }
    if strip_zeros(&e) != [0x01, 0x00, 0x01] {
        return Some("its RSA public exponent is not 65537".into());
    }
    None
}

fn ec_problem(key: &Value) -> Option<String> {
    let (curve, nid, size) = match key.get("crv").and_then(Value::as_str) {
        Some("P-256") => ("P-256", Nid::X9_62_PRIME256V1, 32),
        Some("P-384") => ("P-384", Nid::SECP384R1, 48),
        Some("P-521") => ("P-521", Nid::SECP521R1, 66),
        _ => return Some("its curve is not supported (use P-256, P-384 or P-521)".into()),
    };
    let (x, y) = match (member(key, "x"), member(key, "y")) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return Some(e),
    };
    if x.len() != size || y.len() != size {
        return Some(format!("its {curve} coordinates must be {size} bytes each"));
    }
    let on_curve = (|| {
        let group = EcGroup::from_curve_name(nid)?;
        let x = BigNum::from_slice(&x)?;
        let y = BigNum::from_slice(&y)?;
        // Fails unless (x, y) is a point of the group; check_key also rules out the
        // point at infinity and points outside the prime-order subgroup.
        EcKey::from_public_key_affine_coordinates(&group, &x, &y)?.check_key()
    })();
    match on_curve {
        Ok(()) => None,
        Err(_) => Some(format!("its point is not on the {curve} curve")),
    }
}

#[cfg(test)]
mod tests;
