//! Attacks on the second step found in review; each must fail.

use diesel::prelude::*;
use portcullis::store::schema::{audit_events, login_sources, sessions};
use serde_json::{json, Value};

use crate::helpers::{
    form_value, location, spawn_app_on_localhost, spawn_app_with, TestApp, PASSWORD,
};
use crate::mfa_support::*;

async fn otp_failures(app: &TestApp) -> usize {
    let details: Vec<String> = app
        .db(|c| {
            Ok(audit_events::table
                .filter(audit_events::action.eq("login.failed"))
                .select(audit_events::detail)
                .load(c)?)
        })
        .await;
    details.iter().filter(|d| d.contains("\"otp\"")).count()
}

#[tokio::test]
async fn a_right_password_does_not_wipe_the_count_of_wrong_codes() {
    let app = spawn_app_with(|f| {
        f.merge(("lockout.account_threshold", 3))
            .merge(("mfa.max_code_attempts", 10))
    })
    .await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    password_step(&app, "alice").await;
    for _ in 0..2 {
        assert_eq!(second_step(&app, "totp", "000000").await.status(), 401);
    }
    // The password again: a new challenge, but the two wrong codes still count.
    password_step(&app, "alice").await;
    assert_eq!(second_step(&app, "totp", "000000").await.status(), 401);
    let resp = second_step(&app, "totp", &code_at(&secret, now() + 30)).await;
    assert_eq!(resp.status(), 401, "locked after three wrong codes");
    assert!(app.cookie("portcullis_session").is_none());
}

/// A browser of its own: signs in with the password and returns the set-up page it gets.
async fn enrolment_page(app: &TestApp, browser: &reqwest::Client) -> String {
    let resp = app.login_with(browser, "alice", PASSWORD).await;
    assert_eq!(location(&resp), "/login/mfa");
    browser
        .get(app.url("/login/mfa"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn enrol(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    code: &str,
) -> reqwest::Response {
    let csrf = form_value(page, "csrf_token").unwrap();
    browser
        .post(app.url("/login/mfa/enroll"))
        .form(&[("csrf_token", csrf.as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_set_up_begun_in_another_browser_is_never_shown_or_accepted_here() {
    let app = spawn_app_with(|f| f.merge(("mfa.required", true))).await;
    app.create_user("alice", PASSWORD).await;
    // Someone who knows only the password starts a set-up and notes the key...
    let (attacker, _) = app.new_browser();
    let attackers_page = enrolment_page(&app, &attacker).await;
    let attackers_key = secret_on(&attackers_page);
    // ...then alice signs in elsewhere: she gets a key of her own.
    let (alice, _) = app.new_browser();
    let alices_page = enrolment_page(&app, &alice).await;
    let alices_key = secret_on(&alices_page);
    assert_ne!(attackers_key, alices_key);
    fresh_step().await;
    let resp = enrol(&app, &alice, &alices_page, &code_at(&attackers_key, now())).await;
    assert_eq!(
        resp.status(),
        401,
        "the attacker's key does not confirm alice's set-up"
    );
    let resp = enrol(&app, &alice, &alices_page, &code_at(&alices_key, now())).await;
    assert_eq!(resp.status(), 200);
    // The attacker's set-up is gone with it.
    let resp = enrol(
        &app,
        &attacker,
        &attackers_page,
        &code_at(&attackers_key, now() + 30),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Sign in again"), "{page}");
}

#[tokio::test]
async fn wrong_codes_while_setting_up_during_sign_in_count_and_end_the_attempt() {
    let app = spawn_app_with(|f| {
        f.merge(("mfa.required", true))
            .merge(("mfa.max_code_attempts", 2))
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let page = enrolment_page(&app, &app.client).await;
    let resp = enrol(&app, &app.client, &page, "000000").await;
    assert_eq!(resp.status(), 401);
    let resp = enrol(&app, &app.client, &page, "000001").await;
    assert_eq!(resp.status(), 401);
    assert!(resp.text().await.unwrap().contains("Sign in again"));
    assert_eq!(otp_failures(&app).await, 2);
    let resp = enrol(&app, &app.client, &page, &code_at(&secret_on(&page), now())).await;
    assert_eq!(resp.status(), 401);
    assert!(app.cookie("portcullis_session").is_none());
}

/// Makes every session look as if it signed in ten minutes ago.
async fn age_sessions(app: &TestApp) {
    app.db(|c| {
        diesel::update(sessions::table)
            .set(sessions::auth_time.eq(sessions::auth_time - 600))
            .execute(c)?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn adding_a_factor_to_an_old_session_needs_the_password() {
    let app = spawn_app_on_localhost().await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    age_sessions(&app).await;
    let csrf = app.csrf_token().await;
    let page = app.get("/account/security").await.text().await.unwrap();
    assert!(page.contains("id=\"begin_password\""), "{page}");
    let resp = app
        .post_form("/account/totp/begin", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(resp.status(), 401);
    let resp = app
        .post_form(
            "/account/totp/begin",
            &[
                ("csrf_token", &csrf),
                ("current_password", "not the password at all"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401);
    let resp = app
        .post_form(
            "/account/totp/begin",
            &[("csrf_token", &csrf), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<svg"));

    let post_json = |body: Value| {
        app.client
            .post(app.url("/account/passkeys/register/begin"))
            .header("X-CSRF-Token", csrf.clone())
            .json(&body)
            .send()
    };
    assert_eq!(post_json(json!({})).await.unwrap().status(), 400);
    assert_eq!(
        post_json(json!({ "current_password": PASSWORD }))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_locked_out_browser_cannot_finish_the_second_step_with_a_passkey() {
    let app = spawn_app_on_localhost().await;
    let alice = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let csrf = app.csrf_token().await;
    let post = |path: &'static str, body: Value| {
        app.client
            .post(app.url(path))
            .header("X-CSRF-Token", csrf.clone())
            .json(&body)
            .send()
    };
    let mut authenticator = crate::authenticator::SoftAuthenticator::new();
    let begun: Value = post("/account/passkeys/register/begin", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);
    let body = json!({ "ceremony": begun["ceremony"], "name": "Key", "credential": credential });
    assert_eq!(
        post("/account/passkeys/register/finish", body)
            .await
            .unwrap()
            .status(),
        200
    );
    sign_out(&app).await;
    password_step(&app, "alice").await;
    // This browser locked out of the account meanwhile (say, by wrong codes in another tab).
    let device = app.cookie("portcullis_device").expect("a device cookie");
    let source = format!("dev:{}", portcullis::crypto::token::hash(&device));
    app.db(move |c| {
        // The password step just now counted against (and gave back to) this source.
        let n = diesel::update(login_sources::table.find((&alice, &source)))
            .set(login_sources::locked_until.eq(Some(i64::MAX / 2)))
            .execute(c)?;
        assert_eq!(n, 1);
        Ok(())
    })
    .await;
    let csrf = app.csrf_token().await;
    let post = |path: &'static str, body: Value| {
        app.client
            .post(app.url(path))
            .header("X-CSRF-Token", csrf.clone())
            .json(&body)
            .send()
    };
    let begun: Value = post("/login/mfa/passkey/begin", json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let assertion = authenticator.authenticate(&begun["options"], &app.settings.issuer);
    let resp = post(
        "/login/mfa/passkey/finish",
        json!({ "ceremony": begun["ceremony"], "credential": assertion }),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(app.cookie("portcullis_session").is_none());
}
