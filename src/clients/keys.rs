//! Whether a client's public key (one JWK of its JWK Set) is usable, checked when the key is
//! registered or fetched rather than when the first assertion fails to verify.
//!
//! Invariants: a key is usable only if it can verify a client assertion with one of
//! `SIGNING_ALGS` (RS256, PS256, ES256): RSA keys have a modulus of 2048 to 16384 bits that
//! is odd, and the public exponent 65537 (RFC 7518 §3.3 asks for 2048 bits; small or unusual
//! exponents and even moduli are broken keys or a probe); EC keys are on P-256 (the curve of
//! ES256; P-384 and P-521 keys could never verify), give both coordinates at full length
//! (RFC 7518 §6.2.1.2) and describe a point on the curve, as OpenSSL (the library that later
//! verifies with them) checks it. A key's own `alg`, `use` and `key_ops` must not rule out
//! verifying with such an algorithm, and josekit must build a verifier from it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use serde_json::Value;

use crate::oauth::client_assertion::SIGNING_ALGS;
use josekit::jws::{ES256, PS256, RS256};

const MIN_RSA_BITS: usize = 2048;
/// Verifying with a larger modulus costs more than any client needs.
const MAX_RSA_BITS: usize = 16384;

/// Why a key cannot be used, in words for the registering party.
pub(super) fn problem(key: &Value) -> Option<String> {
    let algs: &[&str] = match key.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["RS256", "PS256"],
        Some("EC") => &["ES256"],
        _ => return Some("only RSA and EC keys are accepted".into()),
    };
    debug_assert!(algs.iter().all(|a| SIGNING_ALGS.contains(a)));
    let shape = if algs.len() == 2 {
        rsa_problem(key)
    } else {
        ec_problem(key)
    };
    if shape.is_some() {
        return shape;
    }
    if let Some(member) = key.get("use") {
        if member.as_str() != Some("sig") {
            return Some("its use is not sig; only signing keys verify assertions".into());
        }
    }
    if let Some(ops) = key.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verify {
            return Some("its key_ops do not include verify".into());
        }
    }
    let usable: Vec<&str> = match key.get("alg") {
        None => algs.to_vec(),
        Some(alg) => match alg.as_str().filter(|a| algs.contains(a)) {
            Some(alg) => vec![alg],
            None => {
                return Some(format!(
                    "its alg is not one this key type can verify with (use {})",
                    algs.join(" or ")
                ))
            }
        },
    };
    if !usable.iter().any(|alg| verifier_builds(key, alg)) {
        return Some("no signature verifier can be built from it".into());
    }
    None
}

/// Whether josekit, which verifies the assertions, accepts `key` for `alg`.
fn verifier_builds(key: &Value, alg: &str) -> bool {
    let Some(map) = key.as_object() else {
        return false;
    };
    let Ok(jwk) = josekit::jwk::Jwk::from_map(map.clone()) else {
        return false;
    };
    match alg {
        "RS256" => RS256.verifier_from_jwk(&jwk).is_ok(),
        "PS256" => PS256.verifier_from_jwk(&jwk).is_ok(),
        "ES256" => ES256.verifier_from_jwk(&jwk).is_ok(),
        _ => false,
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
        _ => {
            return Some(
                "its curve is not accepted (use P-256: EC assertions are verified with ES256)"
                    .into(),
            )
        }
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
