//! Registration refuses what could only fail later: unusable keys in an inline `jwks` (RSA
//! below 2048 bits, an exponent other than 65537, an even modulus, EC points off the
//! curve, curves and `alg`/`use`/`key_ops` that rule out verifying, duplicate `kid`s), and a
//! `jwks_uri` or any client's redirect URI on a loopback, private, link-local, CGNAT,
//! unspecified, special-purpose or cloud metadata host (public clients keep http loopback). Each refusal is the same through
//! `POST /register`, `PUT /register/{id}` and `portcullis client add`, and writes nothing.

use std::process::Output;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jws::{ES256, RS256};
use serde_json::{json, Value};

use crate::cli::stderr;
use crate::flow::REDIRECT;
use crate::helpers::{spawn_app_with, test_kek, TestApp};
use crate::registration::{app_with_registration, register, INITIAL};

const INVALID_METADATA: &str = "invalid_client_metadata";
const INVALID_REDIRECT: &str = "invalid_redirect_uri";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn with_kid(mut key: Value, kid: &str) -> Value {
    key["kid"] = json!(kid);
    key
}

fn good_rsa() -> Value {
    let pair = RS256.generate_key_pair(2048).unwrap();
    with_kid(
        serde_json::to_value(pair.to_jwk_public_key().as_ref()).unwrap(),
        "rsa-2048",
    )
}

fn good_p256() -> Value {
    let pair = ES256.generate_key_pair().unwrap();
    with_kid(
        serde_json::to_value(pair.to_jwk_public_key().as_ref()).unwrap(),
        "p-256",
    )
}

/// `key` with its base64url member `name` changed by `f`.
fn altered(mut key: Value, name: &str, f: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut bytes = URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    f(&mut bytes);
    key[name] = json!(b64(&bytes));
    key
}

/// One kind of refusal: what is registered, and the error the registering party gets.
struct Refusal {
    redirect_uri: &'static str,
    post_logout_redirect_uri: Option<&'static str>,
    /// Registered as a public client (token_endpoint_auth_method none, `--public`).
    public: bool,
    jwks: Option<Value>,
    jwks_uri: Option<&'static str>,
    error: &'static str,
    description: String,
}

fn key_refusal(keys: Vec<Value>, description: &str) -> Refusal {
    Refusal {
        redirect_uri: REDIRECT,
        post_logout_redirect_uri: None,
        public: false,
        jwks: Some(json!({ "keys": keys })),
        jwks_uri: None,
        error: INVALID_METADATA,
        description: format!("invalid JWK Set: {description}"),
    }
}

fn jwks_uri_refusal(uri: &'static str, kind: &str) -> Refusal {
    Refusal {
        redirect_uri: REDIRECT,
        post_logout_redirect_uri: None,
        public: false,
        jwks: None,
        jwks_uri: Some(uri),
        error: INVALID_METADATA,
        description: format!(
            "invalid jwks_uri: it names {kind}; client keys are only fetched from public hosts: {uri}"
        ),
    }
}

fn private_description(field: &str, uri: &str, kind: &str) -> String {
    format!(
        "invalid {field} entry: it names {kind}; redirect URIs must name a public host (only \
         public clients may use http on a loopback IP address or localhost): {uri}"
    )
}

fn redirect_refusal(uri: &'static str, kind: &str) -> Refusal {
    Refusal {
        redirect_uri: uri,
        post_logout_redirect_uri: None,
        public: false,
        jwks: None,
        jwks_uri: None,
        error: INVALID_REDIRECT,
        description: private_description("redirect_uris", uri, kind),
    }
}

/// A public client (a browser app or a native app) may not name a private host either;
/// only http loopback is its exception.
fn public_redirect_refusal(uri: &'static str, kind: &str) -> Refusal {
    Refusal {
        public: true,
        ..redirect_refusal(uri, kind)
    }
}

/// A refused post_logout_redirect_uris entry is other metadata (RFC 7591 §3.2.2 keeps
/// invalid_redirect_uri for redirect_uris).
fn logout_refusal(uri: &'static str, kind: &str, public: bool) -> Refusal {
    Refusal {
        redirect_uri: if public {
            "http://127.0.0.1/cb"
        } else {
            REDIRECT
        },
        post_logout_redirect_uri: Some(uri),
        public,
        jwks: None,
        jwks_uri: None,
        error: INVALID_METADATA,
        description: private_description("post_logout_redirect_uris", uri, kind),
    }
}

fn refusals() -> Vec<Refusal> {
    let weak = openssl::rsa::Rsa::generate(1024).unwrap();
    let weak = json!({ "kty": "RSA", "kid": "weak", "n": b64(&weak.n().to_vec()), "e": "AQAB" });
    let mut small_exponent = good_rsa();
    small_exponent["e"] = json!("Aw");
    let even = altered(good_rsa(), "n", |n| *n.last_mut().unwrap() &= 0xfe);
    let off_curve = with_kid(
        altered(good_p256(), "y", |y| *y.last_mut().unwrap() ^= 1),
        "bad-ec",
    );
    let p384 = with_kid(
        serde_json::to_value(
            josekit::jws::ES384
                .generate_key_pair()
                .unwrap()
                .to_jwk_public_key()
                .as_ref(),
        )
        .unwrap(),
        "p-384",
    );
    let mut wrong_alg = good_rsa();
    wrong_alg["alg"] = json!("ES256");
    let mut encryption = good_p256();
    encryption["use"] = json!("enc");
    let mut wrap_only = good_p256();
    wrap_only["key_ops"] = json!(["wrapKey"]);
    vec![
        key_refusal(
            vec![weak],
            "key 1 (kid weak) cannot be used: its RSA modulus has 1024 bits; at least 2048 are required",
        ),
        key_refusal(
            vec![small_exponent],
            "key 1 (kid rsa-2048) cannot be used: its RSA public exponent is not 65537",
        ),
        key_refusal(
            vec![even],
            "key 1 (kid rsa-2048) cannot be used: its RSA modulus is even, so it is not an RSA key",
        ),
        key_refusal(
            vec![good_rsa(), off_curve],
            "key 2 (kid bad-ec) cannot be used: its point is not on the P-256 curve",
        ),
        key_refusal(
            vec![p384],
            "key 1 (kid p-384) cannot be used: its curve is not accepted (use P-256: EC \
             assertions are verified with ES256)",
        ),
        key_refusal(
            vec![wrong_alg],
            "key 1 (kid rsa-2048) cannot be used: its alg is not one this key type can verify \
             with (use RS256 or PS256)",
        ),
        key_refusal(
            vec![good_rsa(), encryption],
            "key 2 (kid p-256) cannot be used: its use is not sig; only signing keys verify \
             assertions",
        ),
        key_refusal(
            vec![wrap_only],
            "key 1 (kid p-256) cannot be used: its key_ops do not include verify",
        ),
        key_refusal(
            vec![good_p256(), good_p256()],
            "key 2 (kid p-256) cannot be used: another key of the set has the same kid",
        ),
        jwks_uri_refusal("https://127.0.0.1/jwks", "a loopback address"),
        jwks_uri_refusal("http://localhost:8080/jwks", "a loopback host (localhost)"),
        jwks_uri_refusal("https://10.1.2.3/jwks", "a private address (RFC 1918)"),
        jwks_uri_refusal("https://[fd12::1]/jwks", "a unique local (private) address"),
        jwks_uri_refusal("https://169.254.10.1/jwks", "a link-local address"),
        jwks_uri_refusal("https://100.64.0.1/jwks", "a shared (carrier-grade NAT) address"),
        jwks_uri_refusal("https://0.0.0.0/jwks", "the unspecified address"),
        jwks_uri_refusal(
            "https://169.254.169.254/latest/meta-data",
            "a cloud metadata address",
        ),
        jwks_uri_refusal("https://[fd00:ec2::254]/jwks", "a cloud metadata address"),
        jwks_uri_refusal(
            "https://metadata.google.internal/jwks",
            "a cloud metadata host",
        ),
        redirect_refusal("http://127.0.0.1:9000/cb", "a loopback address"),
        redirect_refusal("https://[::1]/cb", "a loopback address"),
        redirect_refusal("https://app.localhost/cb", "a loopback host (localhost)"),
        redirect_refusal("https://192.168.1.10/cb", "a private address (RFC 1918)"),
        redirect_refusal("https://[fc00::5]/cb", "a unique local (private) address"),
        redirect_refusal("https://[fe80::1]/cb", "a link-local address"),
        redirect_refusal("https://100.100.0.1/cb", "a shared (carrier-grade NAT) address"),
        redirect_refusal("https://[::]/cb", "the unspecified address"),
        redirect_refusal("https://169.254.169.254/cb", "a cloud metadata address"),
        redirect_refusal("https://[64:ff9b::a00:1]/cb", "a special-purpose address"),
        redirect_refusal("https://[2002:a00:1::1]/cb", "a special-purpose address"),
        redirect_refusal("https://[2001::1]/cb", "a special-purpose address"),
        redirect_refusal("https://[::7f00:1]/cb", "a special-purpose address"),
        redirect_refusal("https://%31%32%37.0.0.1/cb", "a loopback address"),
        redirect_refusal("https://127.0.0.1./cb", "a loopback address"),
        redirect_refusal("https://localhost.localdomain/cb", "a loopback host (localhost)"),
        redirect_refusal("https://metadata/computeMetadata/v1/", "a cloud metadata host"),
        public_redirect_refusal("https://10.0.0.7/cb", "a private address (RFC 1918)"),
        public_redirect_refusal("https://169.254.169.254/cb", "a cloud metadata address"),
        public_redirect_refusal("https://127.0.0.1/cb", "a loopback address"),
        public_redirect_refusal("https://100.64.0.1/cb", "a shared (carrier-grade NAT) address"),
        logout_refusal("https://192.168.1.10/bye", "a private address (RFC 1918)", false),
        logout_refusal("https://[fe80::1]/bye", "a link-local address", true),
        Refusal {
            description: "invalid post_logout_redirect_uris entry: http is only allowed for a \
                          loopback host; use https: http://app.example.com/bye"
                .into(),
            ..logout_refusal("http://app.example.com/bye", "", false)
        },
    ]
}

impl Refusal {
    /// RFC 7591 client metadata for a confidential web client.
    fn metadata(&self) -> Value {
        let mut body = json!({
            "client_name": "Refused",
            "redirect_uris": [self.redirect_uri],
        });
        if self.public {
            body["token_endpoint_auth_method"] = json!("none");
        }
        if let Some(uri) = self.post_logout_redirect_uri {
            body["post_logout_redirect_uris"] = json!([uri]);
        }
        if let Some(jwks) = &self.jwks {
            body["token_endpoint_auth_method"] = json!("private_key_jwt");
            body["jwks"] = jwks.clone();
        }
        if let Some(uri) = self.jwks_uri {
            body["token_endpoint_auth_method"] = json!("private_key_jwt");
            body["jwks_uri"] = json!(uri);
        }
        body
    }

    /// The same client as `portcullis client add` arguments; the JWK Set goes to a file
    /// in `dir`.
    fn cli_args(&self, dir: &std::path::Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "client",
            "add",
            "--name",
            "Refused",
            "--redirect-uri",
            self.redirect_uri,
        ]
        .map(str::to_owned)
        .to_vec();
        if self.public {
            args.push("--public".into());
        }
        if let Some(uri) = self.post_logout_redirect_uri {
            args.extend(["--post-logout-redirect-uri".into(), uri.into()]);
        }
        if let Some(jwks) = &self.jwks {
            let path = dir.join("jwks.json");
            std::fs::write(&path, jwks.to_string()).unwrap();
            args.extend(["--auth-method".into(), "private_key_jwt".into()]);
            args.extend(["--jwks-file".into(), path.display().to_string()]);
        }
        if let Some(uri) = self.jwks_uri {
            args.extend(["--auth-method".into(), "private_key_jwt".into()]);
            args.extend(["--jwks-uri".into(), uri.into()]);
        }
        args
    }
}

/// What a refusal must leave untouched: every client row and the audit trail.
async fn snapshot(app: &TestApp) -> (Vec<portcullis::store::clients::Client>, usize) {
    app.db(|c| {
        Ok((
            portcullis::store::clients::list(c)?,
            portcullis::store::audit::recent(c, 10_000)?.len(),
        ))
    })
    .await
}

async fn assert_refused(resp: reqwest::Response, refusal: &Refusal, how: &str) {
    assert_eq!(resp.status(), 400, "{how}: {}", refusal.description);
    assert_eq!(resp.headers()["cache-control"], "no-store", "{how}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], refusal.error, "{how}: {body}");
    assert_eq!(
        body["error_description"], refusal.description,
        "{how}: {body}"
    );
}

/// The binary's CLI on the app's database, with extra environment.
fn cli(app: &TestApp, args: &[String], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("PORTCULLIS__DATABASE__URL", &app.settings.database.url)
        .env("PORTCULLIS__KEYS__ENCRYPTION_KEY", test_kek())
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .expect("run portcullis")
}

#[tokio::test]
async fn dynamic_registration_refuses_each_kind_and_writes_nothing() {
    let app = app_with_registration().await;
    let before = snapshot(&app).await;
    for refusal in refusals() {
        let resp = register(&app, Some(INITIAL), refusal.metadata()).await;
        assert_refused(resp, &refusal, "POST /register").await;
    }
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn a_client_update_refuses_each_kind_and_keeps_the_client_as_it_was() {
    let app = app_with_registration().await;
    let resp = register(
        &app,
        Some(INITIAL),
        json!({ "client_name": "Good", "redirect_uris": [REDIRECT] }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap();
    let token = created["registration_access_token"].as_str().unwrap();
    let before = snapshot(&app).await;
    for refusal in refusals() {
        let mut metadata = refusal.metadata();
        metadata["client_id"] = json!(id);
        let resp = app
            .client
            .put(app.url(&format!("/register/{id}")))
            .bearer_auth(token)
            .json(&metadata)
            .send()
            .await
            .unwrap();
        assert_refused(resp, &refusal, "PUT /register/{id}").await;
    }
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn client_add_refuses_each_kind_with_the_same_message_and_writes_nothing() {
    let app = app_with_registration().await;
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&app).await;
    for refusal in refusals() {
        let out = cli(&app, &refusal.cli_args(dir.path()), &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!("portcullis: {}\n", refusal.description)
        );
    }
    assert_eq!(snapshot(&app).await, before);
}

/// A confidential client with a good RSA-2048 (e = 65537) key and a good P-256 key.
fn good_keys_client() -> Value {
    json!({
        "client_name": "Good keys",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": { "keys": [good_rsa(), good_p256()] },
    })
}

#[tokio::test]
async fn good_rsa_and_p256_keys_are_accepted_everywhere() {
    let app = app_with_registration().await;
    let resp = register(&app, Some(INITIAL), good_keys_client()).await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(created["jwks"]["keys"].as_array().unwrap().len(), 2);
    let id = created["client_id"].as_str().unwrap();
    let mut update = good_keys_client();
    update["client_id"] = json!(id);
    let resp = app
        .client
        .put(app.url(&format!("/register/{id}")))
        .bearer_auth(created["registration_access_token"].as_str().unwrap())
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, good_keys_client()["jwks"].to_string()).unwrap();
    let args: Vec<String> = [
        "client",
        "add",
        "--name",
        "Good keys",
        "--redirect-uri",
        REDIRECT,
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        &path.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = cli(&app, &args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(snapshot(&app).await.0.len(), 2);
}

#[tokio::test]
async fn native_apps_keep_loopback_redirects_and_public_hosts_are_not_resolved() {
    let app = app_with_registration().await;
    let resp = register(
        &app,
        Some(INITIAL),
        json!({
            "client_name": "Desktop app",
            "redirect_uris": ["http://127.0.0.1/callback", "http://[::1]/callback"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let out = cli(
        &app,
        &[
            "client",
            "add",
            "--name",
            "CLI tool",
            "--public",
            "--redirect-uri",
            "http://localhost:8400/cb",
        ]
        .map(str::to_owned),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A DNS name is judged when the key fetcher resolves it, not at registration.
    let resp = register(
        &app,
        Some(INITIAL),
        json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://keys.example.com/jwks",
        }),
    )
    .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn the_operator_can_allow_private_hosts_for_development() {
    let app = spawn_app_with(|f| {
        f.merge(("registration.enabled", true))
            .merge(("registration.initial_access_token", INITIAL))
            .merge(("oauth.allow_private_jwks_uri", true))
            .merge(("oauth.allow_private_redirect_uris", true))
    })
    .await;
    let resp = register(
        &app,
        Some(INITIAL),
        json!({
            "client_name": "Local server",
            "redirect_uris": ["http://127.0.0.1:9000/cb", "https://10.1.2.3/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "http://127.0.0.1:9001/jwks",
        }),
    )
    .await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());

    let args = [
        "client",
        "add",
        "--name",
        "Local server",
        "--redirect-uri",
        "http://localhost:3000/cb",
        "--auth-method",
        "private_key_jwt",
        "--jwks-uri",
        "https://169.254.169.254/jwks",
    ]
    .map(str::to_owned);
    // Each switch covers its own field: the operator's environment decides for the CLI.
    let out = cli(
        &app,
        &args,
        &[("PORTCULLIS__OAUTH__ALLOW_PRIVATE_REDIRECT_URIS", "true")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid jwks_uri"),
        "{}",
        stderr(&out)
    );
    let out = cli(
        &app,
        &args,
        &[("PORTCULLIS__OAUTH__ALLOW_PRIVATE_JWKS_URI", "true")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid redirect_uris entry"),
        "{}",
        stderr(&out)
    );
    let out = cli(
        &app,
        &args,
        &[
            ("PORTCULLIS__OAUTH__ALLOW_PRIVATE_JWKS_URI", "true"),
            ("PORTCULLIS__OAUTH__ALLOW_PRIVATE_REDIRECT_URIS", "true"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(snapshot(&app).await.0.len(), 2);
}

/// A long refused URI is cut to 80 characters after the reason, so the 300-character cap on
/// error descriptions never cuts the reason.
#[tokio::test]
async fn a_long_refused_uri_is_shortened_after_the_reason() {
    let app = app_with_registration().await;
    let uri = format!("https://10.0.0.1/{}", "x".repeat(600));
    let resp = register(
        &app,
        Some(INITIAL),
        json!({ "client_name": "Long", "redirect_uris": [uri] }),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], INVALID_REDIRECT);
    let description = body["error_description"].as_str().unwrap();
    let shortened = format!("https://10.0.0.1/{}...", "x".repeat(60));
    assert_eq!(
        description,
        private_description("redirect_uris", &shortened, "a private address (RFC 1918)")
    );
    assert!(description.chars().count() <= 300, "{description}");
}
