use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::*;
use crate::store::{migrations, DatabaseUrl};

fn policy() -> KeyPolicy {
    KeyPolicy {
        rsa_bits: 2048,
        rotation_interval_secs: 90 * 86_400,
        prepublish_secs: 86_400,
        max_token_lifetime_secs: 600,
        removal_leeway_secs: 300,
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url =
        DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("k.db").display())).unwrap();
    let store = Store::connect(url, 2, Duration::from_secs(5)).unwrap();
    store.run_sync(migrations::run_pending).unwrap();
    (dir, store)
}

fn claims() -> Map<String, Value> {
    json!({ "iss": "https://id.example", "sub": "u1" })
        .as_object()
        .unwrap()
        .clone()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn a_fresh_database_gets_one_active_key_per_algorithm_published_without_private_parts() {
    let (_dir, store) = store();
    let ring = KeyRing::open(store.clone(), Kek::generate(), policy())
        .await
        .unwrap();
    let jwks = ring.jwks();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].is_string());
        assert!(
            key.get("d").is_none() && key.get("p").is_none(),
            "no private parts: {key}"
        );
    }
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"RS256") && algs.contains(&"ES256"));
    assert_eq!(
        keys.iter().find(|k| k["alg"] == "RS256").unwrap()["kty"],
        "RSA"
    );
    assert_eq!(
        keys.iter().find(|k| k["alg"] == "ES256").unwrap()["kty"],
        "EC"
    );
    let list = KeyRing::list(&store).await.unwrap();
    assert!(list.iter().all(|k| k.state == "active"));
}

#[tokio::test]
async fn private_keys_are_stored_only_encrypted() {
    let (_dir, store) = store();
    let kek = Kek::generate();
    KeyRing::open(store.clone(), kek.clone(), policy())
        .await
        .unwrap();
    let rows = store.run(rows::all).await.unwrap();
    for row in rows {
        assert!(!row.private_key.contains("PRIVATE KEY"));
        let pem = kek.decrypt(&row.private_key, &row.kid).unwrap();
        assert!(String::from_utf8(pem)
            .unwrap()
            .contains("BEGIN PRIVATE KEY"));
        assert!(Kek::generate().decrypt(&row.private_key, &row.kid).is_err());
    }
    // A ring with the wrong KEK refuses to start rather than sign with garbage.
    assert!(KeyRing::open(store, Kek::generate(), policy())
        .await
        .is_err());
}

#[tokio::test]
async fn signed_tokens_verify_and_forgeries_do_not() {
    let (_dir, store) = store();
    let ring = KeyRing::open(store, Kek::generate(), policy())
        .await
        .unwrap();
    for alg in Alg::ALL {
        let token = ring.sign(alg, "at+jwt", claims()).unwrap();
        let (verified, header) = ring.verify(&token).unwrap();
        assert_eq!(verified["sub"], "u1");
        assert_eq!(header.token_type(), Some("at+jwt"));
        assert_eq!(header.algorithm(), Some(alg.as_str()));
        assert_eq!(header.key_id(), ring.active_kid(alg).as_deref());

        // A flipped byte in the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
        sig[0] ^= 1;
        parts[2] = URL_SAFE_NO_PAD.encode(sig);
        assert!(ring.verify(&parts.join(".")).is_err());
        // A changed payload under the old signature.
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&json!({"sub": "admin"})),
            token.split('.').nth(2).unwrap()
        );
        assert!(ring.verify(&forged).is_err());
    }
    let kid = ring.active_kid(Alg::Rs256).unwrap();
    // alg: none
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": kid})),
        b64(&json!({"sub": "u1"}))
    );
    assert!(ring.verify(&none).is_err());
    // HS256 keyed with the published public key.
    let public = ring.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .to_string();
    let hs = josekit::jws::HS256
        .signer_from_bytes(public.as_bytes())
        .unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id(&kid);
    let payload = JwtPayload::from_map(claims()).unwrap();
    let hmac_token = jwt::encode_with_signer(&payload, &header, &hs).unwrap();
    assert!(ring.verify(&hmac_token).is_err());
    // RS256 header on the ES256 key.
    let es_kid = ring.active_kid(Alg::Es256).unwrap();
    let es_token = ring.sign(Alg::Es256, "JWT", claims()).unwrap();
    let swapped = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "kid": es_kid})),
        es_token.split_once('.').unwrap().1
    );
    assert!(ring.verify(&swapped).is_err());
    // An unknown kid, a missing kid, garbage.
    let other = KeyRing::open(self::store().1, Kek::generate(), policy())
        .await
        .unwrap();
    assert!(ring
        .verify(&other.sign(Alg::Rs256, "JWT", claims()).unwrap())
        .is_err());
    assert!(ring.verify("not.a.jwt").is_err());
    assert!(ring.verify("").is_err());
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_other_instances_agree() {
    let (_dir, store) = store();
    let a = KeyRing::open(store.clone(), Kek::generate(), policy()).await;
    let a = a.unwrap();
    let kek = a.kek.clone();
    let b = KeyRing::open(store.clone(), kek, policy()).await.unwrap();
    let old = a.active_kid(Alg::Rs256).unwrap();
    let old_token = a.sign(Alg::Rs256, "JWT", claims()).unwrap();

    let created = a.rotate(false, Actor::Cli).await.unwrap();
    assert_eq!(created.len(), 2);
    b.reload().await.unwrap();

    for ring in [&a, &b] {
        assert_eq!(
            ring.jwks()["keys"].as_array().unwrap().len(),
            4,
            "new keys are published"
        );
        assert_eq!(
            ring.active_kid(Alg::Rs256).unwrap(),
            old,
            "but do not sign yet"
        );
        assert!(ring.verify(&old_token).is_ok());
    }
    let states: Vec<&str> = KeyRing::list(&store)
        .await
        .unwrap()
        .iter()
        .map(|k| k.state)
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "pending").count(), 2);
    assert_eq!(states.iter().filter(|s| **s == "active").count(), 2);
}

fn kids(ring: &KeyRing) -> Vec<String> {
    ring.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_immediate_rotation_signs_with_the_new_key_and_keeps_the_old_one_until_its_tokens_expire(
) {
    let (_dir, store) = store();
    let ring = KeyRing::open(store.clone(), Kek::generate(), policy())
        .await
        .unwrap();
    let old = ring.active_kid(Alg::Rs256).unwrap();
    let old_token = ring.sign(Alg::Rs256, "JWT", claims()).unwrap();

    ring.rotate(true, Actor::Cli).await.unwrap();

    let new = ring.active_kid(Alg::Rs256).unwrap();
    assert_ne!(new, old);
    assert!(
        ring.verify(&old_token).is_ok(),
        "old tokens verify after the rotation"
    );
    assert!(kids(&ring).contains(&old));
    // It leaves exactly when the last token it signed expires (plus the leeway).
    let keys = KeyRing::list(&store).await.unwrap();
    let new_info = keys.iter().find(|k| k.kid == new).unwrap();
    let old_info = keys.iter().find(|k| k.kid == old).unwrap();
    let p = policy();
    assert_eq!(
        old_info.remove_at,
        Some(new_info.activate_at + p.max_token_lifetime_secs + p.removal_leeway_secs)
    );
    assert_eq!(old_info.state, "retired");
}

#[tokio::test]
async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired() {
    let (_dir, store) = store();
    let instant = KeyPolicy {
        max_token_lifetime_secs: 0,
        removal_leeway_secs: 0,
        ..policy()
    };
    let ring = KeyRing::open(store.clone(), Kek::generate(), instant)
        .await
        .unwrap();
    let old = ring.active_kid(Alg::Rs256).unwrap();
    let old_token = ring.sign(Alg::Rs256, "JWT", claims()).unwrap();
    ring.rotate(true, Actor::Cli).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let new = ring.active_kid(Alg::Rs256).unwrap();
    assert!(!kids(&ring).contains(&old), "the retired key left the JWKS");
    assert!(kids(&ring).contains(&new));
    assert!(ring.verify(&old_token).is_err());
    let states: Vec<(String, &str)> = KeyRing::list(&store)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    assert!(states.contains(&(old, "removed")));
}

#[tokio::test]
async fn maintenance_rotates_when_the_newest_key_is_due() {
    let (_dir, store) = store();
    let due = KeyPolicy {
        rotation_interval_secs: 10,
        prepublish_secs: 10,
        ..policy()
    };
    let ring = KeyRing::open(store.clone(), Kek::generate(), due)
        .await
        .unwrap();
    assert_eq!(ring.maintain().await.unwrap(), 2);
    // The new generation is not due yet: a second run creates nothing.
    assert_eq!(ring.maintain().await.unwrap(), 0);
    assert_eq!(KeyRing::list(&store).await.unwrap().len(), 4);
}

#[tokio::test]
async fn retiring_previous_keys_invalidates_their_tokens_at_once() {
    let (_dir, store) = store();
    let ring = KeyRing::open(store.clone(), Kek::generate(), policy())
        .await
        .unwrap();
    let old_token = ring.sign(Alg::Rs256, "JWT", claims()).unwrap();
    ring.rotate(true, Actor::Cli).await.unwrap();
    assert!(ring.verify(&old_token).is_ok());

    assert_eq!(ring.retire_previous(Actor::Cli).await.unwrap(), 2);

    assert!(ring.verify(&old_token).is_err());
    assert_eq!(ring.jwks()["keys"].as_array().unwrap().len(), 2);
    let fresh = ring.sign(Alg::Rs256, "JWT", claims()).unwrap();
    assert!(ring.verify(&fresh).is_ok());
}
