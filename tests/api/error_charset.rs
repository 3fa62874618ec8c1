//! RFC 6749 §5.2: `error` and `error_description` hold only %x20-21 / %x23-5B / %x5D-7E (no
//! `"`, no `\`, nothing outside printable ASCII), on every endpoint: JSON bodies, redirects
//! to the client and `WWW-Authenticate` challenges. Each request below is built to put a
//! quote, a backslash or a non-ASCII character into the description if anything echoed it.

use serde_json::{json, Value};

use crate::flow::{authorize_error, confidential, param, token_post, tokens_for};
use crate::helpers::{spawn_app, spawn_app_with, PASSWORD};

fn assert_charset(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| !matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
        .collect();
    assert!(bad.is_empty(), "{what}: {text:?} has {bad:?}");
}

/// A JSON error body with exactly `status` and `error`, both members in the charset;
/// returns the description.
async fn json_error(resp: reqwest::Response, status: u16, error: &str) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap().to_owned();
    assert_charset(error, error);
    assert_charset(error, &description);
    description
}

#[tokio::test]
async fn token_endpoint_errors_are_in_the_charset() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[("scope", "openid email offline_access")]).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();

    // A wider scope on refresh: the scope is named, without quotes.
    let resp = token_post(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "openid profile"),
        ],
    )
    .await;
    let description = json_error(resp, 400, "invalid_scope").await;
    assert_eq!(description, "scope profile was not granted");

    for (form, status, error) in [
        (
            vec![("grant_type", "p\u{e9}ssword\"\\")],
            400,
            "unsupported_grant_type",
        ),
        (vec![], 400, "invalid_request"),
        (
            vec![("grant_type", "authorization_code"), ("code", "\"\\\u{e9}")],
            400,
            "invalid_grant",
        ),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", "nope\"")],
            400,
            "invalid_grant",
        ),
        (
            vec![("grant_type", "client_credentials"), ("scope", "openid")],
            400,
            "unauthorized_client",
        ),
        (
            vec![("grant_type", "authorization_code"), ("grant_type", "x")],
            400,
            "invalid_request",
        ),
    ] {
        json_error(token_post(&app, &client, &form).await, status, error).await;
    }

    // A wrong client secret, and a body that is not a form.
    let stranger = crate::flow::RpClient {
        id: "\u{e9}\"x\\".into(),
        secret: Some("wrong".into()),
    };
    let resp = token_post(&app, &stranger, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"portcullis\""
    );
    json_error(resp, 401, "invalid_client").await;
    let resp = app
        .client
        .post(app.url("/token"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    json_error(resp, 400, "invalid_request").await;

    // Introspection and revocation share the token endpoint's errors.
    for path in ["/introspect", "/revoke"] {
        let resp = app
            .client
            .post(app.url(path))
            .header("authorization", client.basic_auth())
            .form(&[("token_type_hint", "\"\u{e9}")])
            .send()
            .await
            .unwrap();
        json_error(resp, 400, "invalid_request").await;
        let resp = app
            .client
            .post(app.url(path))
            .header("authorization", stranger.basic_auth())
            .form(&[("token", "x")])
            .send()
            .await
            .unwrap();
        json_error(resp, 401, "invalid_client").await;
    }
}

#[tokio::test]
async fn authorization_errors_sent_to_the_client_are_in_the_charset() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    for (extra, error) in [
        (vec![("prompt", "login \"x\\y\" \u{e9}")], "invalid_request"),
        (
            vec![("response_type", "token \"\\")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("scope", "openid caf\u{e9}")], "invalid_scope"),
        (vec![("code_challenge_method", "S\"512")], "invalid_request"),
        (vec![("max_age", "\u{e9}")], "invalid_request"),
        (vec![("claims", "{\"\\\"")], "invalid_request"),
        (
            vec![(
                "claims",
                r#"{"id_token":{"acr":{"essential":true,"values":["\"é\\"]}}}"#,
            )],
            "unmet_authentication_requirements",
        ),
    ] {
        let params = authorize_error(&app, &client, &extra, error).await;
        assert_charset(error, param(&params, "error_description").unwrap());
    }
}

#[tokio::test]
async fn userinfo_challenges_are_in_the_charset() {
    let app = spawn_app().await;
    for (authorization, status, error) in [
        ("Bearer \"\u{e9}\\", 401, "invalid_token"),
        ("Basic YTpi", 401, "invalid_token"),
        ("Bearer eyJhbGciOiJub25lIn0.e30.", 401, "invalid_token"),
    ] {
        let resp = app
            .client
            .get(app.url("/userinfo"))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{authorization}");
        let challenge = resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        let inner = challenge
            .strip_prefix("Bearer realm=\"portcullis\", error=\"")
            .and_then(|c| c.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{challenge}"));
        let (code, description) = inner.split_once("\", error_description=\"").unwrap();
        assert_eq!(code, error);
        assert_charset("challenge", description);
        assert_eq!(json_error(resp, status, error).await, description);
    }
}

#[tokio::test]
async fn registration_errors_are_in_the_charset() {
    const INITIAL: &str = "initial-access-token-0123456789abcdef";
    let app = spawn_app_with(|f| {
        f.merge(("registration.enabled", true))
            .merge(("registration.initial_access_token", INITIAL))
    })
    .await;
    for (body, error) in [
        (
            json!({ "redirect_uris": ["javascript:caf\u{e9}\"\\"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["http://app.example.com/\"cb\""] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://app.example.com/cb"], "scope": "openid \"adm\\in\u{e9}" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://app.example.com/cb"], "grant_types": ["p\u{e9}\"\\"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://app.example.com/cb"],
                    "token_endpoint_auth_method": "private_key_jwt", "jwks": {} }),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let resp = app
            .client
            .post(app.url("/register"))
            .bearer_auth(INITIAL)
            .json(&body)
            .send()
            .await
            .unwrap();
        json_error(resp, 400, error).await;
    }
    let resp = app
        .client
        .post(app.url("/register"))
        .bearer_auth("wrong")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_charset("challenge", &challenge.replace('"', ""));
    json_error(resp, 401, "invalid_token").await;
}
