//! The account page: password change and session management.

use portcullis::store::sessions;

use crate::helpers::{form_value, location, spawn_app, TestApp, PASSWORD};

const NEW_PASSWORD: &str = "a completely different passphrase";

async fn account_page(app: &TestApp) -> String {
    let resp = app.get("/account").await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

async fn change(app: &TestApp, current: &str, new: &str, confirm: &str) -> reqwest::Response {
    let csrf = form_value(&account_page(app).await, "csrf_token").unwrap();
    app.post_form(
        "/account/password",
        &[
            ("csrf_token", &csrf),
            ("current_password", current),
            ("new_password", new),
            ("new_password_confirm", confirm),
        ],
    )
    .await
}

#[tokio::test]
async fn the_account_page_needs_a_session() {
    let app = spawn_app().await;
    let resp = app.get("/account").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login?return_to=/account");
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_application_tokens() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    let client = crate::flow::confidential(&app).await;
    // Another browser, and an application with a refresh token.
    let (other, _) = app.new_browser();
    app.login_with(&other, "alice", PASSWORD).await;
    let tokens =
        crate::flow::tokens_for(&app, &client, &[("scope", "openid offline_access")]).await;
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 2);

    let resp = change(&app, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;

    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account?changed=1");
    let notice = app.get("/account?changed=1").await.text().await.unwrap();
    assert!(notice.contains("Your password was changed"), "{notice}");
    let uid = id.clone();
    assert_eq!(
        app.db(move |c| sessions::count_for_user(c, &uid)).await,
        1,
        "only this browser"
    );
    assert_eq!(
        other.get(app.url("/")).send().await.unwrap().status(),
        303,
        "the other browser is out"
    );
    let refresh = crate::flow::token_post(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(refresh.status(), 400, "application tokens are revoked");
    let info = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);

    let (fresh, _) = app.new_browser();
    for (password, expected) in [(PASSWORD, 401), (NEW_PASSWORD, 303)] {
        let resp = app.login_with(&fresh, "alice", password).await;
        assert_eq!(resp.status(), expected, "{password}");
    }
    let events: Vec<String> = app
        .db(|c| portcullis::store::audit::recent(c, 30))
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(events.contains(&"user.password_changed".to_owned()));
}

#[tokio::test]
async fn a_bad_password_change_changes_nothing() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let uid = id.clone();
    let before = app
        .db(move |c| portcullis::store::users::find_by_id(c, &uid))
        .await
        .unwrap();
    for (current, new, confirm, message) in [
        (
            "wrong current password",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "current password is not correct",
        ),
        (PASSWORD, NEW_PASSWORD, "something else", "do not match"),
        (PASSWORD, "short", "short", "at least 15"),
        (
            PASSWORD,
            "password123456789",
            "password123456789",
            "too common",
        ),
    ] {
        let resp = change(&app, current, new, confirm).await;
        assert_eq!(resp.status(), 400, "{message}");
        assert!(resp.text().await.unwrap().contains(message), "{message}");
    }
    let uid = id.clone();
    let after = app
        .db(move |c| portcullis::store::users::find_by_id(c, &uid))
        .await
        .unwrap();
    assert_eq!(before.password_hash, after.password_hash);
    // The form needs its CSRF token.
    let resp = app
        .post_form(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn a_user_sees_their_sessions_and_signs_one_out() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    let (other, _) = app.new_browser();
    let page = other
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    other
        .post(app.url("/login"))
        .header("user-agent", "OtherBrowser/1.0")
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    app.login("alice", PASSWORD).await;

    let html = account_page(&app).await;
    assert!(html.contains("This browser"));
    assert!(html.contains("OtherBrowser/1.0"), "{html}");
    assert!(html.contains("from 127.0.0.1"));
    let sid = form_value(&html, "sid").expect("a sign-out button for the other session");
    let csrf = form_value(&html, "csrf_token").unwrap();
    // Another user's session id changes nothing.
    let resp = app
        .post_form(
            "/account/sessions/end",
            &[("csrf_token", &csrf), ("sid", "not-mine")],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 2);

    let resp = app
        .post_form(
            "/account/sessions/end",
            &[("csrf_token", &csrf), ("sid", &sid)],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(other.get(app.url("/")).send().await.unwrap().status(), 303);
    assert_eq!(
        app.get("/").await.status(),
        200,
        "this browser stays signed in"
    );
}
