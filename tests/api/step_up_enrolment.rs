//! Setting up a second factor through the step-up entry (`/login/mfa/start`) needs a recent
//! first factor, as adding one on /account/security does: a borrowed, stale session must not
//! set up an authenticator without the password.

use crate::flow::*;
use crate::fresh_auth::age_session;
use crate::helpers::{form_value, location, spawn_app_with, TestApp, PASSWORD};

/// An app where admins must have a second factor, a client, and alice signed in with only
/// her password (made an admin afterwards); the step-up entry for an authorization request.
async fn admin_signed_in_before_the_rule() -> (TestApp, String) {
    let app = spawn_app_with(|f| f.merge(("mfa.required_roles", vec!["super_admin"]))).await;
    let client = confidential(&app).await;
    app.create_user("alice", PASSWORD).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    app.grant_role("alice", "super_admin").await;
    let resp = app.get(&authorize_path(&auth_params(&client, &[]))).await;
    let start = location(&resp);
    assert!(start.starts_with("/login/mfa/start?request="), "{start}");
    (app, start)
}

#[tokio::test]
async fn an_old_session_must_give_the_password_before_setting_up_a_second_factor() {
    let (app, start) = admin_signed_in_before_the_rule().await;
    age_session(&app, 600).await;
    let request = start.trim_start_matches("/login/mfa/start?request=");
    let resp = app.get(&start).await;
    let login = location(&resp);
    assert!(login.starts_with("/login?request="), "{login}");
    assert!(
        app.cookie("portcullis_mfa").is_none(),
        "no enrolment challenge"
    );
    let page = app.get("/login/mfa").await.text().await.unwrap();
    assert!(!page.contains("/login/mfa/enroll"), "{page}");

    // The password on the login page leads on to the enrolment.
    let page = app.get(&login).await.text().await.unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    assert_eq!(form_value(&page, "request").unwrap(), request);
    let resp = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
                ("request", request),
            ],
        )
        .await;
    assert_eq!(location(&resp), "/login/mfa");
    let page = app.get("/login/mfa").await.text().await.unwrap();
    assert!(page.contains("/login/mfa/enroll"), "{page}");
}

#[tokio::test]
async fn a_recent_session_goes_straight_to_setting_up_a_second_factor() {
    let (app, start) = admin_signed_in_before_the_rule().await;
    assert_eq!(location(&app.get(&start).await), "/login/mfa");
    let page = app.get("/login/mfa").await.text().await.unwrap();
    assert!(page.contains("/login/mfa/enroll"), "{page}");
}
