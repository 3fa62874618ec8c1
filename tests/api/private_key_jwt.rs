//! `private_key_jwt` client authentication at the token endpoint.

use josekit::jwk::KeyPair;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{json, Value};

use crate::flow::{
    auth_params, param, redirect_params, sign_in_and_authorize, RpClient, REDIRECT, VERIFIER,
};
use crate::helpers::{spawn_app, TestApp, PASSWORD};

struct KeyClient {
    client: RpClient,
    private_pem: Vec<u8>,
    kid: String,
}

async fn key_client(app: &TestApp) -> KeyClient {
    let pair = RS256.generate_key_pair(2048).unwrap();
    let kid = "rp-key-1".to_owned();
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(&kid);
    public.set_algorithm("RS256");
    let jwks = json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] }).to_string();
    let client = crate::flow::register(
        app,
        portcullis::clients::NewClient {
            name: "Key client".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "client_credentials".into()],
            auth_method: Some("private_key_jwt".into()),
            jwks: Some(jwks),
            scopes: vec!["openid".into(), "reports.read".into()],
            ..Default::default()
        },
    )
    .await;
    assert!(
        client.secret.is_none(),
        "no secret for a key-authenticated client"
    );
    KeyClient {
        client,
        private_pem: pair.to_pem_private_key(),
        kid,
    }
}

impl KeyClient {
    fn assertion(&self, claims: Value) -> String {
        let signer = RS256.signer_from_pem(&self.private_pem).unwrap();
        let mut header = JwsHeader::new();
        header.set_key_id(&self.kid);
        let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        jwt::encode_with_signer(&payload, &header, &signer).unwrap()
    }

    fn claims(&self, app: &TestApp) -> Value {
        let now = portcullis::time::now();
        json!({
            "iss": self.client.id,
            "sub": self.client.id,
            "aud": app.url("/token"),
            "jti": portcullis::crypto::random::identifier(),
            "iat": now,
            "exp": now + 60,
        })
    }
}

async fn client_credentials(app: &TestApp, assertion: &str) -> reqwest::Response {
    app.client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "reports.read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_client(resp: reqwest::Response) {
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_client_authenticates_with_a_signed_assertion_for_a_code() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let kc = key_client(&app).await;
    let resp = sign_in_and_authorize(
        &app,
        &auth_params(&kc.client, &[("scope", "openid")]),
        "alice",
        PASSWORD,
    )
    .await;
    let code = param(&redirect_params(&resp), "code").unwrap().to_owned();
    let assertion = kc.assertion(kc.claims(&app));
    let resp = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", kc.client.id.as_str()),
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
    let tokens: Value = resp.json().await.unwrap();
    assert!(tokens["id_token"].is_string());
}

#[tokio::test]
async fn the_issuer_is_an_accepted_audience_and_a_jti_works_once() {
    let app = spawn_app().await;
    let kc = key_client(&app).await;
    let mut claims = kc.claims(&app);
    claims["aud"] = json!(app.address);
    let assertion = kc.assertion(claims);
    assert_eq!(client_credentials(&app, &assertion).await.status(), 200);
    // The same assertion again: a replayed jti.
    assert_invalid_client(client_credentials(&app, &assertion).await).await;
}

/// An edit that makes an assertion's claims invalid.
type ClaimChange = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn bad_assertions_are_refused() {
    let app = spawn_app().await;
    let kc = key_client(&app).await;
    let now = portcullis::time::now();
    let variants: Vec<(&str, ClaimChange)> = vec![
        (
            "wrong audience",
            Box::new(|c: &mut Value| c["aud"] = json!("https://other.example/token")),
        ),
        (
            "expired",
            Box::new(move |c: &mut Value| c["exp"] = json!(now - 10)),
        ),
        (
            "too long-lived",
            Box::new(move |c: &mut Value| c["exp"] = json!(now + 7200)),
        ),
        (
            "no jti",
            Box::new(|c: &mut Value| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "wrong issuer",
            Box::new(|c: &mut Value| c["iss"] = json!("someone-else")),
        ),
        (
            "no exp",
            Box::new(|c: &mut Value| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
    ];
    for (what, change) in variants {
        let mut claims = kc.claims(&app);
        change(&mut claims);
        let resp = client_credentials(&app, &kc.assertion(claims)).await;
        assert_eq!(resp.status(), 401, "{what}");
    }
    // Signed by a key the client never registered.
    let stranger = KeyClient {
        client: kc.client.clone(),
        private_pem: RS256.generate_key_pair(2048).unwrap().to_pem_private_key(),
        kid: kc.kid.clone(),
    };
    assert_invalid_client(
        client_credentials(&app, &stranger.assertion(stranger.claims(&app))).await,
    )
    .await;
    // An HMAC "signature" with the public key, and alg none.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let body = URL_SAFE_NO_PAD.encode(kc.claims(&app).to_string());
    let none = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    assert_invalid_client(client_credentials(&app, &none).await).await;
    let hs = format!(
        "{}.{body}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"rp-key-1"}"#)
    );
    assert_invalid_client(client_credentials(&app, &hs).await).await;
    // A secret or Basic auth alongside an assertion: two methods.
    let resp = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", "x"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", kc.assertion(kc.claims(&app)).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Wrong assertion type.
    let resp = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", kc.assertion(kc.claims(&app)).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_invalid_client(resp).await;
}

#[tokio::test]
async fn registration_refuses_private_keys_and_missing_keys() {
    let app = spawn_app().await;
    let pair = RS256.generate_key_pair(2048).unwrap();
    let private =
        json!({ "keys": [serde_json::to_value(pair.to_jwk_private_key().as_ref()).unwrap()] })
            .to_string();
    for (jwks, want) in [
        (
            Some(private),
            "it contains private key material; register public keys only",
        ),
        (
            None,
            "private_key_jwt needs the client's public keys: a JWK Set or a jwks_uri",
        ),
        (
            Some("{\"keys\":[]}".to_owned()),
            "it must hold 1 to 20 keys",
        ),
        (Some("nonsense".into()), "not JSON"),
    ] {
        let result = portcullis::clients::register_unchecked(
            &app.store,
            portcullis::clients::NewClient {
                name: "Key client".into(),
                grant_types: vec!["client_credentials".into()],
                auth_method: Some("private_key_jwt".into()),
                jwks,
                ..Default::default()
            },
            portcullis::audit::Actor::Cli,
        )
        .await;
        let err = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.ends_with(want), "{err:?} should say {want:?}");
    }
}
