//! `acr_values` is a preference list (OIDC Core §3.1.2.1): it never refuses a user who has
//! no second factor, and the ID token says the `acr` actually achieved. Only an essential
//! `acr` (the `claims` parameter, §5.5.1.1), the client or configuration make a second
//! factor compulsory; with `prompt=none` an unmeetable demand is
//! `unmet_authentication_requirements` (OpenID Connect Unmet Authentication Requirements 1.0).

use crate::flow::*;
use crate::helpers::{location, spawn_app, TestApp, PASSWORD};
use crate::mfa_support::*;
use crate::step_up::{
    assert_set_up_first, essential, finish_with_code, id_token_claims, password_for_request,
    step_up_start, strict_client, LOA1, LOA2,
};

const UNMET: &str = "unmet_authentication_requirements";

/// The same with the single-value form.
fn essential_value(value: &str) -> String {
    serde_json::json!({ "id_token": { "acr": { "essential": true, "value": value } } }).to_string()
}

/// The redirect's error, with nothing issued.
async fn redirected_error(app: &TestApp, params: &[(String, String)]) -> String {
    let resp = app.get(&authorize_path(params)).await;
    assert_eq!(resp.status(), 303);
    let params = redirect_params(&resp);
    assert!(param(&params, "code").is_none());
    assert_eq!(param(&params, "state"), Some("state-123"));
    param(&params, "error").expect("an error").to_owned()
}

#[tokio::test]
async fn acr_values_listing_both_levels_succeeds_at_loa_1_without_a_second_factor() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    let both = format!("{LOA1} {LOA2}");
    let resp = sign_in_and_authorize(
        &app,
        &auth_params(&client, &[("acr_values", &both)]),
        "alice",
        PASSWORD,
    )
    .await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA1);
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

#[tokio::test]
async fn a_voluntary_loa_2_without_a_second_factor_succeeds_at_loa_1_even_with_prompt_none() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    let resp = sign_in_and_authorize(
        &app,
        &auth_params(&client, &[("acr_values", LOA2)]),
        "alice",
        PASSWORD,
    )
    .await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA1);
    assert!(app.cookie("portcullis_mfa").is_none());

    // Consent is remembered now: prompt=none gets a code at loa:1 too.
    let params = auth_params(&client, &[("acr_values", LOA2), ("prompt", "none")]);
    let resp = app.get(&authorize_path(&params)).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA1);
}

#[tokio::test]
async fn a_voluntary_loa_2_steps_up_a_user_who_has_a_second_factor() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    // The password-only session that set the app up is stepped up, not refused.
    let start = step_up_start(&app, &auth_params(&client, &[("acr_values", LOA2)])).await;
    assert_eq!(location(&app.get(&start).await), "/login/mfa");
    let resp = finish_with_code(&app, &code_at(&secret, now() + 30)).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA2);

    // And from a fresh sign-in: asked for the code after the password.
    sign_out(&app).await;
    let params = auth_params(&client, &[("acr_values", &format!("{LOA2} {LOA1}"))]);
    let resp = password_for_request(&app, &params).await;
    assert_eq!(location(&resp), "/login/mfa");
}

#[tokio::test]
async fn an_essential_loa_2_without_a_second_factor_is_unmet_with_prompt_none_and_refused_otherwise(
) {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    // Consent first, so that only the acr can stand in the way.
    let resp = sign_in_and_authorize(&app, &auth_params(&client, &[]), "alice", PASSWORD).await;
    assert!(param(&redirect_params(&resp), "code").is_some());

    for claims in [essential(&[LOA2]), essential_value(LOA2)] {
        let params = auth_params(&client, &[("claims", &claims), ("prompt", "none")]);
        assert_eq!(redirected_error(&app, &params).await, UNMET, "{claims}");
        let start = step_up_start(&app, &auth_params(&client, &[("claims", &claims)])).await;
        assert_set_up_first(app.get(&start).await).await;
    }
    // Essential, but satisfied by one factor: a code at loa:1.
    let params = auth_params(
        &client,
        &[("claims", &essential(&[LOA2, LOA1])), ("prompt", "none")],
    );
    let resp = app.get(&authorize_path(&params)).await;
    assert_eq!(id_token_claims(&app, &client, &resp).await["acr"], LOA1);
}

#[tokio::test]
async fn an_essential_acr_with_only_unknown_values_is_unmet() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let unknown = essential(&["urn:example:loa:9", "phr"]);
    // Nobody signed in, interactive or not: no sign-in could meet it.
    for prompt in ["none", ""] {
        let params = auth_params(&client, &[("claims", &unknown), ("prompt", prompt)]);
        assert_eq!(redirected_error(&app, &params).await, UNMET, "{prompt}");
    }
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let params = auth_params(&client, &[("claims", &unknown), ("prompt", "none")]);
    assert_eq!(redirected_error(&app, &params).await, UNMET);
    let pending: i64 = app
        .db(|c| {
            use diesel::prelude::*;
            Ok(portcullis::store::schema::authorization_requests::table
                .count()
                .get_result(c)?)
        })
        .await;
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn a_client_that_requires_mfa_is_unmet_with_prompt_none_for_a_user_without_one() {
    let app = spawn_app().await;
    let strict = strict_client(&app).await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let params = auth_params(&strict, &[("prompt", "none")]);
    assert_eq!(redirected_error(&app, &params).await, UNMET);
    // A voluntary loa:1 preference does not loosen the client's rule.
    let params = auth_params(&strict, &[("prompt", "none"), ("acr_values", LOA1)]);
    assert_eq!(redirected_error(&app, &params).await, UNMET);
}

#[tokio::test]
async fn an_essential_loa_1_met_with_two_factors_reports_loa_1_and_amr_says_what_happened() {
    let app = spawn_app().await;
    let client = confidential(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    let params = auth_params(&client, &[("claims", &essential(&[LOA1]))]);
    let resp = password_for_request(&app, &params).await;
    assert_eq!(location(&resp), "/login/mfa");
    let resp = finish_with_code(&app, &code_at(&secret, now() + 30)).await;
    let claims = id_token_claims(&app, &client, &resp).await;
    assert_eq!(claims["acr"], LOA1);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}
