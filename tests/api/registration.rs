//! Dynamic client registration (RFC 7591) and management (RFC 7592).

use serde_json::{json, Value};

use crate::flow::{tokens_for, RpClient, REDIRECT};
use crate::helpers::{spawn_app, spawn_app_with, TestApp, PASSWORD};

pub(crate) const INITIAL: &str = "initial-access-token-0123456789abcdef";

pub(crate) async fn app_with_registration() -> TestApp {
    spawn_app_with(|f| {
        f.merge(("registration.enabled", true))
            .merge(("registration.initial_access_token", INITIAL))
    })
    .await
}

pub(crate) async fn register(app: &TestApp, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.client.post(app.url("/register")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn client_count(app: &TestApp) -> usize {
    app.db(portcullis::store::clients::list).await.len()
}

#[tokio::test]
async fn registration_is_off_by_default() {
    let app = spawn_app().await;
    let resp = register(&app, Some(INITIAL), json!({ "redirect_uris": [REDIRECT] })).await;
    assert_eq!(resp.status(), 404);
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(meta.get("registration_endpoint").is_none());
    assert_eq!(client_count(&app).await, 0);
}

#[tokio::test]
async fn a_registered_client_gets_credentials_and_can_sign_users_in() {
    let app = app_with_registration().await;
    app.create_user("alice", PASSWORD).await;
    let meta: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["registration_endpoint"], app.url("/register"));

    let resp = register(
        &app,
        Some(INITIAL),
        json!({
            "client_name": "Dynamic App",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "logo_uri": "https://app.example.com/logo.png"
        }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["client_name"], "Dynamic App");
    assert_eq!(body["redirect_uris"], json!([REDIRECT]));
    assert_eq!(body["client_secret_expires_at"], 0);
    let id = body["client_id"].as_str().unwrap();
    assert_eq!(
        body["registration_client_uri"],
        app.url(&format!("/register/{id}"))
    );
    assert_eq!(
        body["registration_access_token"].as_str().unwrap().len(),
        43
    );

    let client = RpClient {
        id: id.to_owned(),
        secret: Some(body["client_secret"].as_str().unwrap().to_owned()),
    };
    let tokens = tokens_for(&app, &client, &[]).await;
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn registration_needs_the_initial_access_token() {
    let app = app_with_registration().await;
    let body = json!({ "redirect_uris": [REDIRECT] });
    let missing = register(&app, None, body.clone()).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
    let wrong = register(&app, Some("not-the-initial-access-token-at-all"), body).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    assert_eq!(client_count(&app).await, 0);
}

#[tokio::test]
async fn invalid_metadata_is_refused_with_the_rfc_error() {
    let app = app_with_registration().await;
    for (body, error) in [
        (
            json!({ "redirect_uris": ["http://app.example.com/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://app.example.com/cb#x"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": [REDIRECT], "response_types": ["token"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [REDIRECT], "jwks_uri": "https://app.example.com/jwks" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "tls_client_auth" }),
            "invalid_client_metadata",
        ),
        (json!({ "redirect_uris": [] }), "invalid_client_metadata"),
        (
            json!({ "redirect_uris": [REDIRECT], "subject_type": "weird" }),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let resp = register(&app, Some(INITIAL), body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"], error, "{body}");
    }
    assert_eq!(client_count(&app).await, 0);
}

#[tokio::test]
async fn a_client_reads_updates_and_deletes_its_registration() {
    let app = app_with_registration().await;
    let created: Value = register(
        &app,
        Some(INITIAL),
        json!({ "client_name": "Dynamic App", "redirect_uris": [REDIRECT] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let uri = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let read = app
        .client
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["client_name"], "Dynamic App");
    assert!(
        read.get("client_secret").is_none(),
        "the secret is never shown again"
    );

    let wrong = app
        .client
        .get(&uri)
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = app
        .client
        .get(app.url("/register/unknown-client"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        401,
        "another client's URI looks like a wrong token"
    );

    let updated = app
        .client
        .put(&uri)
        .bearer_auth(&token)
        .json(&json!({
            "client_id": created["client_id"],
            "client_name": "Renamed App",
            "redirect_uris": ["https://app.example.com/new-callback"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["client_name"], "Renamed App");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://app.example.com/new-callback"])
    );
    assert!(
        updated.get("client_secret").is_none(),
        "the secret is unchanged"
    );

    let bad = app
        .client
        .put(&uri)
        .bearer_auth(&token)
        .json(&json!({ "redirect_uris": ["javascript:alert(1)"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let reread: Value = app
        .client
        .get(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reread["client_name"], "Renamed App",
        "a refused update changes nothing"
    );

    let deleted = app
        .client
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        app.client
            .get(&uri)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(client_count(&app).await, 0);
}
