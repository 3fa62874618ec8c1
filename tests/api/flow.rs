//! Helpers that drive the OAuth flows over HTTP, as a relying party and a browser would.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use portcullis::audit::Actor;
use portcullis::clients::{self, NewClient};
use reqwest::Url;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{form_value, location, TestApp};

pub const REDIRECT: &str = "https://app.example.com/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A registered client as a relying party holds it.
#[derive(Clone)]
pub struct RpClient {
    pub id: String,
    pub secret: Option<String>,
}

impl RpClient {
    pub fn basic_auth(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!(
                "{}:{}",
                self.id,
                self.secret.as_deref().unwrap_or("")
            ))
        )
    }
}

pub async fn register(app: &TestApp, new: NewClient) -> RpClient {
    let registered = clients::register_unchecked(&app.store, new, Actor::Cli)
        .await
        .unwrap();
    RpClient {
        id: registered.client.client_id,
        secret: registered.secret.map(|s| s.expose().to_owned()),
    }
}

pub async fn confidential(app: &TestApp) -> RpClient {
    register(
        app,
        NewClient {
            name: "Example App".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            ..NewClient::default()
        },
    )
    .await
}

pub async fn public(app: &TestApp) -> RpClient {
    register(
        app,
        NewClient {
            name: "Example SPA".into(),
            redirect_uris: vec![REDIRECT.into()],
            public: true,
            ..NewClient::default()
        },
    )
    .await
}

/// Standard authorization parameters for `client`, with PKCE S256, state and nonce;
/// `extra` overrides or adds (an empty value removes).
pub fn auth_params(client: &RpClient, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client.id.clone()),
        ("redirect_uri".into(), REDIRECT.into()),
        ("scope".into(), "openid profile email".into()),
        ("state".into(), "state-123".into()),
        ("nonce".into(), "nonce-456".into()),
        ("code_challenge".into(), challenge(VERIFIER)),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (k, v) in extra {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push(((*k).into(), (*v).into()));
        }
    }
    params
}

pub fn authorize_path(params: &[(String, String)]) -> String {
    format!(
        "/authorize?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

/// The query parameters of a redirect to the client.
pub fn redirect_params(resp: &reqwest::Response) -> Vec<(String, String)> {
    let loc = location(resp);
    assert!(
        loc.starts_with(REDIRECT),
        "expected a redirect to the client, got {loc}"
    );
    Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Follows the browser side of an authorization request with a signed-in browser: answers
/// the consent page with `decision` when it appears. Returns the final response (a redirect
/// to the client, or whatever stopped the flow).
pub async fn authorize(
    app: &TestApp,
    params: &[(String, String)],
    decision: &str,
) -> reqwest::Response {
    let mut resp = app.get(&authorize_path(params)).await;
    for _ in 0..4 {
        if resp.status() != 303 {
            return resp;
        }
        let loc = location(&resp);
        if loc.starts_with("/consent") {
            let page = app.get(&loc).await.text().await.unwrap();
            let csrf = form_value(&page, "csrf_token").unwrap();
            let request = form_value(&page, "request").unwrap();
            resp = app
                .post_form(
                    "/consent",
                    &[
                        ("csrf_token", &csrf),
                        ("request", &request),
                        ("decision", decision),
                    ],
                )
                .await;
        } else {
            return resp;
        }
    }
    resp
}

/// Signs in (through the login page the flow leads to) and completes the flow.
pub async fn sign_in_and_authorize(
    app: &TestApp,
    params: &[(String, String)],
    username: &str,
    password: &str,
) -> reqwest::Response {
    let resp = app.get(&authorize_path(params)).await;
    assert_eq!(resp.status(), 303);
    let loc = location(&resp);
    assert!(loc.starts_with("/login?request="), "{loc}");
    let page = app.get(&loc).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    let request = form_value(&page, "request").unwrap();
    let resp = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
                ("request", &request),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let cont = location(&resp);
    assert!(cont.starts_with("/authorize/continue?request="), "{cont}");
    through_consent(app, app.get(&cont).await).await
}

/// When `resp` leads to the consent page, allows there; returns what follows (for a
/// completed flow, the redirect to the client).
pub async fn through_consent(app: &TestApp, resp: reqwest::Response) -> reqwest::Response {
    if resp.status() != 303 || !location(&resp).starts_with("/consent") {
        return resp;
    }
    let page = app.get(&location(&resp)).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    let request = form_value(&page, "request").unwrap();
    app.post_form(
        "/consent",
        &[
            ("csrf_token", &csrf),
            ("request", &request),
            ("decision", "allow"),
        ],
    )
    .await
}

/// POSTs `form` to the token endpoint with the client's secret in HTTP Basic auth.
pub async fn token_post(
    app: &TestApp,
    client: &RpClient,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url("/token"))
        .header("authorization", client.basic_auth())
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Exchanges a code at the token endpoint with client_secret_basic (or `none` for public
/// clients).
pub async fn exchange(
    app: &TestApp,
    client: &RpClient,
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let mut request = app.client.post(app.url("/token"));
    if client.secret.is_some() {
        request = request.header("authorization", client.basic_auth());
    } else {
        form.push(("client_id", &client.id));
    }
    request.form(&form).send().await.unwrap()
}

/// A full flow to tokens: signs alice in (created if needed), consents, exchanges.
pub async fn tokens_for(app: &TestApp, client: &RpClient, extra: &[(&str, &str)]) -> Value {
    let params = auth_params(client, extra);
    let resp = if app.cookie("portcullis_session").is_some() {
        authorize(app, &params, "allow").await
    } else {
        sign_in_and_authorize(app, &params, "alice", crate::helpers::PASSWORD).await
    };
    let code = param(&redirect_params(&resp), "code")
        .expect("a code")
        .to_owned();
    let resp = exchange(app, client, &code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

/// Verifies a JWT against the app's published JWKS, as a relying party would, and returns
/// its header and claims.
pub async fn verify_jwt(app: &TestApp, token: &str) -> (Map<String, Value>, Map<String, Value>) {
    let jwks: Value = app.get("/jwks.json").await.json().await.unwrap();
    let header: Map<String, Value> = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let kid = header["kid"].as_str().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the signing key is published");
    let jwk = josekit::jwk::Jwk::from_bytes(jwk.to_string()).unwrap();
    let claims = match header["alg"].as_str().unwrap() {
        "RS256" => {
            let v = josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap();
            josekit::jwt::decode_with_verifier(token, &v).unwrap().0
        }
        "ES256" => {
            let v = josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap();
            josekit::jwt::decode_with_verifier(token, &v).unwrap().0
        }
        other => panic!("unexpected alg {other}"),
    };
    (header, claims.as_ref().clone())
}

/// An authorization request with `extra` (as [`auth_params`]) that the provider refuses with
/// `error` in a redirect to the client (RFC 6749 §4.1.2.1); returns the redirect's parameters.
pub async fn authorize_error(
    app: &TestApp,
    client: &RpClient,
    extra: &[(&str, &str)],
    error: &str,
) -> Vec<(String, String)> {
    let resp = app.get(&authorize_path(&auth_params(client, extra))).await;
    assert_eq!(resp.status(), 303, "{extra:?}");
    let params = redirect_params(&resp);
    assert_eq!(param(&params, "error"), Some(error), "{extra:?}");
    params
}

/// Posts `username` and `password` on the login page of the pending authorization request
/// `request` (the id in `/login?request=`), with that page's CSRF token.
pub async fn sign_in_for_request(
    app: &TestApp,
    request: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = app
        .get(&format!("/login?request={request}"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    app.post_form(
        "/login",
        &[
            ("csrf_token", &csrf),
            ("username", username),
            ("password", password),
            ("request", request),
        ],
    )
    .await
}
