use super::*;

fn web_client(redirect: &str) -> NewClient {
    NewClient {
        name: "App".into(),
        redirect_uris: vec![redirect.into()],
        ..NewClient::default()
    }
}

fn keyed_client(jwks_uri: &str) -> NewClient {
    NewClient {
        auth_method: Some("private_key_jwt".into()),
        jwks_uri: Some(jwks_uri.into()),
        ..web_client("https://app.example.com/cb")
    }
}

const STRICT: AddressPolicy = AddressPolicy {
    allow_private_jwks_uri: false,
    allow_private_redirect_uris: false,
};

#[test]
fn a_confidential_client_cannot_redirect_to_a_private_host() {
    for uri in [
        "http://127.0.0.1:9000/cb",
        "https://localhost/cb",
        "https://10.0.0.1/cb",
        "https://169.254.169.254/cb",
    ] {
        assert!(
            matches!(
                validate(&web_client(uri), STRICT),
                Err(ClientError::PrivateRedirectUri { .. })
            ),
            "{uri}"
        );
        assert!(
            validate(&web_client(uri), AddressPolicy::ANY).is_ok(),
            "{uri}"
        );
    }
    let mut logout = web_client("https://app.example.com/cb");
    logout.post_logout_redirect_uris = vec!["https://192.168.0.1/bye".into()];
    assert!(matches!(
        validate(&logout, STRICT),
        Err(ClientError::PrivateRedirectUri { .. })
    ));
}

#[test]
fn a_public_client_keeps_its_loopback_redirects() {
    for uri in [
        "http://127.0.0.1/cb",
        "http://[::1]:8000/cb",
        "http://localhost/cb",
    ] {
        let native = NewClient {
            public: true,
            ..web_client(uri)
        };
        assert!(validate(&native, STRICT).is_ok(), "{uri}");
    }
}

#[test]
fn a_jwks_uri_on_a_private_host_is_refused_unless_the_operator_allows_it() {
    let private = keyed_client("https://10.0.0.1/jwks");
    let err = validate(&private, STRICT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid jwks_uri https://10.0.0.1/jwks: it names a private address (RFC 1918); \
         client keys are only fetched from public hosts"
    );
    let allowed = AddressPolicy {
        allow_private_jwks_uri: true,
        ..STRICT
    };
    assert!(validate(&private, allowed).is_ok());
    // The jwks_uri switch says nothing about redirect URIs.
    let both = NewClient {
        redirect_uris: vec!["https://10.0.0.2/cb".into()],
        ..private
    };
    assert!(matches!(
        validate(&both, allowed),
        Err(ClientError::PrivateRedirectUri { .. })
    ));
    assert!(validate(&keyed_client("https://keys.example.com/jwks"), STRICT).is_ok());
}

#[test]
fn an_unusable_key_is_named_by_position_and_a_plain_kid() {
    let weak = serde_json::json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" });
    for (kid, label) in [
        (serde_json::json!("sig-1"), "1 (kid sig-1)"),
        (serde_json::json!("a \"quoted\" kid"), "1"),
        (serde_json::json!(7), "1"),
    ] {
        let mut key = weak.clone();
        key["kid"] = kid;
        let set = serde_json::json!({ "keys": [key] }).to_string();
        assert_eq!(
            validate_jwks(&set).unwrap_err().to_string(),
            format!(
                "invalid JWK Set: key {label} cannot be used: its RSA modulus has 17 bits; \
                 at least 2048 are required"
            )
        );
    }
}
