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
        "invalid jwks_uri: it names a private address (RFC 1918); \
         client keys are only fetched from public hosts: https://10.0.0.1/jwks"
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

/// In dynamic registration "public" only means token_endpoint_auth_method none: a browser app
/// is public too, and must not redirect users into a private network either.
#[test]
fn a_public_client_cannot_redirect_to_a_private_host_either() {
    for uri in [
        "https://10.0.0.1/cb",
        "https://169.254.169.254/cb",
        "https://100.64.0.1/cb",
        "https://[fe80::1]/cb",
        "https://0.0.0.0/cb",
        "https://127.0.0.1/cb",
        "https://localhost/cb",
        "https://metadata/cb",
        "http://10.0.0.1/cb",
    ] {
        let spa = NewClient {
            public: true,
            ..web_client(uri)
        };
        assert!(
            matches!(
                validate(&spa, STRICT),
                Err(ClientError::PrivateRedirectUri {
                    field: "redirect_uris",
                    ..
                }) | Err(ClientError::InvalidRedirectUri { .. })
            ),
            "{uri}"
        );
    }
    let mut logout = NewClient {
        public: true,
        ..web_client("http://127.0.0.1/cb")
    };
    logout.post_logout_redirect_uris = vec!["https://192.168.0.1/bye".into()];
    assert!(matches!(
        validate(&logout, STRICT),
        Err(ClientError::PrivateRedirectUri {
            field: "post_logout_redirect_uris",
            ..
        })
    ));
    // Private-use schemes (RFC 8252 §7.1) name no network host.
    let native = NewClient {
        public: true,
        ..web_client("com.example.app:/cb")
    };
    assert!(validate(&native, STRICT).is_ok());
}

#[test]
fn a_long_uri_is_shortened_after_the_reason() {
    let uri = format!("https://10.0.0.1/{}", "a".repeat(400));
    let message = validate(&web_client(&uri), STRICT).unwrap_err().to_string();
    assert!(
        message.starts_with("invalid redirect_uris entry: it names a private address (RFC 1918)"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("https://10.0.0.1/{}...", "a".repeat(60))),
        "{message}"
    );
    assert!(message.chars().count() < 300, "{message}");
}

#[test]
fn refuse_private_refuses_what_it_cannot_parse() {
    let refused = refuse_private("https://[::1/cb", |uri, kind| ClientError::PrivateJwksUri {
        uri,
        kind,
    });
    assert!(matches!(refused, Err(ClientError::PrivateJwksUri { .. })));
}

fn jwks(keys: serde_json::Value) -> String {
    serde_json::json!({ "keys": keys }).to_string()
}

fn es256(kid: &str) -> serde_json::Value {
    let mut key = josekit::jws::ES256
        .generate_key_pair()
        .unwrap()
        .to_jwk_public_key();
    key.set_key_id(kid);
    serde_json::to_value(key.as_ref()).unwrap()
}

#[test]
fn duplicate_kids_are_refused() {
    let err = validate_jwks(&jwks(serde_json::json!([es256("a"), es256("a")]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid JWK Set: key 2 (kid a) cannot be used: another key of the set has the same kid"
    );
    assert!(validate_jwks(&jwks(serde_json::json!([es256("a"), es256("b")]))).is_ok());
}

#[test]
fn a_fetched_set_keeps_its_usable_keys() {
    let mut enc = es256("enc-1");
    enc["use"] = serde_json::json!("enc");
    let text = jwks(serde_json::json!([enc, es256("sig-1")]));
    assert!(validate_jwks(&text).is_err());
    let (set, dropped) = usable_jwks(&text).unwrap();
    let set: serde_json::Value = serde_json::from_str(&set).unwrap();
    assert_eq!(set["keys"].as_array().unwrap().len(), 1);
    assert_eq!(set["keys"][0]["kid"], "sig-1");
    assert_eq!(
        dropped,
        ["invalid JWK Set: key 1 (kid enc-1) cannot be used: its use is not sig; only signing keys verify assertions"]
    );
    let mut only_enc = es256("enc-1");
    only_enc["use"] = serde_json::json!("enc");
    assert!(usable_jwks(&jwks(serde_json::json!([only_enc]))).is_err());
}
