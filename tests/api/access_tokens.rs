//! The one access-token check and the extractors in front of it: a disabled client's
//! tokens stop working at once everywhere, and an API key is no access token.

use serde_json::Value;

use crate::flow::{confidential, tokens_for, RpClient};
use crate::helpers::{spawn_app, TestApp, PASSWORD};
use crate::userinfo::userinfo;

async fn set_client(app: &TestApp, client: &RpClient, assignment: &'static str) {
    let sql = format!(
        "UPDATE clients SET {assignment} WHERE client_id = '{}'",
        client.id
    );
    app.db(move |c| {
        diesel::connection::SimpleConnection::batch_execute(c, &sql)
            .map_err(portcullis::store::StoreError::from)
    })
    .await;
}

async fn introspect(app: &TestApp, caller: &RpClient, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/introspect"))
        .header("authorization", caller.basic_auth())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_token(resp: reqwest::Response, description: &str) {
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        format!(
            "Bearer realm=\"portcullis\", error=\"invalid_token\", \
             error_description=\"{description}\""
        )
        .as_str()
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": "invalid_token", "error_description": description })
    );
}

async fn assert_invalid_client(resp: reqwest::Response) {
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"portcullis\""
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_disabled_clients_tokens_and_credentials_stop_working_at_once() {
    // Arrange
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    let access = tokens["access_token"].as_str().unwrap();
    let auditor = confidential(&app).await;
    set_client(&app, &auditor, "may_introspect_any = true").await;
    let before: Value = introspect(&app, &auditor, access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["active"], true);
    assert_eq!(userinfo(&app, access).await.status(), 200);

    // Act
    set_client(&app, &client, "disabled = true").await;

    // Assert
    assert_invalid_token(userinfo(&app, access).await, "the access token was revoked").await;
    let after = introspect(&app, &auditor, access).await;
    assert_eq!(after.status(), 200);
    let after: Value = after.json().await.unwrap();
    assert_eq!(after, serde_json::json!({ "active": false }));
    assert_invalid_client(introspect(&app, &client, access).await).await;
    // At /token the client is refused before its grant is looked at (an enabled client
    // gets invalid_grant for this refresh token).
    let refreshed = app
        .client
        .post(app.url("/token"))
        .header("authorization", client.basic_auth())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "unknown"),
        ])
        .send()
        .await
        .unwrap();
    assert_invalid_client(refreshed).await;

    // Enabled again, the same token is honoured: nothing was revoked on the way.
    set_client(&app, &client, "disabled = false").await;
    assert_eq!(userinfo(&app, access).await.status(), 200);
}

#[tokio::test]
async fn an_api_key_is_refused_where_only_access_tokens_are_accepted() {
    let app = spawn_app().await;
    let key = "pcl_0123456789abcdef_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";

    assert_invalid_token(userinfo(&app, key).await, "API keys are not accepted here").await;
    let in_body = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", key)])
        .send()
        .await
        .unwrap();
    assert_invalid_token(in_body, "API keys are not accepted here").await;
}

#[tokio::test]
async fn malformed_bearer_requests_are_refused_before_any_lookup() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    let access = tokens["access_token"].as_str().unwrap();

    // Another scheme.
    let basic = app
        .client
        .get(app.url("/userinfo"))
        .header("authorization", client.basic_auth())
        .send()
        .await
        .unwrap();
    assert_invalid_token(basic, "use the Bearer scheme").await;

    // The token two ways at once (RFC 6750 §2: one method only).
    let twice = app
        .client
        .post(app.url("/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    assert!(twice.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_request\""));

    // A body that is not a form.
    let json = app
        .client
        .post(app.url("/userinfo"))
        .header("content-type", "application/json")
        .body(format!("{{\"access_token\":\"{access}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 400);
    let body: Value = json.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    // The token in the query string is not looked at (RFC 6750 §2.3 is not supported).
    let query = app
        .client
        .get(app.url(&format!("/userinfo?access_token={access}")))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 401);
    assert_eq!(
        query.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\""
    );
}
