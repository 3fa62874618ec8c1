use super::*;

fn client(public: bool) -> Client {
    Client {
        token_endpoint_auth_method: if public {
            "none"
        } else {
            "client_secret_basic"
        }
        .into(),
        is_public: public,
        ..crate::clients::example_client()
    }
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn params(extra: &[(&str, &str)]) -> Params {
    let mut pairs: Vec<(String, String)> = vec![
        ("client_id".into(), "c1".into()),
        ("redirect_uri".into(), "https://app.example.com/cb".into()),
        ("response_type".into(), "code".into()),
        ("scope".into(), "openid email".into()),
        ("state".into(), "xyz".into()),
        ("code_challenge".into(), CHALLENGE.into()),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k || v.is_empty());
        if !v.is_empty() {
            pairs.push(((*k).into(), (*v).into()));
        }
    }
    Params::new(pairs)
}

fn without(name: &str) -> Params {
    let p = params(&[]);
    Params::new(p.0.into_iter().filter(|(k, _)| k != name).collect())
}

fn redirect_error(
    result: Result<AuthorizationRequest, RequestError>,
) -> (ResponseTarget, ErrorCode) {
    match result {
        Err(RequestError::Redirect(target, e)) => (target, e.code),
        other => panic!("expected a redirect error, got {other:?}"),
    }
}

#[test]
fn a_good_request_validates() {
    let req = validate(&params(&[("nonce", "n-1")]), &client(true)).unwrap();
    assert_eq!(req.scopes, ["openid", "email"]);
    assert_eq!(req.target.state.as_deref(), Some("xyz"));
    assert_eq!(req.code_challenge.as_deref(), Some(CHALLENGE));
    assert!(req.is_openid());
}

#[test]
fn client_and_redirect_problems_never_redirect() {
    assert!(matches!(
        client_id(&without("client_id")),
        Err(RequestError::Page(_))
    ));
    let mut pairs = params(&[]).0;
    pairs.push(("client_id".into(), "c2".into()));
    assert!(matches!(
        client_id(&Params::new(pairs)),
        Err(RequestError::Page(_))
    ));
    for uri in [
        "https://app.example.com/cb/extra",
        "https://app.example.com/c",
        "https://app.example.com/cb?x=1",
        "https://APP.example.com/cb",
        "https://evil.example/cb",
    ] {
        assert!(
            matches!(
                validate(&params(&[("redirect_uri", uri)]), &client(false)),
                Err(RequestError::Page(_))
            ),
            "{uri}"
        );
    }
    assert!(matches!(
        validate(&without("redirect_uri"), &client(false)),
        Err(RequestError::Page(_))
    ));
}

#[test]
fn protocol_errors_redirect_with_the_right_code() {
    let c = client(false);
    assert_eq!(
        redirect_error(validate(&params(&[("response_type", "token")]), &c)).1,
        ErrorCode::UnsupportedResponseType
    );
    assert_eq!(
        redirect_error(validate(&without("response_type"), &c)).1,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        redirect_error(validate(&params(&[("scope", "openid admin")]), &c)).1,
        ErrorCode::InvalidScope
    );
    assert_eq!(
        redirect_error(validate(&params(&[("code_challenge_method", "plain")]), &c)).1,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        redirect_error(validate(&params(&[("prompt", "none login")]), &c)).1,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        redirect_error(validate(&params(&[("max_age", "-1")]), &c)).1,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        redirect_error(validate(&params(&[("claims", "[1]")]), &c)).1,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        redirect_error(validate(&params(&[("request", "eyJ...")]), &c)).1,
        ErrorCode::RequestNotSupported
    );
    assert_eq!(
        redirect_error(validate(&params(&[("response_mode", "fragment")]), &c)).1,
        ErrorCode::InvalidRequest
    );
    let long_scope = "a".repeat(10_000);
    assert_eq!(
        redirect_error(validate(&params(&[("scope", &long_scope)]), &c)).1,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn a_repeated_parameter_is_an_error_and_a_repeated_state_is_not_echoed() {
    let mut pairs = params(&[]).0;
    pairs.push(("scope".into(), "openid".into()));
    let (target, code) = redirect_error(validate(&Params::new(pairs), &client(false)));
    assert_eq!(code, ErrorCode::InvalidRequest);
    assert_eq!(target.state.as_deref(), Some("xyz"));
    let mut pairs = params(&[]).0;
    pairs.push(("state".into(), "other".into()));
    pairs.push(("response_type".into(), "code".into()));
    let (target, _) = redirect_error(validate(&Params::new(pairs), &client(false)));
    assert_eq!(target.state, None);
}

#[test]
fn pkce_is_required_for_public_clients_and_checked_when_sent() {
    let no_pkce = Params::new(
        params(&[])
            .0
            .into_iter()
            .filter(|(k, _)| !k.starts_with("code_challenge"))
            .collect(),
    );
    assert_eq!(
        redirect_error(validate(&no_pkce, &client(true))).1,
        ErrorCode::InvalidRequest
    );
    assert!(
        validate(&no_pkce, &client(false)).is_ok(),
        "optional for confidential clients"
    );
    assert_eq!(
        redirect_error(validate(&without("code_challenge_method"), &client(false))).1,
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        redirect_error(validate(
            &params(&[("code_challenge", "short")]),
            &client(false)
        ))
        .1,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn a_long_state_survives_unchanged_and_unknown_parameters_are_ignored() {
    let state: String = "s~!*'()0123456789abcdef".repeat(60);
    let req = validate(
        &params(&[("state", &state), ("frobnicate", "1")]),
        &client(false),
    )
    .unwrap();
    assert_eq!(req.target.state.as_deref(), Some(state.as_str()));
}

#[test]
fn prompt_and_claims_are_parsed() {
    let req = validate(
        &params(&[
            ("prompt", "login consent"),
            (
                "claims",
                r#"{"id_token":{"email":{"essential":true}},"userinfo":{"name":null}}"#,
            ),
        ]),
        &client(false),
    )
    .unwrap();
    assert!(req.prompt_login && req.prompt_consent && !req.prompt_none);
    assert_eq!(req.claims.unwrap()["id_token"]["email"]["essential"], true);
    assert!(
        validate(&params(&[("prompt", "select_account")]), &client(false))
            .unwrap()
            .prompt_login
    );
}

#[test]
fn every_redirected_error_description_is_in_the_rfc_6749_charset() {
    let long = "x".repeat(5000);
    let cases: Vec<Params> = vec![
        params(&[("response_type", "token \"x\"")]),
        without("response_type"),
        params(&[("scope", "openid admin")]),
        params(&[("scope", "openid \"quoted\"")]),
        params(&[("scope", "openid caf\u{e9}")]),
        params(&[("code_challenge_method", "plain")]),
        params(&[("code_challenge_method", "S512")]),
        params(&[("code_challenge", "short")]),
        without("code_challenge"),
        params(&[("prompt", "login \"x\\y\" \u{e9}\u{1}")]),
        params(&[("prompt", "none login")]),
        params(&[("max_age", "-1")]),
        params(&[("claims", "[1]")]),
        params(&[("claims", r#"{"userinfo":{"email":1}}"#)]),
        params(&[("request", "eyJ...")]),
        params(&[("request_uri", "https://x/\"")]),
        params(&[("response_mode", "fragment\"")]),
        params(&[("state", &long)]),
        params(&[("nonce", &long)]),
    ];
    for (i, p) in cases.iter().enumerate() {
        let Err(RequestError::Redirect(_, e)) = validate(p, &client(false)) else {
            panic!("case {i} does not redirect an error");
        };
        crate::oauth::error::tests::assert_rfc_6749_charset(&e);
    }
    let mut repeated = params(&[]).0;
    repeated.push(("scope".into(), "openid".into()));
    let Err(RequestError::Redirect(_, e)) = validate(&Params::new(repeated), &client(false)) else {
        panic!("a repeated parameter redirects");
    };
    crate::oauth::error::tests::assert_rfc_6749_charset(&e);
    let e = scope::check_allowed(&["a\"b".into()], &[]).unwrap_err();
    crate::oauth::error::tests::assert_rfc_6749_charset(&e);
    assert_eq!(e.description(), "scope a'b is not allowed for this client");
}
