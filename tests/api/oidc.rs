//! The authorization code flow end to end: sign-in, consent, code, tokens, userinfo.

use serde_json::Value;

use crate::flow::{
    auth_params, authorize, confidential, exchange, param, public, redirect_params,
    sign_in_and_authorize, tokens_for, verify_jwt, VERIFIER,
};
use crate::helpers::{location, spawn_app, PASSWORD};

#[tokio::test]
async fn a_user_signs_in_consents_and_the_client_gets_verifiable_tokens() {
    let app = spawn_app().await;
    let user_id = app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;

    let resp = sign_in_and_authorize(&app, &auth_params(&client, &[]), "alice", PASSWORD).await;

    assert_eq!(resp.status(), 303);
    let params = redirect_params(&resp);
    assert_eq!(param(&params, "state"), Some("state-123"));
    assert_eq!(param(&params, "iss"), Some(app.address.as_str()));
    let code = param(&params, "code").unwrap();
    assert_eq!(code.len(), 43);

    let resp = exchange(&app, &client, code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 600);
    assert_eq!(tokens["scope"], "openid profile email");
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );

    let (header, at) = verify_jwt(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(at["iss"], app.address.as_str());
    assert_eq!(at["sub"], user_id.as_str());
    assert_eq!(at["client_id"], client.id.as_str());
    assert_eq!(at["aud"], serde_json::json!([app.address]));
    assert_eq!(at["scope"], "openid profile email");
    for claim in ["exp", "iat", "jti", "auth_time"] {
        assert!(at.contains_key(claim), "{claim}");
    }

    let (header, id) = verify_jwt(&app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(header["alg"], "RS256");
    assert_eq!(id["iss"], app.address.as_str());
    assert_eq!(id["aud"], client.id.as_str());
    assert_eq!(id["azp"], client.id.as_str());
    assert_eq!(id["sub"], user_id.as_str());
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["email"], "alice@example.com");
    // By default only the email scope's claims go into the ID token; profile claims are
    // at userinfo (see standard_claims.rs for the per-client choice).
    assert!(id.get("preferred_username").is_none(), "{id:?}");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert!(id["sid"].is_string());
    let expected_at_hash = {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(tokens["access_token"].as_str().unwrap().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    };
    assert_eq!(id["at_hash"], expected_at_hash.as_str());

    let info = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["sub"], user_id.as_str());
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], false);
    assert_eq!(info["name"], "alice");
}

#[tokio::test]
async fn consent_is_remembered_and_asked_again_only_for_new_scopes_or_prompt_consent() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let first = sign_in_and_authorize(
        &app,
        &auth_params(&client, &[("scope", "openid")]),
        "alice",
        PASSWORD,
    )
    .await;
    assert!(param(&redirect_params(&first), "code").is_some());

    // Same scopes: straight back to the client, no consent page.
    let again = app
        .get(&crate::flow::authorize_path(&auth_params(
            &client,
            &[("scope", "openid")],
        )))
        .await;
    assert!(param(&redirect_params(&again), "code").is_some());
    // A new scope: the consent page, naming the client and the scope in words.
    let wider = app
        .get(&crate::flow::authorize_path(&auth_params(
            &client,
            &[("scope", "openid email")],
        )))
        .await;
    let consent_url = location(&wider);
    assert!(
        consent_url.starts_with("/consent?request="),
        "{consent_url}"
    );
    let page = app.get(&consent_url).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://app.example.com"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Example App wants to access your account"),
        "{html}"
    );
    assert!(html.contains("See your email address"));
    assert!(html.contains(r#"<button type="submit" name="decision" value="allow">"#));
    assert!(html.contains(r#"<button type="submit" name="decision" value="deny""#));
    // prompt=consent forces the page even for consented scopes.
    let forced = app
        .get(&crate::flow::authorize_path(&auth_params(
            &client,
            &[("scope", "openid"), ("prompt", "consent")],
        )))
        .await;
    assert!(location(&forced).starts_with("/consent?request="));
}

#[tokio::test]
async fn denying_consent_returns_access_denied_to_the_client() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    app.login("alice", PASSWORD).await;

    let resp = authorize(&app, &auth_params(&client, &[]), "deny").await;

    let params = redirect_params(&resp);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("state-123"));
    assert_eq!(param(&params, "iss"), Some(app.address.as_str()));
    assert!(param(&params, "code").is_none());
}

#[tokio::test]
async fn first_party_clients_skip_consent() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = crate::flow::register(
        &app,
        portcullis::clients::NewClient {
            name: "First party".into(),
            redirect_uris: vec![crate::flow::REDIRECT.into()],
            skip_consent: true,
            ..Default::default()
        },
    )
    .await;
    app.login("alice", PASSWORD).await;
    let resp = app
        .get(&crate::flow::authorize_path(&auth_params(&client, &[])))
        .await;
    assert!(param(&redirect_params(&resp), "code").is_some());
}

#[tokio::test]
async fn a_public_client_uses_pkce_without_a_secret() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = public(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    assert!(tokens["access_token"].is_string());
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn offline_access_brings_a_refresh_token() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let rt = tokens["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(rt.len(), 43);
    let hash = portcullis::crypto::token::hash(rt);
    let n: i64 = app
        .db(move |c| {
            use diesel::prelude::*;
            use portcullis::store::schema::refresh_tokens::dsl::*;
            Ok(refresh_tokens
                .filter(token_hash.eq(hash))
                .count()
                .get_result(c)?)
        })
        .await;
    assert_eq!(n, 1, "stored as a hash");
}

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let resp = app
        .get(&crate::flow::authorize_path(&auth_params(
            &client,
            &[("prompt", "none")],
        )))
        .await;
    let params = redirect_params(&resp);
    assert_eq!(param(&params, "error"), Some("login_required"));
    assert_eq!(param(&params, "state"), Some("state-123"));
}

#[tokio::test]
async fn prompt_login_asks_a_signed_in_user_to_sign_in_again() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = crate::flow::register(
        &app,
        portcullis::clients::NewClient {
            name: "First party".into(),
            redirect_uris: vec![crate::flow::REDIRECT.into()],
            skip_consent: true,
            ..Default::default()
        },
    )
    .await;
    app.login("alice", PASSWORD).await;
    let resp = sign_in_and_authorize(
        &app,
        &auth_params(&client, &[("prompt", "login")]),
        "alice",
        PASSWORD,
    )
    .await;
    assert!(param(&redirect_params(&resp), "code").is_some());
}

#[tokio::test]
async fn the_form_post_response_mode_posts_the_code_to_the_client() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let resp = sign_in_and_authorize(
        &app,
        &auth_params(&client, &[("response_mode", "form_post")]),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://app.example.com"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="https://app.example.com/callback""#),
        "{html}"
    );
    assert!(html.contains(r#"name="state" value="state-123""#));
    assert!(html.contains(&format!(r#"name="iss" value="{}""#, app.address)));
    assert!(html.contains(r#"<script src="/static/form_post.js" defer></script>"#));
    let code = crate::helpers::form_value(&html, "code").unwrap();
    assert_eq!(
        exchange(&app, &client, &code, Some(VERIFIER))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_long_state_comes_back_byte_for_byte() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let state: String = "αβγ-._~!$&'()*+,;=:@/? ".repeat(50);
    assert!(state.len() > 1000);
    let resp = sign_in_and_authorize(
        &app,
        &auth_params(&client, &[("state", &state)]),
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(
        param(&redirect_params(&resp), "state"),
        Some(state.as_str())
    );
}

#[tokio::test]
async fn pairwise_clients_see_a_stable_subject_of_their_own() {
    let app = spawn_app().await;
    let user_id = app.create_user("alice", PASSWORD).await;
    let pairwise = |name: &str, uri: &str| portcullis::clients::NewClient {
        name: name.into(),
        redirect_uris: vec![uri.into()],
        pairwise: true,
        skip_consent: true,
        ..Default::default()
    };
    let a = crate::flow::register(&app, pairwise("A", crate::flow::REDIRECT)).await;
    let first = tokens_for(&app, &a, &[]).await;
    let (_, id1) = verify_jwt(&app, first["id_token"].as_str().unwrap()).await;
    let sub = id1["sub"].as_str().unwrap().to_owned();
    assert_ne!(sub, user_id, "not the internal id");
    let again = tokens_for(&app, &a, &[]).await;
    let (_, id2) = verify_jwt(&app, again["id_token"].as_str().unwrap()).await;
    assert_eq!(id2["sub"], sub.as_str(), "stable for the same client");
    let info: Value = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["sub"],
        sub.as_str(),
        "userinfo agrees with the ID token"
    );

    // A client on another host gets another subject for the same user.
    let other = crate::flow::register(&app, pairwise("B", "https://other.example.org/cb")).await;
    let params =
        crate::flow::auth_params(&other, &[("redirect_uri", "https://other.example.org/cb")]);
    let resp = app.get(&crate::flow::authorize_path(&params)).await;
    let loc = location(&resp);
    assert!(loc.starts_with("https://other.example.org/cb?"), "{loc}");
    let code = reqwest::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let resp = crate::flow::token_post(
        &app,
        &other,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://other.example.org/cb"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let tokens: Value = resp.json().await.unwrap();
    let (_, id3) = verify_jwt(&app, tokens["id_token"].as_str().unwrap()).await;
    assert_ne!(id3["sub"], sub.as_str());
}

#[tokio::test]
async fn a_client_may_ask_for_es256_id_tokens() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = crate::flow::register(
        &app,
        portcullis::clients::NewClient {
            name: "EC app".into(),
            redirect_uris: vec![crate::flow::REDIRECT.into()],
            id_token_alg: Some("ES256".into()),
            ..Default::default()
        },
    )
    .await;
    let tokens = tokens_for(&app, &client, &[]).await;
    let (header, claims) = verify_jwt(&app, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["aud"], client.id.as_str());
    // Access tokens stay RS256 for resource servers.
    let (header, _) = verify_jwt(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(header["alg"], "RS256");
}

#[tokio::test]
async fn an_oversized_token_request_gets_413() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let resp = crate::flow::token_post(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &"x".repeat(100_000)),
        ],
    )
    .await;
    assert_eq!(resp.status(), 413);
}
