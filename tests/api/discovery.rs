//! Provider metadata and the JWK Set.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_discovery_document_describes_exactly_what_is_implemented() {
    let app = spawn_app().await;
    let resp = app.get("/.well-known/openid-configuration").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, max-age=3600");
    let meta: Value = resp.json().await.unwrap();
    assert_eq!(meta["issuer"], app.address.as_str());
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks.json"),
    ] {
        assert_eq!(meta[key], format!("{}{path}", app.address), "{key}");
    }
    assert_eq!(
        meta["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        meta["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert!(meta["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&"openid".into()));
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&"client_secret_basic".into()));

    let rfc8414: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rfc8414, meta);
}

#[tokio::test]
async fn the_jwks_holds_public_signing_keys_only() {
    let app = spawn_app().await;
    let resp = app.get("/jwks.json").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("public, max-age="));
    let jwks: Value = resp.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(["RS256", "ES256"].contains(&key["alg"].as_str().unwrap()));
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "{private} must not be published"
            );
        }
    }
}
