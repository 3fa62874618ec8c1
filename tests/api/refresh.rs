//! Refresh token rotation, reuse detection and client credentials.

use serde_json::Value;

use crate::flow::{confidential, register, tokens_for, RpClient};
use crate::helpers::{spawn_app, spawn_app_with, TestApp, PASSWORD};

async fn refresh(
    app: &TestApp,
    client: &RpClient,
    token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.client
        .post(app.url("/token"))
        .header("authorization", client.basic_auth())
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn status_of_userinfo(app: &TestApp, access: &str) -> u16 {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn error_of(resp: reqwest::Response) -> String {
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_refresh_token_rotates_and_keeps_the_original_authentication() {
    let app = spawn_app().await;
    let user = app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let first = tokens_for(&app, &client, &[("scope", "openid email offline_access")]).await;
    let rt1 = first["refresh_token"].as_str().unwrap();

    let resp = refresh(&app, &client, rt1, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let second: Value = resp.json().await.unwrap();
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(second["scope"], "openid email offline_access");
    let (_, id1) = crate::flow::verify_jwt(&app, first["id_token"].as_str().unwrap()).await;
    let (_, id2) = crate::flow::verify_jwt(&app, second["id_token"].as_str().unwrap()).await;
    assert_eq!(id2["sub"], user.as_str());
    assert_eq!(
        id2["auth_time"], id1["auth_time"],
        "auth_time is the original sign-in"
    );
    assert_eq!(id2["amr"], id1["amr"]);
    assert!(id2.get("nonce").is_none());
    assert_eq!(
        status_of_userinfo(&app, second["access_token"].as_str().unwrap()).await,
        200
    );

    // Narrowing is allowed, widening is not.
    let narrow: Value = refresh(&app, &client, rt2, Some("openid"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(narrow["scope"], "openid");
    let rt3 = narrow["refresh_token"].as_str().unwrap();
    assert_eq!(
        error_of(refresh(&app, &client, rt3, Some("openid profile")).await).await,
        "invalid_scope"
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let first = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let second: Value = refresh(&app, &client, &rt1, None)
        .await
        .json()
        .await
        .unwrap();
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    let access2 = second["access_token"].as_str().unwrap().to_owned();

    // An attacker replays the old token.
    let resp = refresh(&app, &client, &rt1, None).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_of(resp).await, "invalid_grant");

    // Everything descended from that sign-in is dead.
    assert_eq!(
        error_of(refresh(&app, &client, &rt2, None).await).await,
        "invalid_grant"
    );
    assert_eq!(status_of_userinfo(&app, &access2).await, 401);
    assert_eq!(
        status_of_userinfo(&app, first["access_token"].as_str().unwrap()).await,
        401
    );
}

#[tokio::test]
async fn a_configured_grace_period_lets_a_confidential_client_retry_once_lost() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = register(
        &app,
        portcullis::clients::NewClient {
            name: "Retrying app".into(),
            redirect_uris: vec![crate::flow::REDIRECT.into()],
            refresh_grace_secs: 5,
            ..Default::default()
        },
    )
    .await;
    let first = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&app, &client, rt1, None).await.status(), 200);
    // The response was lost; the client retries within the grace period.
    let retry = refresh(&app, &client, rt1, None).await;
    assert_eq!(retry.status(), 200);
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client_and_expires_when_idle() {
    let app = spawn_app_with(|f| {
        f.merge(("oauth.refresh_token_idle_secs", 1))
            .merge(("oauth.refresh_token_absolute_secs", 3600))
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let other = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        error_of(refresh(&app, &other, rt, None).await).await,
        "invalid_grant"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        error_of(refresh(&app, &client, rt, None).await).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn client_credentials_gives_an_access_token_without_user_or_refresh_token() {
    let app = spawn_app().await;
    let service = register(
        &app,
        portcullis::clients::NewClient {
            name: "Batch job".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["reports.read".into(), "reports.write".into()],
            ..Default::default()
        },
    )
    .await;
    let post = |scope: &'static str| {
        let app = &app;
        let auth = service.basic_auth();
        async move {
            app.client
                .post(app.url("/token"))
                .header("authorization", auth)
                .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                .send()
                .await
                .unwrap()
        }
    };
    let resp = post("reports.read").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
    assert_eq!(body["scope"], "reports.read");
    let (header, claims) =
        crate::flow::verify_jwt(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], service.id.as_str());
    assert_eq!(claims["client_id"], service.id.as_str());

    assert_eq!(error_of(post("admin").await).await, "invalid_scope");
    assert_eq!(error_of(post("openid").await).await, "invalid_scope");

    // A sign-in client may not use the grant.
    let web = confidential(&app).await;
    let resp = crate::flow::token_post(&app, &web, &[("grant_type", "client_credentials")]).await;
    assert_eq!(error_of(resp).await, "unauthorized_client");
}
