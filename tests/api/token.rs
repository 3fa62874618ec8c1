//! The token endpoint: code exchange failures, each with the exact RFC 6749 error and
//! nothing issued.

use serde_json::Value;

use crate::flow::{
    auth_params, confidential, exchange, param, public, redirect_params, sign_in_and_authorize,
    RpClient, REDIRECT, VERIFIER,
};
use crate::helpers::{spawn_app, spawn_app_with, TestApp, PASSWORD};

async fn code_for(app: &TestApp, client: &RpClient) -> String {
    let params = auth_params(client, &[]);
    let resp = if app.cookie("portcullis_session").is_some() {
        crate::flow::authorize(app, &params, "allow").await
    } else {
        sign_in_and_authorize(app, &params, "alice", PASSWORD).await
    };
    param(&redirect_params(&resp), "code").unwrap().to_owned()
}

async fn assert_oauth_error(resp: reqwest::Response, status: u16, error: &str) {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    if status == 401 {
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"portcullis\""
        );
    }
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
}

async fn issued_access_tokens(app: &TestApp) -> i64 {
    app.db(|c| {
        use diesel::prelude::*;
        Ok(portcullis::store::schema::access_tokens::table
            .count()
            .get_result(c)?)
    })
    .await
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_the_tokens_issued_from_it() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let code = code_for(&app, &client).await;
    let first = exchange(&app, &client, &code, Some(VERIFIER)).await;
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/userinfo"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(userinfo(access.to_owned()).await, 200);

    assert_oauth_error(
        exchange(&app, &client, &code, Some(VERIFIER)).await,
        400,
        "invalid_grant",
    )
    .await;

    assert_eq!(
        userinfo(access.to_owned()).await,
        401,
        "the first access token is revoked"
    );
}

#[tokio::test]
async fn a_wrong_code_verifier_fails_and_burns_the_code() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let code = code_for(&app, &client).await;
    let wrong = "x".repeat(43);
    assert_oauth_error(
        exchange(&app, &client, &code, Some(&wrong)).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        exchange(&app, &client, &code, None).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        exchange(&app, &client, &code, Some(VERIFIER)).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(issued_access_tokens(&app).await, 0);
}

#[tokio::test]
async fn a_code_needs_the_same_client_and_redirect_uri() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let other = confidential(&app).await;
    let code = code_for(&app, &client).await;
    assert_oauth_error(
        exchange(&app, &other, &code, Some(VERIFIER)).await,
        400,
        "invalid_grant",
    )
    .await;

    let code = code_for(&app, &client).await;
    let resp = crate::flow::token_post(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://app.example.com/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_oauth_error(resp, 400, "invalid_grant").await;

    let code = code_for(&app, &client).await;
    let resp = crate::flow::token_post(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_oauth_error(resp, 400, "invalid_request").await;
    assert_eq!(issued_access_tokens(&app).await, 0);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app_with(|f| f.merge(("oauth.authorization_code_lifetime_secs", 1))).await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let code = code_for(&app, &client).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_oauth_error(
        exchange(&app, &client, &code, Some(VERIFIER)).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let code = code_for(&app, &client).await;
    let wrong_secret = RpClient {
        id: client.id.clone(),
        secret: Some(portcullis::crypto::random::secret_token()),
    };
    assert_oauth_error(
        exchange(&app, &wrong_secret, &code, Some(VERIFIER)).await,
        401,
        "invalid_client",
    )
    .await;
    // The registered method is client_secret_basic: the same secret in the body is refused.
    let resp = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;
    // Two methods at once.
    let resp = crate::flow::token_post(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_secret", "x"),
        ],
    )
    .await;
    assert_oauth_error(resp, 400, "invalid_request").await;
    // A public client cannot pretend to be the confidential one.
    let resp = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;
    assert_eq!(issued_access_tokens(&app).await, 0);
}

#[tokio::test]
async fn malformed_token_requests_get_rfc_errors() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let post = |form: Vec<(&'static str, String)>| {
        let app = &app;
        let auth = client.basic_auth();
        async move {
            app.client
                .post(app.url("/token"))
                .header("authorization", auth)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    assert_oauth_error(post(vec![]).await, 400, "invalid_request").await;
    assert_oauth_error(
        post(vec![("grant_type", "password".into())]).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_oauth_error(
        post(vec![
            ("grant_type", "authorization_code".into()),
            ("code", "nope".into()),
            ("redirect_uri", REDIRECT.into()),
        ])
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        post(vec![
            ("grant_type", "authorization_code".into()),
            ("grant_type", "authorization_code".into()),
        ])
        .await,
        400,
        "invalid_request",
    )
    .await;
    let json = app
        .client
        .post(app.url("/token"))
        .header("authorization", client.basic_auth())
        .json(&serde_json::json!({ "grant_type": "authorization_code" }))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json, 400, "invalid_request").await;
}

#[tokio::test]
async fn pkce_downgrade_is_refused() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    // No challenge in the authorization request, but a verifier at the token endpoint.
    let params = auth_params(
        &client,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let resp = sign_in_and_authorize(&app, &params, "alice", PASSWORD).await;
    let code = param(&redirect_params(&resp), "code").unwrap().to_owned();
    assert_oauth_error(
        exchange(&app, &client, &code, Some(VERIFIER)).await,
        400,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn two_concurrent_redemptions_of_one_code_yield_exactly_one_success() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = public(&app).await;
    let code = code_for(&app, &client).await;
    let (a, b) = tokio::join!(
        exchange(&app, &client, &code, Some(VERIFIER)),
        exchange(&app, &client, &code, Some(VERIFIER))
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
}
