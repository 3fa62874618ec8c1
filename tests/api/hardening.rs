//! Regression tests for holes found in review: each is an attack that must fail.

use serde_json::{json, Value};

use crate::flow::{
    auth_params, authorize_path, confidential, param, redirect_params, register,
    sign_in_and_authorize, REDIRECT, VERIFIER,
};
use crate::helpers::{form_value, location, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn the_consent_page_cannot_skip_a_demanded_fresh_sign_in() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    app.login("alice", PASSWORD).await;
    // The client demands a fresh sign-in; the user jumps to the consent page instead.
    let resp = app
        .get(&authorize_path(&auth_params(
            &client,
            &[("prompt", "login")],
        )))
        .await;
    let login = location(&resp);
    assert!(login.starts_with("/login?request="), "{login}");
    let request = login.trim_start_matches("/login?request=");
    let consent = app.get(&format!("/consent?request={request}")).await;
    assert_eq!(consent.status(), 303);
    assert_eq!(location(&consent), login, "back to the sign-in");
    let csrf = app.cookie("portcullis_csrf").unwrap();
    let allow = app
        .post_form(
            "/consent",
            &[
                ("csrf_token", &csrf),
                ("request", request),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(location(&allow), login, "no code without the fresh sign-in");
}

#[tokio::test]
async fn claims_by_name_cannot_reach_beyond_the_clients_allowed_scopes() {
    let app = spawn_app().await;
    let client = register(
        &app,
        portcullis::clients::NewClient {
            name: "Narrow".into(),
            redirect_uris: vec![REDIRECT.into()],
            scopes: vec!["openid".into()],
            skip_consent: true,
            ..Default::default()
        },
    )
    .await;
    let claims = json!({ "id_token": { "email": null } }).to_string();
    let resp = app
        .get(&authorize_path(&auth_params(
            &client,
            &[("scope", "openid"), ("claims", &claims)],
        )))
        .await;
    assert_eq!(
        param(&redirect_params(&resp), "error"),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn a_cross_site_logout_post_is_resent_as_a_get_that_carries_the_session() {
    let app = spawn_app().await;
    let (browser, _) = app.new_browser();
    let resp = browser
        .post(app.url("/end_session"))
        .form(&[("client_id", "c1"), ("state", "s")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/end_session?client_id=c1&state=s");
}

#[tokio::test]
async fn self_registered_clients_get_no_api_scopes_or_client_credentials() {
    let token = "initial-access-token-0123456789abcdef";
    let app = spawn_app_with(|f| {
        f.merge(("registration.enabled", true))
            .merge(("registration.initial_access_token", token))
    })
    .await;
    for body in [
        json!({ "redirect_uris": [REDIRECT], "scope": "openid payments:write" }),
        json!({ "grant_types": ["client_credentials"] }),
    ] {
        let resp = app
            .client
            .post(app.url("/register"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_client_metadata");
    }
}

#[tokio::test]
async fn a_pairwise_client_cannot_borrow_another_hosts_sector() {
    let app = spawn_app().await;
    let result = portcullis::clients::register_unchecked(
        &app.store,
        portcullis::clients::NewClient {
            name: "Sneaky".into(),
            redirect_uris: vec![
                "https://victim.example/cb".into(),
                "https://evil.example/cb".into(),
            ],
            pairwise: true,
            ..Default::default()
        },
        portcullis::audit::Actor::Cli,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(portcullis::clients::ClientError::Inconsistent(
                "a pairwise client's redirect URIs must all be on one host"
            ))
        ),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn a_native_app_on_an_ephemeral_loopback_port_is_accepted_and_nothing_else_is() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = register(
        &app,
        portcullis::clients::NewClient {
            name: "Desktop app".into(),
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            public: true,
            skip_consent: true,
            ..Default::default()
        },
    )
    .await;
    let uri = "http://127.0.0.1:53219/callback";
    let resp = sign_in_and_authorize(
        &app,
        &auth_params(&client, &[("redirect_uri", uri)]),
        "alice",
        PASSWORD,
    )
    .await;
    let loc = location(&resp);
    assert!(loc.starts_with(&format!("{uri}?code=")), "{loc}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let code = reqwest::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let token = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", uri),
            ("code_verifier", VERIFIER),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    for other in [
        "http://127.0.0.1:53219/other",
        "http://localhost:53219/callback",
        "http://127.0.0.2/callback",
    ] {
        let resp = app
            .get(&authorize_path(&auth_params(
                &client,
                &[("redirect_uri", other)],
            )))
            .await;
        assert_eq!(resp.status(), 400, "{other}");
    }
}

#[tokio::test]
async fn an_assertion_without_kid_verifies_against_any_registered_key() {
    use josekit::jwk::KeyPair;
    use josekit::jws::{JwsHeader, RS256};
    let app = spawn_app().await;
    let old = RS256.generate_key_pair(2048).unwrap();
    let new = RS256.generate_key_pair(2048).unwrap();
    let jwks = json!({ "keys": [
        serde_json::to_value(old.to_jwk_public_key().as_ref()).unwrap(),
        serde_json::to_value(new.to_jwk_public_key().as_ref()).unwrap(),
    ]})
    .to_string();
    let client = register(
        &app,
        portcullis::clients::NewClient {
            name: "Rotating keys".into(),
            grant_types: vec!["client_credentials".into()],
            auth_method: Some("private_key_jwt".into()),
            jwks: Some(jwks),
            ..Default::default()
        },
    )
    .await;
    let now = portcullis::time::now();
    let claims = json!({ "iss": client.id, "sub": client.id, "aud": app.address, "jti": "j-1", "exp": now + 60 });
    let payload = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let signer = RS256.signer_from_pem(new.to_pem_private_key()).unwrap();
    let assertion = josekit::jwt::encode_with_signer(&payload, &JwsHeader::new(), &signer).unwrap();
    let resp = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_code_refused_because_the_user_was_disabled_stays_burned() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let resp = sign_in_and_authorize(&app, &auth_params(&client, &[]), "alice", PASSWORD).await;
    let code = param(&redirect_params(&resp), "code").unwrap().to_owned();
    portcullis::accounts::set_disabled(&app.store, "alice", true, portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    assert_eq!(
        crate::flow::exchange(&app, &client, &code, Some(VERIFIER))
            .await
            .status(),
        400
    );
    portcullis::accounts::set_disabled(&app.store, "alice", false, portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    let again = crate::flow::exchange(&app, &client, &code, Some(VERIFIER)).await;
    assert_eq!(
        again.status(),
        400,
        "the refused code cannot be redeemed later"
    );
    let _ = form_value;
}

#[tokio::test]
async fn an_id_token_hint_for_another_user_is_not_answered_silently() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    app.create_user("bob", PASSWORD).await;
    let client = register(
        &app,
        portcullis::clients::NewClient {
            name: "First party".into(),
            redirect_uris: vec![REDIRECT.into()],
            skip_consent: true,
            ..Default::default()
        },
    )
    .await;
    let alice = crate::flow::tokens_for(&app, &client, &[]).await;
    let hint = alice["id_token"].as_str().unwrap();
    // Alice's hint while alice is signed in: a silent answer.
    let resp = app
        .get(&authorize_path(&auth_params(
            &client,
            &[("prompt", "none"), ("id_token_hint", hint)],
        )))
        .await;
    assert!(param(&redirect_params(&resp), "code").is_some());
    // Bob signs in on the same browser: the client expects alice, so no silent answer.
    app.login("bob", PASSWORD).await;
    let resp = app
        .get(&authorize_path(&auth_params(
            &client,
            &[("prompt", "none"), ("id_token_hint", hint)],
        )))
        .await;
    assert_eq!(
        param(&redirect_params(&resp), "error"),
        Some("login_required")
    );
    // A forged hint is an invalid request.
    let resp = app
        .get(&authorize_path(&auth_params(
            &client,
            &[("id_token_hint", "eyJhbGciOiJub25lIn0.e30.")],
        )))
        .await;
    assert_eq!(
        param(&redirect_params(&resp), "error"),
        Some("invalid_request")
    );
}
