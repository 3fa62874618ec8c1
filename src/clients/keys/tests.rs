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
    assert_eq!(problem(&ec("ES256")), None);
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
    let off = altered(ec("ES256"), "y", |y| *y.last_mut().unwrap() ^= 1);
    assert_eq!(
        problem(&off).unwrap(),
        "its point is not on the P-256 curve"
    );
    // A P-256 key with a coordinate one byte short.
    let short = altered(ec("ES256"), "x", |x| {
        x.pop();
    });
    assert_eq!(
        problem(&short).unwrap(),
        "its P-256 coordinates must be 32 bytes each"
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
        "its curve is not accepted (use P-256: EC assertions are verified with ES256)"
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

/// SIGNING_ALGS has ES256 only: a valid P-384 or P-521 key could never verify an assertion.
#[test]
fn p384_and_p521_keys_are_refused() {
    for alg in ["ES384", "ES512"] {
        assert_eq!(
            problem(&ec(alg)).unwrap(),
            "its curve is not accepted (use P-256: EC assertions are verified with ES256)",
            "{alg}"
        );
    }
}

#[test]
fn alg_use_and_key_ops_that_rule_out_verifying_are_refused() {
    let alg_msg =
        |algs: &str| format!("its alg is not one this key type can verify with (use {algs})");
    for (key, alg) in [
        (rsa_2048(), "ES256"),
        (rsa_2048(), "RS512"),
        (rsa_2048(), "HS256"),
        (ec("ES256"), "RS256"),
        (ec("ES256"), "ES384"),
    ] {
        let mut key = key;
        let algs = if key["kty"] == "RSA" {
            "RS256 or PS256"
        } else {
            "ES256"
        };
        key["alg"] = json!(alg);
        assert_eq!(problem(&key).unwrap(), alg_msg(algs), "{alg}");
    }
    for (key, alg) in [
        (rsa_2048(), "RS256"),
        (rsa_2048(), "PS256"),
        (ec("ES256"), "ES256"),
    ] {
        let mut key = key;
        key["alg"] = json!(alg);
        assert_eq!(problem(&key), None, "{alg}");
    }
    let mut enc = rsa_2048();
    enc["use"] = json!("enc");
    assert_eq!(
        problem(&enc).unwrap(),
        "its use is not sig; only signing keys verify assertions"
    );
    enc["use"] = json!("sig");
    assert_eq!(problem(&enc), None);
    let mut ops = ec("ES256");
    ops["key_ops"] = json!(["encrypt", "wrapKey"]);
    assert_eq!(problem(&ops).unwrap(), "its key_ops do not include verify");
    ops["key_ops"] = json!("verify");
    assert_eq!(problem(&ops).unwrap(), "its key_ops do not include verify");
    ops["key_ops"] = json!(["verify"]);
    assert_eq!(problem(&ops), None);
}
