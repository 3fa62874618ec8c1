//! Authorization requests that must fail, and how.

use crate::flow::{
    auth_params, authorize_error, authorize_path, confidential, param, public, redirect_params,
    REDIRECT,
};
use crate::helpers::{spawn_app, PASSWORD};

/// An error page (400, HTML) and no redirect to anyone.
async fn assert_error_page(resp: reqwest::Response) {
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

#[tokio::test]
async fn an_unregistered_or_prefix_matching_redirect_uri_never_redirects() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    for uri in [
        "https://evil.example/callback",
        "https://app.example.com/callback/../evil",
        "https://app.example.com/callbackx",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callbac",
        "https://APP.example.com/callback",
        "",
    ] {
        let resp = app
            .get(&authorize_path(&auth_params(
                &client,
                &[("redirect_uri", uri)],
            )))
            .await;
        assert_error_page(resp).await;
    }
}

#[tokio::test]
async fn an_unknown_client_gets_an_error_page() {
    let app = spawn_app().await;
    let client = crate::flow::RpClient {
        id: "no-such-client".into(),
        secret: None,
    };
    assert_error_page(app.get(&authorize_path(&auth_params(&client, &[]))).await).await;
    let real = confidential(&app).await;
    assert_error_page(
        app.get(&authorize_path(&auth_params(&real, &[("client_id", "")])))
            .await,
    )
    .await;
}

#[tokio::test]
async fn protocol_errors_go_back_to_the_client_with_state_and_iss() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let long_scope = format!("openid {}", "x".repeat(10_000));
    for (extra, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("scope", long_scope.as_str())], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("response_mode", "fragment")], "invalid_request"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            vec![("request_uri", "https://app.example.com/r")],
            "request_uri_not_supported",
        ),
    ] {
        let params = authorize_error(&app, &client, &extra, error).await;
        assert_eq!(param(&params, "state"), Some("state-123"));
        assert_eq!(param(&params, "iss"), Some(app.address.as_str()));
        assert!(param(&params, "code").is_none());
    }
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let mut params = auth_params(&client, &[]);
    params.push(("scope".into(), "openid".into()));
    let resp = app.get(&authorize_path(&params)).await;
    assert_eq!(
        param(&redirect_params(&resp), "error"),
        Some("invalid_request")
    );

    let mut params = auth_params(&client, &[]);
    params.push(("redirect_uri".into(), REDIRECT.into()));
    assert_error_page(app.get(&authorize_path(&params)).await).await;
}

#[tokio::test]
async fn a_public_client_must_use_pkce() {
    let app = spawn_app().await;
    let client = public(&app).await;
    let resp = app
        .get(&authorize_path(&auth_params(
            &client,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        )))
        .await;
    let params = redirect_params(&resp);
    assert_eq!(param(&params, "error"), Some("invalid_request"));
    assert!(param(&params, "error_description")
        .unwrap()
        .contains("PKCE"));
}

#[tokio::test]
async fn the_authorization_request_can_be_posted_as_a_form() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let resp = app
        .client
        .post(app.url("/authorize"))
        .form(&auth_params(&client, &[]))
        .send()
        .await
        .unwrap();
    // Without a session cookie (a cross-site POST carries none) the request is re-sent as
    // a top-level GET, which carries the cookie.
    assert_eq!(resp.status(), 303);
    let get = crate::helpers::location(&resp);
    assert!(get.starts_with("/authorize?"), "{get}");
    let resp = app.get(&get).await;
    assert!(crate::helpers::location(&resp).starts_with("/login?request="));
}

#[tokio::test]
async fn a_tampered_or_unknown_pending_request_goes_nowhere() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let forged = portcullis::crypto::random::secret_token();
    let resp = app
        .get(&format!("/authorize/continue?request={forged}"))
        .await;
    assert_error_page(resp).await;
    let resp = app.get("/consent?request=junk").await;
    assert_error_page(resp).await;
}
