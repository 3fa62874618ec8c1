use josekit::jws::{ES256, ES384, ES512, RS256};
use openssl::rsa::Rsa;
use serde_json::{json, Value};

use super::*;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_2048() -> Value {
    let pair = RS256.generate_key_pair(2048).unwrap();
    serde_json::to_value(pair.to_jwk_public_key().as_ref()).unwrap()
}

fn ec(alg: &str) -> Value {
    let jwk = match alg {
        "ES256" => ES256.generate_key_pair().unwrap().to_jwk_public_key(),
        "ES384" => ES384.generate_key_pair().unwrap().to_jwk_public_key(),
        _ => ES512.generate_key_pair().unwrap().to_jwk_public_key(),
    };
    serde_json::to_value(jwk.as_ref()).unwrap()
}

/// `key` with member `name` decoded, changed by `f`, and encoded again.
fn altered(mut key: Value, name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut bytes = URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    f(&mut bytes);
    key[name] = json!(b64(&bytes));
    key
}

#[test]
fn good_rsa_and_ec_keys_are_accepted() {
    assert_eq!(problem(&rsa_2048()), None);
    for alg in ["ES256", "ES384", "ES512"] {
        assert_eq!(problem(&ec(alg)), None, "{alg}");
    }
    // A leading zero byte (some libraries add one) does not count as a bit.
    let padded = altered(rsa_2048(), "n", |n| n.insert(0, 0));
    assert_eq!(problem(&padded), None);
}

#[test]
fn short_rsa_moduli_are_refused() {
    let rsa = Rsa::generate(1024).unwrap();
    let key = json!({ "kty": "RSA", "n": b64(&rsa.n().to_vec()), "e": "AQAB" });
    assert_eq!(
        problem(&key).unwrap(),
        "its RSA modulus has 1024 bits; at least 2048 are required"
    );
    // 2047 bits: the top byte of a 2048-bit modulus made 0x7f.
    let short = altered(rsa_2048(), "n", |n| n[0] = 0x7f);
    assert_eq!(
        problem(&short).unwrap(),
        "its RSA modulus has 2047 bits; at least 2048 are required"
    );
    let huge = json!({ "kty": "RSA", "n": b64(&[0xff; 2049]), "e": "AQAB" });
    assert_eq!(
        problem(&huge).unwrap(),
        "its RSA modulus has 16392 bits; at most 16384 are accepted"
    );
}

#[test]
fn other_exponents_and_even_moduli_are_refused() {
    for e in ["Aw", "AQAA", "AQAC", "", "AAEAAQ"] {
        let mut key = rsa_2048();
        key["e"] = json!(e);
        let verdict = problem(&key);
        if e == "AAEAAQ" {
            assert_eq!(verdict, None, "65537 with a leading zero byte");
        } else {
            assert_eq!(
                verdict.as_deref(),
                Some("its RSA public exponent is not 65537"),
                "{e}"
            );
        }
    }
    let even = altered(rsa_2048(), "n", |n| *n.last_mut().unwrap() &= 0xfe);
    assert_eq!(
        problem(&even).unwrap(),
        "its RSA modulus is even, so it is not an RSA key"
    );
}

#[test]
fn points_off_the_curve_are_refused() {
    for (alg, curve) in [("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521")] {
        let off = altered(ec(alg), "y", |y| *y.last_mut().unwrap() ^= 1);
        assert_eq!(
            problem(&off).unwrap(),
            format!("its point is not on the {curve} curve"),
            "{alg}"
        );
    }
    // A P-256 point presented as a P-384 key has coordinates of the wrong length.
    let mut wrong = ec("ES256");
    wrong["crv"] = json!("P-384");
    assert_eq!(
        problem(&wrong).unwrap(),
        "its P-384 coordinates must be 48 bytes each"
    );
    // The origin is not on P-256.
    let zero = json!({ "kty": "EC", "crv": "P-256", "x": b64(&[0; 32]), "y": b64(&[0; 32]) });
    assert_eq!(
        problem(&zero).unwrap(),
        "its point is not on the P-256 curve"
    );
    // Coordinates at or above the field prime are not points either.
    let big = json!({ "kty": "EC", "crv": "P-256", "x": b64(&[0xff; 32]), "y": b64(&[0xff; 32]) });
    assert!(problem(&big).is_some());
}

#[test]
fn other_curves_key_types_and_malformed_members_are_refused() {
    let mut k1 = ec("ES256");
    k1["crv"] = json!("secp256k1");
    assert_eq!(
        problem(&k1).unwrap(),
        "its curve is not supported (use P-256, P-384 or P-521)"
    );
    let mut no_y = ec("ES256");
    no_y.as_object_mut().unwrap().remove("y");
    assert_eq!(problem(&no_y).unwrap(), "it has no y member");
    let mut padded = rsa_2048();
    padded["e"] = json!("AQAB==");
    assert_eq!(problem(&padded).unwrap(), "its e member is not base64url");
    let okp = json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(&[1; 32]) });
    assert_eq!(problem(&okp).unwrap(), "only RSA and EC keys are accepted");
}
