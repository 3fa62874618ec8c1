//! private_key_jwt with keys fetched from the client's jwks_uri.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use josekit::jwk::KeyPair;
use josekit::jws::{JwsHeader, RS256};
use serde_json::json;

use crate::flow::register;
use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// A stand-in client web server publishing `jwks` at /jwks; counts the requests it answers.
fn serve_jwks(jwks: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/jwks",
        listener.local_addr().unwrap().port()
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            counter.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                jwks.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, hits)
}

struct Keyed {
    id: String,
    pem: Vec<u8>,
}

async fn client_with_jwks_uri(app: &TestApp) -> (Keyed, Arc<AtomicUsize>) {
    let pair = RS256.generate_key_pair(2048).unwrap();
    let mut public = pair.to_jwk_public_key();
    public.set_key_id("k1");
    let (url, hits) =
        serve_jwks(json!({ "keys": [serde_json::to_value(public.as_ref()).unwrap()] }).to_string());
    let client = register(
        app,
        portcullis::clients::NewClient {
            name: "Remote keys".into(),
            grant_types: vec!["client_credentials".into()],
            auth_method: Some("private_key_jwt".into()),
            jwks_uri: Some(url),
            ..Default::default()
        },
    )
    .await;
    (
        Keyed {
            id: client.id,
            pem: pair.to_pem_private_key(),
        },
        hits,
    )
}

async fn token_with_assertion(app: &TestApp, k: &Keyed) -> u16 {
    let now = portcullis::time::now();
    let claims = json!({
        "iss": k.id, "sub": k.id, "aud": app.address,
        "jti": portcullis::crypto::random::identifier(), "exp": now + 60,
    });
    let payload = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let mut header = JwsHeader::new();
    header.set_key_id("k1");
    let signer = RS256.signer_from_pem(&k.pem).unwrap();
    let assertion = josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap();
    app.client
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
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn keys_are_fetched_from_the_jwks_uri_and_cached() {
    let app = spawn_app_with(|f| f.merge(("oauth.allow_private_jwks_uri", true))).await;
    let (client, hits) = client_with_jwks_uri(&app).await;
    assert_eq!(token_with_assertion(&app, &client).await, 200);
    assert_eq!(token_with_assertion(&app, &client).await, 200);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the second request used the cache"
    );
}

#[tokio::test]
async fn a_jwks_uri_into_the_private_network_is_never_fetched() {
    let app = spawn_app().await;
    let (client, hits) = client_with_jwks_uri(&app).await;
    assert_eq!(token_with_assertion(&app, &client).await, 401);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no request reached the internal address"
    );
}

#[tokio::test]
async fn a_jwks_uri_must_be_https() {
    let app = spawn_app().await;
    let result = portcullis::clients::register_unchecked(
        &app.store,
        portcullis::clients::NewClient {
            name: "Plain".into(),
            grant_types: vec!["client_credentials".into()],
            auth_method: Some("private_key_jwt".into()),
            jwks_uri: Some("http://keys.example.com/jwks".into()),
            ..Default::default()
        },
        portcullis::audit::Actor::Cli,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(portcullis::clients::ClientError::InvalidJwks(
                "jwks_uri must use https"
            ))
        ),
        "{:?}",
        result.err()
    );
}

/// A client whose jwks_uri publishes `extra` keys before its signing key `k1`.
async fn client_with_published_keys(
    app: &TestApp,
    extra: Vec<serde_json::Value>,
    with_signing_key: bool,
) -> (Keyed, Arc<AtomicUsize>) {
    let pair = RS256.generate_key_pair(2048).unwrap();
    let mut public = pair.to_jwk_public_key();
    public.set_key_id("k1");
    let mut keys = extra;
    if with_signing_key {
        keys.push(serde_json::to_value(public.as_ref()).unwrap());
    }
    let (url, hits) = serve_jwks(json!({ "keys": keys }).to_string());
    let client = register(
        app,
        portcullis::clients::NewClient {
            name: "Remote keys".into(),
            grant_types: vec!["client_credentials".into()],
            auth_method: Some("private_key_jwt".into()),
            jwks_uri: Some(url),
            ..Default::default()
        },
    )
    .await;
    let keyed = Keyed {
        id: client.id,
        pem: pair.to_pem_private_key(),
    };
    (keyed, hits)
}

/// A good RSA public key published for encryption (`use: enc`), never for assertions.
fn rsa_encryption_key() -> serde_json::Value {
    let pair = RS256.generate_key_pair(2048).unwrap();
    let mut key = serde_json::to_value(pair.to_jwk_public_key().as_ref()).unwrap();
    key["use"] = json!("enc");
    key
}

/// Keys a client publishes for other purposes (encryption, a curve assertions never use)
/// are set aside at fetch time; they do not lock the client out.
#[tokio::test]
async fn unusable_keys_in_a_fetched_set_are_ignored() {
    let app = spawn_app_with(|f| f.merge(("oauth.allow_private_jwks_uri", true))).await;
    let mut enc = rsa_encryption_key();
    enc["kid"] = json!("enc-1");
    let p384 = serde_json::to_value(
        josekit::jws::ES384
            .generate_key_pair()
            .unwrap()
            .to_jwk_public_key()
            .as_ref(),
    )
    .unwrap();
    let (client, hits) = client_with_published_keys(&app, vec![enc, p384], true).await;
    assert_eq!(token_with_assertion(&app, &client).await, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A jwks_uri without a usable key fails, and the failure is remembered: a second token
/// request within the minute does not fetch again.
#[tokio::test]
async fn a_failing_jwks_uri_is_not_fetched_for_every_request() {
    let app = spawn_app_with(|f| f.merge(("oauth.allow_private_jwks_uri", true))).await;
    let enc = rsa_encryption_key();
    let (client, hits) = client_with_published_keys(&app, vec![enc], false).await;
    assert_eq!(token_with_assertion(&app, &client).await, 401);
    assert_eq!(token_with_assertion(&app, &client).await, 401);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the failure was remembered");
}
