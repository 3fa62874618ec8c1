use super::*;
use crate::oauth::request::{ResponseMode, ResponseTarget};
use crate::store::users::UserRow;

fn client(skip_consent: bool) -> Client {
    Client {
        grant_types: vec!["authorization_code".into()],
        allowed_scopes: vec!["openid".into(), "email".into()],
        skip_consent,
        ..crate::clients::example_client()
    }
}

fn request() -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: "c1".into(),
        target: ResponseTarget {
            redirect_uri: "https://app.example.com/cb".into(),
            response_mode: ResponseMode::Query,
            state: None,
        },
        scopes: vec!["openid".into(), "email".into()],
        nonce: None,
        code_challenge: None,
        prompt_none: false,
        prompt_login: false,
        prompt_consent: false,
        max_age: None,
        login_hint: None,
        acr_values: vec![],
        claims: None,
        ui_locales: None,
        authenticated_sid: None,
        hint_sub: None,
    }
}

fn session(auth_time: i64) -> ActiveSession {
    ActiveSession {
        id_hash: "h".into(),
        sid: "sid".into(),
        user: UserRow {
            id: "u1".into(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: false,
            password_hash: None,
            display_name: None,
            disabled: false,
            locked_until: None,
            failed_logins: 0,
            created_at: 0,
            updated_at: 0,
            signup_pending: false,
        },
        auth_time,
        amr: vec!["pwd".into()],
        created_at: auth_time,
    }
}

const NOW: i64 = 1_000_000;

/// `decide` at `NOW` where no second factor comes into it (`SecondStep::None`).
fn decide_one_factor(
    req: &AuthorizationRequest,
    session: Option<&ActiveSession>,
    client: &Client,
    consented: &[String],
) -> Result<Next, OAuthError> {
    decide(req, session, client, consented, SecondStep::None, NOW)
}

#[test]
fn no_session_means_login_or_login_required() {
    assert_eq!(
        decide_one_factor(&request(), None, &client(false), &[]).unwrap(),
        Next::Login
    );
    let none = AuthorizationRequest {
        prompt_none: true,
        ..request()
    };
    assert_eq!(
        decide_one_factor(&none, None, &client(false), &[])
            .unwrap_err()
            .code,
        ErrorCode::LoginRequired
    );
}

#[test]
fn consent_is_asked_only_for_new_scopes_unless_forced_or_first_party() {
    let s = session(NOW);
    let all: Vec<String> = vec!["openid".into(), "email".into()];
    assert_eq!(
        decide_one_factor(&request(), Some(&s), &client(false), &[]).unwrap(),
        Next::Consent
    );
    assert_eq!(
        decide_one_factor(&request(), Some(&s), &client(false), &all).unwrap(),
        Next::IssueCode
    );
    assert_eq!(
        decide_one_factor(&request(), Some(&s), &client(false), &all[..1]).unwrap(),
        Next::Consent
    );
    let forced = AuthorizationRequest {
        prompt_consent: true,
        ..request()
    };
    assert_eq!(
        decide_one_factor(&forced, Some(&s), &client(false), &all).unwrap(),
        Next::Consent
    );
    assert_eq!(
        decide_one_factor(&forced, Some(&s), &client(true), &[]).unwrap(),
        Next::IssueCode
    );
    let none = AuthorizationRequest {
        prompt_none: true,
        ..request()
    };
    assert_eq!(
        decide_one_factor(&none, Some(&s), &client(false), &[])
            .unwrap_err()
            .code,
        ErrorCode::ConsentRequired
    );
}

#[test]
fn prompt_login_and_max_age_need_a_fresh_sign_in() {
    let old = session(NOW - 600);
    let login = AuthorizationRequest {
        prompt_login: true,
        ..request()
    };
    assert_eq!(
        decide_one_factor(&login, Some(&old), &client(true), &[]).unwrap(),
        Next::Login
    );
    // Resumed after the sign-in made for this request: satisfied.
    let fresh = session(NOW - 5);
    let signed_in = AuthorizationRequest {
        authenticated_sid: Some("sid".into()),
        ..login.clone()
    };
    assert_eq!(
        decide_one_factor(&signed_in, Some(&fresh), &client(true), &[]).unwrap(),
        Next::IssueCode
    );
    // Another session, however new, does not count.
    let other = AuthorizationRequest {
        authenticated_sid: Some("other".into()),
        ..login.clone()
    };
    assert_eq!(
        decide_one_factor(&other, Some(&fresh), &client(true), &[]).unwrap(),
        Next::Login
    );
    let max_age = AuthorizationRequest {
        max_age: Some(300),
        ..request()
    };
    assert_eq!(
        decide_one_factor(&max_age, Some(&old), &client(true), &[]).unwrap(),
        Next::Login
    );
    assert_eq!(
        decide_one_factor(&max_age, Some(&fresh), &client(true), &[]).unwrap(),
        Next::IssueCode
    );
    let none_old = AuthorizationRequest {
        prompt_none: true,
        max_age: Some(300),
        ..request()
    };
    assert_eq!(
        decide_one_factor(&none_old, Some(&old), &client(true), &[])
            .unwrap_err()
            .code,
        ErrorCode::LoginRequired
    );
}

#[test]
fn claims_requested_by_name_need_consent_for_their_scope() {
    let s = session(NOW);
    let req = AuthorizationRequest {
        scopes: vec!["openid".into()],
        claims: Some(serde_json::json!({ "userinfo": { "email": { "essential": true } } })),
        ..request()
    };
    let only_openid: Vec<String> = vec!["openid".into()];
    assert_eq!(
        decide_one_factor(&req, Some(&s), &client(false), &only_openid).unwrap(),
        Next::Consent
    );
    let with_email: Vec<String> = vec!["openid".into(), "email".into()];
    assert_eq!(
        decide_one_factor(&req, Some(&s), &client(false), &with_email).unwrap(),
        Next::IssueCode
    );
}

fn essential_acr(values: serde_json::Value) -> AuthorizationRequest {
    AuthorizationRequest {
        claims: Some(serde_json::json!({ "id_token": { "acr": {
            "essential": true, "values": values } } })),
        ..request()
    }
}

#[test]
fn acr_values_is_a_preference_and_only_an_essential_acr_demands() {
    let voluntary = AuthorizationRequest {
        acr_values: vec![crate::mfa::ACR_MFA.into()],
        ..request()
    };
    assert_eq!(voluntary.acr_demand(), AcrDemand::Nothing);
    assert_eq!(voluntary.essential_acr(), None);
    let strict = essential_acr(serde_json::json!([crate::mfa::ACR_MFA]));
    assert_eq!(strict.acr_demand(), AcrDemand::SecondFactor);
    let single = AuthorizationRequest {
        claims: Some(serde_json::json!({ "id_token": { "acr": {
            "essential": true, "value": crate::mfa::ACR_MFA } } })),
        ..request()
    };
    assert_eq!(single.acr_demand(), AcrDemand::SecondFactor);
    let not_essential = AuthorizationRequest {
        claims: Some(serde_json::json!({ "id_token": { "acr": {
            "values": [crate::mfa::ACR_MFA] } } })),
        ..request()
    };
    assert_eq!(not_essential.acr_demand(), AcrDemand::Nothing);
    assert_eq!(
        essential_acr(serde_json::json!(crate::mfa::ACR_MFA)).acr_demand(),
        AcrDemand::SecondFactor
    );
    for unknown in [
        serde_json::json!(["urn:other"]),
        serde_json::json!([7]),
        serde_json::json!({ "a": 1 }),
    ] {
        assert_eq!(
            essential_acr(unknown.clone()).acr_demand(),
            AcrDemand::Unmeetable,
            "{unknown}"
        );
    }
}

#[test]
fn an_essential_acr_nobody_can_meet_fails_signed_in_or_not() {
    let req = essential_acr(serde_json::json!(["urn:other"]));
    let s = session(NOW);
    for session in [None, Some(&s)] {
        assert_eq!(
            decide_one_factor(&req, session, &client(true), &[])
                .unwrap_err()
                .code,
            ErrorCode::UnmetAuthenticationRequirements
        );
    }
}

#[test]
fn a_missing_second_factor_steps_up_or_answers_prompt_none_by_what_the_user_has() {
    let s = session(NOW);
    let none = AuthorizationRequest {
        prompt_none: true,
        ..request()
    };
    for second in [SecondStep::Ask, SecondStep::Enrol, SecondStep::Unavailable] {
        assert_eq!(
            decide(&request(), Some(&s), &client(true), &[], second, NOW).unwrap(),
            Next::SecondFactor
        );
    }
    assert_eq!(
        decide(&none, Some(&s), &client(true), &[], SecondStep::Ask, NOW)
            .unwrap_err()
            .code,
        ErrorCode::LoginRequired
    );
    for second in [SecondStep::Enrol, SecondStep::Unavailable] {
        assert_eq!(
            decide(&none, Some(&s), &client(true), &[], second, NOW)
                .unwrap_err()
                .code,
            ErrorCode::UnmetAuthenticationRequirements
        );
    }
    // A session with its second factor goes on.
    let with_mfa = ActiveSession {
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        ..session(NOW)
    };
    assert_eq!(
        decide(
            &none,
            Some(&with_mfa),
            &client(true),
            &[],
            SecondStep::Unavailable,
            NOW
        )
        .unwrap(),
        Next::IssueCode
    );
}
