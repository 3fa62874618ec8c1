//! The `SignedIn` requirement on the account pages: a navigation without a session goes to
//! the sign-in with its path and comes back there afterwards; a form post without one is
//! refused with 401 and changes nothing; the return path never leaves this site.

use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::helpers::{form_value, location, spawn_app_on_localhost, TestApp, PASSWORD};

/// Every page under /account a browser navigates to.
const PAGES: [&str; 4] = [
    "/account",
    "/account/security",
    "/account/profile",
    "/account/passkeys",
];

/// Every form and script endpoint under /account that needs a session.
const ACTIONS: [&str; 14] = [
    "/account/password",
    "/account/email",
    "/account/profile",
    "/account/sessions/end",
    "/account/totp/begin",
    "/account/totp/confirm",
    "/account/totp/remove",
    "/account/recovery",
    "/account/recovery/first",
    "/account/passkeys/register/begin",
    "/account/passkeys/register/finish",
    "/account/passkeys/remove",
    "/account/passkeys/remove/begin",
    "/account/passkeys/remove/finish",
];

async fn sessions_of(app: &TestApp, user_id: &str) -> i64 {
    let id = user_id.to_owned();
    app.db(move |c| portcullis::store::sessions::count_for_user(c, &id))
        .await
}

#[tokio::test]
async fn every_account_page_without_a_session_redirects_to_the_sign_in_with_its_path() {
    let app = spawn_app_on_localhost().await;
    for page in PAGES {
        for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let resp = app
                .client
                .request(method.clone(), app.url(page))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 303, "{method} {page}");
            assert_eq!(
                location(&resp),
                format!("/login?return_to={page}"),
                "{page}"
            );
            assert!(
                resp.headers()
                    .get("set-cookie")
                    .is_none_or(|c| !c.to_str().unwrap().starts_with("portcullis_session=")),
                "no session is handed out"
            );
        }
    }
}

#[tokio::test]
async fn the_query_of_the_page_comes_along_percent_encoded() {
    let app = spawn_app_on_localhost().await;
    let resp = app.get("/account/security?done=totp&x=a%20b").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        "/login?return_to=/account/security%3Fdone%3Dtotp%26x%3Da%2520b"
    );
}

#[tokio::test]
async fn after_signing_in_the_user_lands_back_on_the_page_they_asked_for() {
    let app = spawn_app_on_localhost().await;
    app.create_user("alice", PASSWORD).await;
    for page in [
        "/account/security",
        "/account/profile?x=1",
        "/account/passkeys",
    ] {
        let (browser, _) = app.new_browser();
        let resp = browser.get(app.url(page)).send().await.unwrap();
        assert_eq!(resp.status(), 303);
        let login = browser.get(app.url(&location(&resp))).send().await.unwrap();
        assert_eq!(login.status(), 200);
        let html = login.text().await.unwrap();
        assert_eq!(form_value(&html, "return_to").as_deref(), Some(page));
        let csrf = form_value(&html, "csrf_token").unwrap();
        let resp = browser
            .post(app.url("/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
                ("return_to", page),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{page}");
        assert_eq!(location(&resp), page);
        let resp = browser.get(app.url(page)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{page}");
    }
}

#[tokio::test]
async fn a_return_path_to_another_site_lands_on_the_home_page() {
    let app = spawn_app_on_localhost().await;
    app.create_user("alice", PASSWORD).await;
    for evil in [
        "https://evil.example/account",
        "//evil.example/account",
        "/\\evil.example",
        "http:/evil.example",
    ] {
        let (browser, _) = app.new_browser();
        let login = browser
            .get(app.url("/login"))
            .query(&[("return_to", evil)])
            .send()
            .await
            .unwrap();
        let html = login.text().await.unwrap();
        assert_eq!(
            form_value(&html, "return_to").as_deref(),
            Some("/"),
            "{evil}"
        );
        let csrf = form_value(&html, "csrf_token").unwrap();
        let resp = browser
            .post(app.url("/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "alice"),
                ("password", PASSWORD),
                ("return_to", evil),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{evil}");
        assert_eq!(location(&resp), "/", "{evil}");
    }
}

#[tokio::test]
async fn a_form_post_without_a_session_is_refused_with_401_and_changes_nothing() {
    let app = spawn_app_on_localhost().await;
    let id = app.create_user("alice", PASSWORD).await;
    let csrf = app.csrf_token().await;
    for action in ACTIONS {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("current_password", PASSWORD),
            ("new_password", "an entirely new passphrase"),
            ("new_password_confirm", "an entirely new passphrase"),
            ("new_email", "mallory@example.com"),
            ("display_name", "Mallory"),
        ];
        // A browser's form post: an HTML page.
        let resp = app
            .client
            .post(app.url(action))
            .header(ACCEPT, "text/html,application/xhtml+xml")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{action}");
        assert!(
            resp.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{action}"
        );
        assert!(resp.headers().get("location").is_none(), "{action}");
        // Anyone else: a problem document.
        let resp = app
            .client
            .post(app.url(action))
            .header("X-CSRF-Token", &csrf)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{action}");
        assert_eq!(
            resp.headers()[CONTENT_TYPE],
            "application/problem+json",
            "{action}"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], 401, "{action}");
    }
    assert_eq!(sessions_of(&app, &id).await, 0);
    // The password and the address are what they were.
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(sessions_of(&app, &id).await, 1);
    let html = app.get("/account").await.text().await.unwrap();
    assert!(html.contains("alice@example.com"), "{html}");
    assert!(!html.contains("Mallory"), "{html}");
}

#[tokio::test]
async fn an_ended_session_counts_as_none() {
    let app = spawn_app_on_localhost().await;
    let id = app.create_user("alice", PASSWORD).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    assert_eq!(app.get("/account/security").await.status(), 200);
    let id2 = id.clone();
    app.db(move |c| portcullis::store::sessions::delete_for_user(c, &id2))
        .await;
    let resp = app.get("/account/security").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login?return_to=/account/security");
    assert_eq!(sessions_of(&app, &id).await, 0);
}
