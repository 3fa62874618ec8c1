//! The one-time setup link that creates the first administrator.

use portcullis::store::{roles, users};

use crate::helpers::{location, spawn_app, spawn_app_on, PASSWORD};

pub(crate) fn token_of(url: &str) -> String {
    url.split("token=").nth(1).expect("token in url").to_owned()
}

pub(crate) async fn submit(
    app: &crate::helpers::TestApp,
    token: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.get(&format!("/setup?token={token}")).await;
    let csrf = app.csrf_token().await;
    app.post_form(
        "/setup",
        &[
            ("csrf_token", &csrf),
            ("token", token),
            ("username", username),
            ("email", &format!("{username}@example.com")),
            ("display_name", "The Admin"),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await
}

#[tokio::test]
async fn a_fresh_install_offers_a_setup_link_that_creates_a_signed_in_admin_once() {
    let app = spawn_app().await;
    let url = app.setup_url.clone().expect("a setup URL on first start");
    assert!(url.starts_with(&format!("{}/setup?token=", app.address)));
    let token = token_of(&url);
    assert_eq!(token.len(), 43);

    let resp = submit(&app, &token, "root", PASSWORD).await;

    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("Welcome, The Admin"), "{home}");
    let admin = app
        .db(|c| users::find_by_username(c, "root"))
        .await
        .expect("admin user");
    let id = admin.id.clone();
    assert_eq!(
        app.db(move |c| roles::names_for_user(c, &id, portcullis::time::now()))
            .await,
        ["super_admin"]
    );

    // Never again: the page and the form both refuse the used token.
    let again = app.get(&format!("/setup?token={token}")).await;
    assert_eq!(again.status(), 404);
    assert!(again.text().await.unwrap().contains("already been used"));
    let csrf = app.cookie("portcullis_csrf").unwrap();
    let resp = app
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("username", "second"),
                ("email", "second@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(app.db(users::list).await.len(), 1);
}

#[tokio::test]
async fn an_unknown_token_is_refused() {
    let app = spawn_app().await;
    let forged = portcullis::crypto::random::secret_token();
    assert_eq!(
        app.get(&format!("/setup?token={forged}")).await.status(),
        404
    );
    let resp = submit(&app, &forged, "root", PASSWORD).await;
    assert_eq!(resp.status(), 404);
    assert!(app.db(users::list).await.is_empty());
}

#[tokio::test]
async fn a_rejected_password_keeps_the_link_usable() {
    let app = spawn_app().await;
    let token = token_of(app.setup_url.as_deref().unwrap());

    let weak = submit(&app, &token, "root", "password12345678").await;
    assert_eq!(weak.status(), 400);
    let body = weak.text().await.unwrap();
    assert!(body.contains("too common"), "{body}");
    assert!(
        body.contains("value=\"root\""),
        "the form keeps what was typed"
    );
    let short = submit(&app, &token, "root", "short").await;
    assert_eq!(short.status(), 400);
    assert!(short
        .text()
        .await
        .unwrap()
        .contains("at least 15 characters"));
    assert!(app.db(users::list).await.is_empty());

    assert_eq!(submit(&app, &token, "root", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn mismatched_passwords_are_refused() {
    let app = spawn_app().await;
    let token = token_of(app.setup_url.as_deref().unwrap());
    app.get(&format!("/setup?token={token}")).await;
    let csrf = app.cookie("portcullis_csrf").unwrap();
    let resp = app
        .post_form(
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("token", &token),
                ("username", "root"),
                ("email", "root@example.com"),
                ("password", PASSWORD),
                ("password_confirm", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("do not match"));
    assert!(app.db(users::list).await.is_empty());
}

#[tokio::test]
async fn a_restart_replaces_the_link_and_once_an_admin_exists_none_is_issued() {
    let app = spawn_app().await;
    let first = token_of(app.setup_url.as_deref().unwrap());
    let crate::helpers::TestApp { db, settings, .. } = app;
    let url = settings.database.url.clone();

    let restarted = spawn_app_on(db, url.clone(), |f| f).await;
    let second = token_of(restarted.setup_url.as_deref().expect("still no admin"));
    assert_ne!(first, second);
    assert_eq!(
        restarted
            .get(&format!("/setup?token={first}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        submit(&restarted, &second, "root", PASSWORD).await.status(),
        303
    );

    let crate::helpers::TestApp { db, .. } = restarted;
    let third = spawn_app_on(db, url, |f| f).await;
    assert!(third.setup_url.is_none());
}
