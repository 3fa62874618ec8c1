//! Second factors in authorization flows: nobody gets a code with the password alone,
//! `amr`/`acr` say what happened, and an essential `acr`, `max_age`, clients, roles and
//! configuration demand a second factor (step-up). `acr_values` alone is only a preference:
//! see acr.rs.

use portcullis::clients::NewClient;

use crate::flow::*;
use crate::helpers::{form_value, location, spawn_app, spawn_app_with, TestApp, PASSWORD};
use crate::mfa_support::*;

pub const LOA1: &str = "urn:portcullis:loa:1";
pub const LOA2: &str = "urn:portcullis:loa:2";

/// From the sign-in the flow leads to (password already posted) through the second step
/// and consent; returns the redirect to the client.
pub async fn finish_with_code(app: &TestApp, code: &str) -> reqwest::Response {
    let resp = second_step(app, "totp", code).await;
    assert_eq!(resp.status(), 303);
    let cont = location(&resp);
    assert!(cont.starts_with("/authorize/continue?request="), "{cont}");
    through_consent(app, app.get(&cont).await).await
}

/// Starts an authorization request and posts the password on the login page it leads to.
pub async fn password_for_request(app: &TestApp, params: &[(String, String)]) -> reqwest::Response {
    let resp = app.get(&authorize_path(params)).await;
    assert_eq!(resp.status(), 303);
    let loc = location(&resp);
    assert!(loc.starts_with("/login?request="), "{loc}");
    let page = app.get(&loc).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    let request = form_value(&page, "request").unwrap();
    app.post_form(
        "/login",
        &[
            ("csrf_token", &csrf),
            ("username", "alice"),
            ("password", PASSWORD),
            ("request", &request),
        ],
    )
    .await
}

/// Starts an authorization request that a signed-in user must step up for; returns the
/// step-up entry point it redirects to.
pub async fn step_up_start(app: &TestApp, params: &[(String, String)]) -> String {
    let resp = app.get(&authorize_path(params)).await;
    let start = location(&resp);
    assert!(start.starts_with("/login/mfa/start?request="), "{start}");
    start
}

pub async fn id_token_claims(
    app: &TestApp,
    client: &RpClient,
    resp: &reqwest::Response,
) -> serde_json::Map<String, serde_json::Value> {
    let code = param(&redirect_params(resp), "code")
        .expect("a code")
        .to_owned();
    let tokens: serde_json::Value = exchange(app, client, &code, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    verify_jwt(app, tokens["id_token"].as_str().unwrap())
        .await
        .1
}

#[tokio::test]
async fn with_totp_the_id_token_says_pwd_otp_mfa_and_loa_2() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;

    let resp = password_for_request(&app, &auth_params(&client, &[])).await;
    assert_eq!(location(&resp), "/login/mfa");
    let resp = finish_with_code(&app, &code_at(&secret, now() + 30)).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], LOA2);
}

#[tokio::test]
async fn with_the_password_alone_the_id_token_says_pwd_and_loa_1() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    let resp = sign_in_and_authorize(&app, &auth_params(&client, &[]), "alice", PASSWORD).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], LOA1);
    let meta: serde_json::Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["acr_values_supported"],
        serde_json::json!([LOA1, LOA2])
    );
}

#[tokio::test]
async fn with_only_the_password_posting_straight_to_consent_or_continue_gets_no_code() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let (_, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    let params = auth_params(&client, &[]);
    let resp = app.get(&authorize_path(&params)).await;
    let request = location(&resp)
        .trim_start_matches("/login?request=")
        .to_owned();
    let resp = sign_in_for_request(&app, &request, "alice", PASSWORD).await;
    assert_eq!(location(&resp), "/login/mfa");

    // Straight to the continuation, the consent page and its POST: back to sign-in.
    let resp = app
        .get(&format!("/authorize/continue?request={request}"))
        .await;
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).starts_with("/login?request="),
        "{}",
        location(&resp)
    );
    let resp = app.get(&format!("/consent?request={request}")).await;
    assert_eq!(resp.status(), 303);
    assert!(!location(&resp).starts_with(REDIRECT));
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form(
            "/consent",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert!(
        !location(&resp).starts_with(REDIRECT),
        "{}",
        location(&resp)
    );
    // The step-up entry point needs a session, which the password alone did not give.
    let resp = app
        .get(&format!("/login/mfa/start?request={request}"))
        .await;
    assert!(location(&resp).starts_with("/login?request="));
    let codes: i64 = app
        .db(|c| {
            use diesel::prelude::*;
            Ok(portcullis::store::schema::authorization_codes::table
                .count()
                .get_result(c)?)
        })
        .await;
    assert_eq!(codes, 0);
}

/// The refusal for a request that needs a second factor the account does not have.
pub async fn assert_set_up_first(resp: reqwest::Response) {
    assert_eq!(resp.status(), 403);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Set up a second sign-in step first"),
        "{page}"
    );
    assert!(
        !page.contains("name=\"code\""),
        "no set-up inside this sign-in: {page}"
    );
}

/// The `claims` parameter asking for an essential `acr` among `values` (OIDC Core §5.5.1.1).
pub fn essential(values: &[&str]) -> String {
    serde_json::json!({ "id_token": { "acr": { "essential": true, "values": values } } })
        .to_string()
}

#[tokio::test]
async fn an_essential_acr_loa_2_without_a_second_factor_sends_the_user_to_set_one_up_first() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    assert_eq!(location(&app.login("alice", PASSWORD).await), "/");

    // Whoever holds only the password must not get to choose the "second" factor here.
    let claims = essential(&[LOA2]);
    let params = auth_params(&client, &[("claims", &claims)]);
    let start = step_up_start(&app, &params).await;
    assert_set_up_first(app.get(&start).await).await;
    assert!(app.cookie("portcullis_mfa").is_none());

    // Set up on the account page (a recent sign-in needs no password), then step up.
    fresh_step().await;
    let (secret, codes) = enrol_totp_at(&app, now()).await;
    assert_eq!(codes.len(), 10);
    let start = step_up_start(&app, &params).await;
    assert_eq!(location(&app.get(&start).await), "/login/mfa");
    let resp = finish_with_code(&app, &code_at(&secret, now() + 30)).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA2);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn a_session_from_before_totp_was_set_up_is_asked_for_the_code() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    // Still the password-only session that set the app up.
    let start = step_up_start(&app, &auth_params(&client, &[])).await;
    assert_eq!(location(&app.get(&start).await), "/login/mfa");
    let resp = finish_with_code(&app, &code_at(&secret, now() + 30)).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA2);
}

#[tokio::test]
async fn prompt_none_without_the_needed_second_factor_is_unmet_or_login_required() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    // A factor the user does not have cannot be met (OpenID Connect Unmet Authentication
    // Requirements 1.0)...
    let claims = essential(&[LOA2]);
    let params = auth_params(&client, &[("claims", &claims), ("prompt", "none")]);
    let resp = app.get(&authorize_path(&params)).await;
    let params = redirect_params(&resp);
    assert_eq!(
        param(&params, "error"),
        Some("unmet_authentication_requirements")
    );

    // ...one the user has but this session did not use needs a sign-in.
    let app = spawn_app().await;
    let client = confidential(&app).await;
    user_with_totp(&app, "alice").await;
    for extra in [
        vec![("claims", claims.as_str())],
        vec![("acr_values", LOA2)],
    ] {
        let mut extra = extra;
        extra.push(("prompt", "none"));
        let resp = app
            .get(&authorize_path(&auth_params(&client, &extra)))
            .await;
        let params = redirect_params(&resp);
        assert_eq!(param(&params, "error"), Some("login_required"), "{extra:?}");
    }
}

#[tokio::test]
async fn max_age_exceeded_asks_for_the_password_and_the_code_again() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    password_step(&app, "alice").await;
    assert_eq!(
        second_step(&app, "totp", &code_at(&secret, now() + 30))
            .await
            .status(),
        303
    );
    // Make the session old.
    app.db(|c| {
        use diesel::prelude::*;
        use portcullis::store::schema::sessions as s;
        diesel::update(s::table)
            .set(s::auth_time.eq(s::auth_time - 600))
            .execute(c)?;
        Ok(())
    })
    .await;
    let resp = password_for_request(&app, &auth_params(&client, &[("max_age", "60")])).await;
    assert_eq!(location(&resp), "/login/mfa");
    // As if the next 30-second step had come (a step is accepted only once).
    app.db(|c| {
        use diesel::prelude::*;
        use portcullis::store::schema::totp_credentials as t;
        diesel::update(t::table)
            .set(t::last_step.eq(0_i64))
            .execute(c)?;
        Ok(())
    })
    .await;
    let resp = finish_with_code(&app, &code_at(&secret, now())).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA2);
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!(now() as i64 - auth_time < 60, "a fresh authentication");
}

/// The page a user who must have a second factor (and has none) sees after the password.
async fn led_to_enrolment(app: &TestApp, params: &[(String, String)]) {
    let resp = password_for_request(app, params).await;
    assert_eq!(location(&resp), "/login/mfa");
    assert!(app.cookie("portcullis_session").is_none());
    let page = app.get("/login/mfa").await.text().await.unwrap();
    assert!(page.contains("Set up an authenticator app"), "{page}");
    assert!(page.contains("/login/mfa/enroll"));
}

/// A client registered with `--require-mfa`.
pub async fn strict_client(app: &TestApp) -> RpClient {
    register(
        app,
        NewClient {
            name: "Payroll".into(),
            redirect_uris: vec![REDIRECT.into()],
            require_mfa: true,
            ..NewClient::default()
        },
    )
    .await
}

#[tokio::test]
async fn a_client_that_requires_mfa_refuses_users_without_one_until_they_set_it_up() {
    let app = spawn_app().await;
    let strict = strict_client(&app).await;
    app.create_user("alice", PASSWORD).await;
    let resp = password_for_request(&app, &auth_params(&strict, &[])).await;
    assert_set_up_first(resp).await;
    assert!(app.cookie("portcullis_session").is_none());
    assert!(app.cookie("portcullis_mfa").is_none());
    // Signing in for anything else does not ask.
    let (browser, _) = app.new_browser();
    let resp = app.login_with(&browser, "alice", PASSWORD).await;
    assert_eq!(location(&resp), "/");
}

#[tokio::test]
async fn configuration_can_require_mfa_for_everyone_or_for_a_role() {
    let app = spawn_app_with(|f| f.merge(("mfa.required", true))).await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    led_to_enrolment(&app, &auth_params(&client, &[])).await;

    let app = spawn_app_with(|f| f.merge(("mfa.required_roles", vec!["super_admin"]))).await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    // Not an admin: the password is enough.
    let resp = sign_in_and_authorize(&app, &auth_params(&client, &[]), "alice", PASSWORD).await;
    assert!(param(&redirect_params(&resp), "code").is_some());
    sign_out(&app).await;
    app.grant_role("alice", "super_admin").await;
    led_to_enrolment(&app, &auth_params(&client, &[])).await;
}
