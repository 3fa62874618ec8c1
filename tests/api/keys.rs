//! Signing key rotation as relying parties and several instances see it.

use std::time::Duration;

use serde_json::Value;

use crate::flow::{confidential, tokens_for};
use crate::helpers::{spawn_app_with, spawn_instance_beside, TestApp, PASSWORD};

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn jwks(app: &TestApp) -> Value {
    app.get("/jwks.json").await.json().await.unwrap()
}

async fn kid_of(app: &TestApp, token: &str) -> String {
    crate::flow::verify_jwt(app, token).await.0["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn tokens_signed_before_an_immediate_rotation_still_verify_after_it() {
    let app = spawn_app_with(|f| f.merge(("keys.reload_interval_secs", 1))).await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let before = tokens_for(&app, &client, &[]).await;
    let old_kid = kid_of(&app, before["access_token"].as_str().unwrap()).await;

    let ring = portcullis::startup::open_keys(
        &app.settings,
        &app.store,
        portcullis::crypto::envelope::Kek::from_base64(&crate::helpers::test_kek()).unwrap(),
    )
    .await
    .unwrap();
    ring.rotate(true, portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let published = kids(&jwks(&app).await);
    assert_eq!(published.len(), 4, "old and new keys are both published");
    assert!(published.contains(&old_kid));
    assert_eq!(
        userinfo_status(&app, before["access_token"].as_str().unwrap()).await,
        200
    );
    crate::flow::verify_jwt(&app, before["id_token"].as_str().unwrap()).await;
    let after = tokens_for(&app, &client, &[]).await;
    let new_kid = kid_of(&app, after["access_token"].as_str().unwrap()).await;
    assert_ne!(new_kid, old_kid, "the new key signs");
    assert!(
        published[..2].contains(&new_kid),
        "newest first: {published:?}"
    );
}

#[tokio::test]
async fn two_instances_never_sign_with_a_key_that_is_not_yet_published() {
    let tweak = |f: figment::Figment| f.merge(("keys.reload_interval_secs", 1));
    let a = spawn_app_with(tweak).await;
    let b = spawn_instance_beside(&a, tweak).await;
    a.create_user("alice", PASSWORD).await;
    let client = confidential(&a).await;
    let first = tokens_for(&a, &client, &[]).await;
    let old_kid = kid_of(&a, first["access_token"].as_str().unwrap()).await;
    assert_eq!(
        kids(&jwks(&a).await),
        kids(&jwks(&b).await),
        "both instances agree"
    );

    // An ordinary rotation on instance A: published now, signing in 24 hours.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["keys", "rotate", "--json"])
        .env("PORTCULLIS__DATABASE__URL", &a.settings.database.url)
        .env(
            "PORTCULLIS__KEYS__ENCRYPTION_KEY",
            crate::helpers::test_kek(),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kids: Vec<String> = serde_json::from_value(created["created"].clone()).unwrap();
    assert_eq!(new_kids.len(), 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;

    for instance in [&a, &b] {
        let published = kids(&jwks(instance).await);
        assert_eq!(published.len(), 4);
        assert!(
            new_kids.iter().all(|k| published.contains(k)),
            "the new keys are published"
        );
        let fresh = tokens_for(instance, &client, &[]).await;
        assert_eq!(
            kid_of(instance, fresh["access_token"].as_str().unwrap()).await,
            old_kid,
            "but nobody signs with them yet"
        );
    }

    let list = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["keys", "list", "--json"])
        .env("PORTCULLIS__DATABASE__URL", &a.settings.database.url)
        .output()
        .unwrap();
    assert!(list.status.success());
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let states: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "pending").count(), 2);
    assert_eq!(states.iter().filter(|s| **s == "active").count(), 2);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("private_key").is_none()));
}
