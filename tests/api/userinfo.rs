//! The userinfo endpoint refuses every token it should.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::flow::{confidential, tokens_for};
use crate::helpers::{spawn_app, spawn_app_with, TestApp, PASSWORD};

pub(crate) async fn userinfo(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_token(resp: reqwest::Response) {
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"portcullis\", error=\"invalid_token\""),
        "{challenge}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.status(), 200);

    // A flipped signature byte.
    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
    sig[10] ^= 0x01;
    parts[2] = URL_SAFE_NO_PAD.encode(sig);
    assert_invalid_token(userinfo(&app, &parts.join(".")).await).await;

    // alg: none with the same claims.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let none = format!("{header}.{}.", access.split('.').nth(1).unwrap());
    assert_invalid_token(userinfo(&app, &none).await).await;

    // The ID token is not an access token (typ JWT, audience the client).
    assert_invalid_token(userinfo(&app, tokens["id_token"].as_str().unwrap()).await).await;

    // Garbage.
    assert_invalid_token(userinfo(&app, "not-a-token").await).await;

    // A token from another Portcullis (unknown kid).
    let other = spawn_app().await;
    other.create_user("alice", PASSWORD).await;
    let other_client = confidential(&other).await;
    let foreign = tokens_for(&other, &other_client, &[]).await;
    assert_invalid_token(userinfo(&app, foreign["access_token"].as_str().unwrap()).await).await;
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let app = spawn_app_with(|f| f.merge(("oauth.access_token_lifetime_secs", 1))).await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_invalid_token(userinfo(&app, tokens["access_token"].as_str().unwrap()).await).await;
}

#[tokio::test]
async fn a_request_without_a_token_gets_a_bare_challenge() {
    let app = spawn_app().await;
    let resp = app.get("/userinfo").await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
    let resp = app
        .client
        .get(app.url("/userinfo?access_token=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "tokens in the query string are not accepted"
    );
}

#[tokio::test]
async fn the_token_may_come_in_a_form_body_and_the_scope_must_include_openid() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    let resp = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let plain = tokens_for(&app, &client, &[("scope", "email"), ("nonce", "")]).await;
    assert!(
        plain.get("id_token").is_none(),
        "no openid scope, no ID token"
    );
    let resp = userinfo(&app, plain["access_token"].as_str().unwrap()).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
}

#[tokio::test]
async fn a_disabled_users_tokens_stop_working() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    portcullis::accounts::set_disabled(&app.store, "alice", true, portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    assert_invalid_token(userinfo(&app, tokens["access_token"].as_str().unwrap()).await).await;
}
