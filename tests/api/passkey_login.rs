//! Passkeys at sign-in over HTTP: passwordless (discoverable) sign-in and a passkey as the
//! second step after the password, with the software authenticator.

use serde_json::{json, Value};

use crate::authenticator::SoftAuthenticator;
use crate::flow::*;
use crate::helpers::{location, spawn_app_on_localhost, TestApp, PASSWORD};
use crate::mfa_support::{password_step, sign_out};

pub(crate) async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    let csrf = app.csrf_token().await;
    app.client
        .post(app.url(path))
        .header("X-CSRF-Token", csrf)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Alice (password and one passkey), signed out again; returns her authenticator.
pub(crate) async fn alice_with_passkey(app: &TestApp) -> SoftAuthenticator {
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let mut authenticator = SoftAuthenticator::new();
    let begun: Value = post_json(app, "/account/passkeys/register/begin", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);
    let resp = post_json(
        app,
        "/account/passkeys/register/finish",
        &json!({ "ceremony": begun["ceremony"], "name": "Laptop", "credential": credential }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    sign_out(app).await;
    authenticator
}

/// Runs a begin/finish pair the way webauthn.js does; returns the finish response.
pub(crate) async fn assert_with(
    app: &TestApp,
    authenticator: &mut SoftAuthenticator,
    base: &str,
    fields: Value,
    origin: &str,
) -> reqwest::Response {
    let resp = post_json(app, &format!("{base}/begin"), &fields).await;
    assert_eq!(resp.status(), 200);
    let begun: Value = resp.json().await.unwrap();
    let assertion = authenticator.authenticate(&begun["options"], origin);
    let mut body = fields;
    body["ceremony"] = begun["ceremony"].clone();
    body["credential"] = assertion;
    post_json(app, &format!("{base}/finish"), &body).await
}

async fn session_amr(app: &TestApp) -> Vec<String> {
    let amr: Vec<String> = app
        .db(|c| {
            use diesel::prelude::*;
            use portcullis::store::schema::sessions as s;
            Ok(s::table.select(s::amr).load(c)?)
        })
        .await;
    assert_eq!(amr.len(), 1, "one session");
    serde_json::from_str(&amr[0]).unwrap()
}

#[tokio::test]
async fn a_passkey_alone_signs_in_and_counts_as_two_factors() {
    let app = spawn_app_on_localhost().await;
    let mut authenticator = alice_with_passkey(&app).await;
    let login = app.get("/login").await.text().await.unwrap();
    assert!(login.contains("Sign in with a passkey"));
    assert!(login.contains("<script src=\"/static/webauthn.js\" defer></script>"));

    let resp = assert_with(
        &app,
        &mut authenticator,
        "/login/passkey",
        json!({ "return_to": "/account", "request": "" }),
        &app.settings.issuer,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["redirect"], "/account");
    assert_eq!(app.get("/account").await.status(), 200);
    assert_eq!(session_amr(&app).await, ["hwk", "mfa"]);
}

#[tokio::test]
async fn a_passwordless_sign_in_for_an_application_gets_loa_2() {
    let app = spawn_app_on_localhost().await;
    let client = confidential(&app).await;
    let mut authenticator = alice_with_passkey(&app).await;
    let resp = app.get(&authorize_path(&auth_params(&client, &[]))).await;
    let request = location(&resp)
        .trim_start_matches("/login?request=")
        .to_owned();
    app.get(&location(&resp)).await;
    let resp = assert_with(
        &app,
        &mut authenticator,
        "/login/passkey",
        json!({ "return_to": "", "request": request }),
        &app.settings.issuer,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let next: Value = resp.json().await.unwrap();
    let next = next["redirect"].as_str().unwrap().to_owned();
    assert!(next.starts_with("/authorize/continue"), "{next}");
    let resp = through_consent(&app, app.get(&next).await).await;
    let code = param(&redirect_params(&resp), "code").unwrap().to_owned();
    let tokens: Value = exchange(&app, &client, &code, Some(VERIFIER))
        .await
        .json()
        .await
        .unwrap();
    let claims = verify_jwt(&app, tokens["id_token"].as_str().unwrap())
        .await
        .1;
    assert_eq!(claims["amr"], json!(["hwk", "mfa"]));
    assert_eq!(claims["acr"], "urn:portcullis:loa:2");
}

#[tokio::test]
async fn after_the_password_a_passkey_is_the_second_step() {
    let app = spawn_app_on_localhost().await;
    let mut authenticator = alice_with_passkey(&app).await;
    password_step(&app, "alice").await;
    let page = app.get("/login/mfa").await.text().await.unwrap();
    assert!(page.contains("Use a passkey"), "{page}");
    assert!(
        !page.contains("name=\"method\" value=\"totp\""),
        "no authenticator app set up"
    );

    let resp = assert_with(
        &app,
        &mut authenticator,
        "/login/mfa/passkey",
        json!({}),
        &app.settings.issuer,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["redirect"], "/");
    assert_eq!(session_amr(&app).await, ["pwd", "hwk", "mfa"]);
}

#[tokio::test]
async fn passkey_sign_in_refuses_wrong_origins_replays_strangers_and_disabled_accounts() {
    let app = spawn_app_on_localhost().await;
    let mut authenticator = alice_with_passkey(&app).await;

    // A page on another origin.
    let resp = assert_with(
        &app,
        &mut authenticator,
        "/login/passkey",
        json!({}),
        "https://evil.example",
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(app.cookie("portcullis_session").is_none());

    // A replayed ceremony.
    let begun: Value = post_json(&app, "/login/passkey/begin", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let assertion = authenticator.authenticate(&begun["options"], &app.settings.issuer);
    let body = json!({ "ceremony": begun["ceremony"], "credential": assertion });
    assert_eq!(
        post_json(&app, "/login/passkey/finish", &body)
            .await
            .status(),
        200
    );
    sign_out(&app).await;
    assert_eq!(
        post_json(&app, "/login/passkey/finish", &body)
            .await
            .status(),
        400
    );
    assert!(app.cookie("portcullis_session").is_none());

    // Without the CSRF header.
    let resp = app
        .client
        .post(app.url("/login/passkey/begin"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // Bob's password, then Alice's passkey as his second step: refused.
    app.create_user("bob", PASSWORD).await;
    app.login("bob", PASSWORD).await;
    let mut bobs = SoftAuthenticator::new();
    let begun: Value = post_json(&app, "/account/passkeys/register/begin", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let credential = bobs.register(&begun["options"], &app.settings.issuer);
    post_json(
        &app,
        "/account/passkeys/register/finish",
        &json!({ "ceremony": begun["ceremony"], "name": "Phone", "credential": credential }),
    )
    .await;
    sign_out(&app).await;
    password_step(&app, "bob").await;
    let begun: Value = post_json(&app, "/login/mfa/passkey/begin", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let mut discover = begun.clone();
    discover["options"]["publicKey"]["allowCredentials"] = json!([]);
    let alices = authenticator.authenticate(&discover["options"], &app.settings.issuer);
    let resp = post_json(
        &app,
        "/login/mfa/passkey/finish",
        &json!({ "ceremony": begun["ceremony"], "credential": alices }),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(app.cookie("portcullis_session").is_none());

    // No challenge: no second-step ceremony.
    let (fresh, _) = app.new_browser();
    let _ = fresh;
    sign_out_challenge(&app).await;
    assert_eq!(
        post_json(&app, "/login/mfa/passkey/begin", &json!({}))
            .await
            .status(),
        401
    );

    // A disabled account's passkey no longer signs in.
    portcullis::accounts::set_disabled(&app.store, "alice", true, portcullis::audit::Actor::Cli)
        .await
        .unwrap();
    let resp = assert_with(
        &app,
        &mut authenticator,
        "/login/passkey",
        json!({}),
        &app.settings.issuer,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(app.cookie("portcullis_session").is_none());
}

/// Drops the browser's second-step cookie.
async fn sign_out_challenge(app: &TestApp) {
    app.db(|c| {
        use diesel::prelude::*;
        diesel::delete(portcullis::store::schema::login_challenges::table).execute(c)?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_first_passkey_leads_to_recovery_codes_and_changes_are_announced() {
    let sink = crate::smtp_sink::SmtpSink::start();
    let app = crate::helpers::spawn_app_on_localhost_with(crate::smtp_sink::mail_to(&sink)).await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let mut authenticator = SoftAuthenticator::new();
    let begun: Value = post_json(&app, "/account/passkeys/register/begin", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let credential = authenticator.register(&begun["options"], &app.settings.issuer);
    let resp = post_json(
        &app,
        "/account/passkeys/register/finish",
        &json!({ "ceremony": begun["ceremony"], "name": "Laptop", "credential": credential }),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["redirect"], "/account/security?done=passkey");
    let mails = sink.wait_for(1).await;
    assert!(
        mails[0].contains("a passkey named \"Laptop\" was added") || mails[0].contains("Laptop"),
        "{}",
        mails[0]
    );

    let page = app
        .get("/account/security?done=passkey")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Get your recovery codes"), "{page}");
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form("/account/recovery/first", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(resp.status(), 200);
    let codes = crate::mfa_support::recovery_codes_on(&resp.text().await.unwrap());
    assert_eq!(codes.len(), 10);
    // Once issued, more need the password.
    let resp = app
        .post_form("/account/recovery/first", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(resp.status(), 409);

    // Password sign-in now offers the passkey and the recovery codes, and a code works.
    sign_out(&app).await;
    password_step(&app, "alice").await;
    let page = app.get("/login/mfa").await.text().await.unwrap();
    assert!(page.contains("Use a passkey") && page.contains("Use recovery code"));
    let resp = crate::mfa_support::second_step(&app, "recovery", &codes[0]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(session_amr(&app).await, ["pwd", "rec", "mfa"]);
}
