//! Fresh authentication means the first factor too: a step-up (a second factor added to an
//! existing session through `/login/mfa/start`) answers no `prompt=login` or `max_age`,
//! keeps the session's `auth_time`, and does not make the sign-in recent.

use diesel::prelude::*;
use portcullis::clients::NewClient;
use portcullis::store::schema::sessions;
use serde_json::{json, Value};

use crate::flow::*;
use crate::helpers::{location, spawn_app_on_localhost, spawn_app_with, TestApp};
use crate::mfa_support::*;

/// A client that demands a second factor for every sign-in made for it.
async fn strict_client(app: &TestApp) -> RpClient {
    register(
        app,
        NewClient {
            name: "Strict App".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into()],
            require_mfa: true,
            ..NewClient::default()
        },
    )
    .await
}

/// The signed-in browser's session `auth_time`, after moving it `back` seconds into the past.
pub async fn age_session(app: &TestApp, back: i64) -> i64 {
    app.db(move |c| {
        diesel::update(sessions::table)
            .set(sessions::auth_time.eq(sessions::auth_time - back))
            .execute(c)?;
        Ok(sessions::table.select(sessions::auth_time).first(c)?)
    })
    .await
}

/// Follows an authorization request into the step-up and through the second factor;
/// returns the `/authorize/continue` response that follows.
async fn step_up(app: &TestApp, params: &[(String, String)], secret: &str) -> reqwest::Response {
    let resp = app.get(&authorize_path(params)).await;
    let loc = location(&resp);
    let start = match loc.strip_prefix("/login?request=") {
        // prompt=login / max_age: the login page. Whoever holds the browser skips it.
        Some(request) => format!("/login/mfa/start?request={request}"),
        None => loc,
    };
    assert!(start.starts_with("/login/mfa/start?request="), "{start}");
    assert_eq!(location(&app.get(&start).await), "/login/mfa");
    let resp = second_step(app, "totp", &code_at(secret, now() + 30)).await;
    assert_eq!(resp.status(), 303);
    let cont = location(&resp);
    assert!(cont.starts_with("/authorize/continue?request="), "{cont}");
    app.get(&cont).await
}

#[tokio::test]
async fn prompt_login_through_the_step_up_entry_still_needs_the_password() {
    let app = spawn_app_with(|f| f).await;
    let client = strict_client(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let params = auth_params(&client, &[("prompt", "login")]);
    let resp = step_up(&app, &params, &secret).await;
    assert_eq!(resp.status(), 303);
    let loc = location(&resp);
    assert!(
        loc.starts_with("/login?request="),
        "back to the password: {loc}"
    );
    assert!(!loc.starts_with(REDIRECT));
}

#[tokio::test]
async fn max_age_through_the_step_up_entry_still_needs_the_password() {
    let app = spawn_app_with(|f| f).await;
    let client = strict_client(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    age_session(&app, 600).await;
    let params = auth_params(&client, &[("max_age", "60")]);
    let resp = step_up(&app, &params, &secret).await;
    let loc = location(&resp);
    assert!(
        loc.starts_with("/login?request="),
        "back to the password: {loc}"
    );
}

#[tokio::test]
async fn auth_time_after_a_step_up_is_the_time_of_the_password() {
    let app = spawn_app_with(|f| f).await;
    let client = strict_client(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    let signed_in_at = age_session(&app, 600).await;
    let resp = step_up(&app, &auth_params(&client, &[]), &secret).await;
    let resp = through_consent(&app, resp).await;
    let code = param(&redirect_params(&resp), "code")
        .expect("a code")
        .to_owned();
    let tokens: Value = exchange(&app, &client, &code, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    let claims = verify_jwt(&app, tokens["id_token"].as_str().unwrap())
        .await
        .1;
    assert_eq!(claims["auth_time"], json!(signed_in_at));
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    let now_auth_time: i64 = app
        .db(|c| Ok(sessions::table.select(sessions::auth_time).first(c)?))
        .await;
    assert_eq!(now_auth_time, signed_in_at);
}

#[tokio::test]
async fn adding_a_factor_right_after_a_step_up_of_an_old_session_needs_the_password() {
    let app = spawn_app_on_localhost().await;
    let client = strict_client(&app).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    age_session(&app, 600).await;
    let resp = step_up(&app, &auth_params(&client, &[]), &secret).await;
    assert_eq!(resp.status(), 303);
    let csrf = app.csrf_token().await;
    let begin = |body: Value| {
        app.client
            .post(app.url("/account/passkeys/register/begin"))
            .header("X-CSRF-Token", csrf.clone())
            .json(&body)
            .send()
    };
    let resp = begin(json!({})).await.unwrap();
    assert_eq!(
        resp.status(),
        400,
        "the second factor alone is not a recent sign-in"
    );
    let resp = begin(json!({ "current_password": crate::helpers::PASSWORD }))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
