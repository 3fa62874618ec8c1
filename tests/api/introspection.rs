//! Token introspection (RFC 7662) and revocation (RFC 7009).

use serde_json::Value;

use crate::flow::{confidential, public, register, tokens_for, RpClient};
use crate::helpers::{spawn_app, TestApp, PASSWORD};

async fn introspect(app: &TestApp, caller: &RpClient, token: &str, hint: Option<&str>) -> Value {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let resp = app
        .client
        .post(app.url("/introspect"))
        .header("authorization", caller.basic_auth())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

async fn revoke(app: &TestApp, caller: &RpClient, token: &str, hint: Option<&str>) -> u16 {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let mut request = app.client.post(app.url("/revoke"));
    if caller.secret.is_some() {
        request = request.header("authorization", caller.basic_auth());
    } else {
        form.push(("client_id", &caller.id));
    }
    request.form(&form).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn live_tokens_are_active_with_their_claims() {
    let app = spawn_app().await;
    let user = app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;

    let at = introspect(
        &app,
        &client,
        tokens["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(at["active"], true);
    assert_eq!(at["client_id"], client.id.as_str());
    assert_eq!(at["sub"], user.as_str());
    assert_eq!(at["username"], "alice");
    assert_eq!(at["scope"], "openid offline_access");
    assert_eq!(at["token_type"], "Bearer");
    assert_eq!(at["iss"], app.address.as_str());
    assert!(at["exp"].is_i64() && at["iat"].is_i64());

    let rt = introspect(
        &app,
        &client,
        tokens["refresh_token"].as_str().unwrap(),
        Some("refresh_token"),
    )
    .await;
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    assert_eq!(rt["client_id"], client.id.as_str());
    // A wrong hint does not matter.
    let rt = introspect(
        &app,
        &client,
        tokens["refresh_token"].as_str().unwrap(),
        Some("access_token"),
    )
    .await;
    assert_eq!(rt["active"], true);
}

#[tokio::test]
async fn dead_forged_and_foreign_tokens_are_inactive() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let other = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let access = tokens["access_token"].as_str().unwrap();
    let inactive = serde_json::json!({ "active": false });

    for junk in [
        "",
        "garbage",
        "a.b.c",
        &portcullis::crypto::random::secret_token(),
    ] {
        assert_eq!(
            introspect(&app, &client, junk, None).await,
            inactive,
            "{junk}"
        );
    }
    let mut forged = access.to_owned();
    forged.pop();
    forged.push(if access.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(introspect(&app, &client, &forged, None).await, inactive);
    // Another client's token: not this client's business.
    assert_eq!(introspect(&app, &other, access, None).await, inactive);
    assert_eq!(
        introspect(
            &app,
            &other,
            tokens["refresh_token"].as_str().unwrap(),
            None
        )
        .await,
        inactive
    );
    // Unless it is a resource server allowed to introspect any token.
    let resource_server = register(
        &app,
        portcullis::clients::NewClient {
            name: "API".into(),
            grant_types: vec!["client_credentials".into()],
            introspect_any: true,
            require_mfa: false,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        introspect(&app, &resource_server, access, None).await["active"],
        true
    );
}

#[tokio::test]
async fn introspection_needs_an_authenticated_confidential_client() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let spa = public(&app).await;
    let resp = app
        .client
        .post(app.url("/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = app
        .client
        .post(app.url("/introspect"))
        .form(&[("token", "x"), ("client_id", spa.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let wrong = RpClient {
        id: client.id.clone(),
        secret: Some("wrong".into()),
    };
    let resp = app
        .client
        .post(app.url("/introspect"))
        .header("authorization", wrong.basic_auth())
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"portcullis\""
    );
    let resp = app
        .client
        .post(app.url("/introspect"))
        .header("authorization", client.basic_auth())
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn revoking_an_access_token_puts_it_on_the_denylist() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let access = tokens["access_token"].as_str().unwrap();

    assert_eq!(
        revoke(&app, &client, access, Some("access_token")).await,
        200
    );

    assert_eq!(
        introspect(&app, &client, access, None).await["active"],
        false
    );
    let info = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
    // The refresh token is unaffected.
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&app, &client, rt, None).await["active"], true);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    assert_eq!(revoke(&app, &client, rt, Some("refresh_token")).await, 200);

    assert_eq!(introspect(&app, &client, rt, None).await["active"], false);
    assert_eq!(
        introspect(&app, &client, access, None).await["active"],
        false
    );
    let resp = crate::flow::token_post(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn revocation_ignores_unknown_and_foreign_tokens() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let other = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    assert_eq!(revoke(&app, &client, "unknown-token", None).await, 200);
    // Another client cannot revoke this client's tokens.
    assert_eq!(
        revoke(
            &app,
            &other,
            tokens["refresh_token"].as_str().unwrap(),
            None
        )
        .await,
        200
    );
    assert_eq!(
        revoke(&app, &other, tokens["access_token"].as_str().unwrap(), None).await,
        200
    );
    assert_eq!(
        introspect(
            &app,
            &client,
            tokens["refresh_token"].as_str().unwrap(),
            None
        )
        .await["active"],
        true
    );
    assert_eq!(
        introspect(
            &app,
            &client,
            tokens["access_token"].as_str().unwrap(),
            None
        )
        .await["active"],
        true
    );
    // Public clients may revoke their own tokens with just their client_id.
    let spa = public(&app).await;
    assert_eq!(revoke(&app, &spa, "whatever", None).await, 200);
}
