//! Password reset by email, through a real SMTP conversation.

use std::time::Duration;

use portcullis::store::sessions;

use crate::helpers::{form_value, location, spawn_app_with, TestApp, PASSWORD};
use crate::smtp_sink::{mail_to, SmtpSink};

const NEW_PASSWORD: &str = "a brand new memorable passphrase";

pub(crate) async fn request_reset(app: &TestApp, login: &str) -> (u16, String) {
    let csrf = crate::helpers::page_csrf(&app.client, &app.url("/reset")).await;
    let resp = app
        .post_form("/reset", &[("csrf_token", &csrf), ("login", login)])
        .await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}

pub(crate) fn link_in(message: &str, issuer: &str) -> String {
    let start = message
        .find(&format!("{issuer}/reset/confirm?token="))
        .expect("a reset link");
    message[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

async fn set_password(app: &TestApp, link: &str, password: &str) -> reqwest::Response {
    let page = app.client.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = form_value(&html, "csrf_token").unwrap();
    let token = form_value(&html, "token").unwrap();
    app.post_form(
        "/reset/confirm",
        &[
            ("csrf_token", &csrf),
            ("token", &token),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await
}

#[tokio::test]
async fn a_user_resets_the_password_from_the_emailed_link_once() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    let id = app.create_user("alice", PASSWORD).await;
    let (other, _) = app.new_browser();
    app.login_with(&other, "alice", PASSWORD).await;

    let (status, body) = request_reset(&app, "alice@example.com").await;
    assert_eq!(status, 200);
    assert!(body.contains("If an account matches"));
    let mail = sink.wait_for(1).await.remove(0);
    assert!(mail.contains("To: alice@example.com"), "{mail}");
    assert!(mail.contains("Subject: Reset your password"));
    let link = link_in(&mail, &app.address);

    let resp = set_password(&app, &link, NEW_PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    let uid = id.clone();
    assert_eq!(
        app.db(move |c| sessions::count_for_user(c, &uid)).await,
        0,
        "every session ended"
    );
    assert_eq!(other.get(app.url("/")).send().await.unwrap().status(), 303);
    assert_eq!(app.login("alice", PASSWORD).await.status(), 401);
    assert_eq!(app.login("alice", NEW_PASSWORD).await.status(), 303);

    // The link worked once.
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 404);
    // And the owner is told.
    let notice = sink.wait_for(2).await.remove(1);
    assert!(
        notice.contains("Subject: Your password was changed"),
        "{notice}"
    );
    assert!(notice.contains("To: alice@example.com"));
    assert!(!notice.contains(NEW_PASSWORD));
}

#[tokio::test]
async fn the_request_answers_the_same_for_unknown_addresses_and_sends_nothing() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    app.create_user("alice", PASSWORD).await;
    let known = request_reset(&app, "alice@example.com").await;
    let unknown = request_reset(&app, "mallory@example.com").await;
    assert_eq!(known, unknown);
    sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 1, "no mail for the unknown address");
}

#[tokio::test]
async fn a_reset_link_expires_and_dies_with_any_password_change() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(|f| mail_to(&sink)(f).merge(("reset.token_lifetime_secs", 2))).await;
    app.create_user("alice", PASSWORD).await;
    request_reset(&app, "alice").await;
    let first = link_in(&sink.wait_for(1).await[0], &app.address);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        app.client.get(&first).send().await.unwrap().status(),
        404,
        "expired"
    );

    request_reset(&app, "alice").await;
    let second = link_in(&sink.wait_for(2).await[1], &app.address);
    // The user changes the password on the account page before using the link.
    app.login("alice", PASSWORD).await;
    let csrf = crate::helpers::page_csrf(&app.client, &app.url("/account")).await;
    let resp = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        app.client.get(&second).send().await.unwrap().status(),
        404,
        "invalidated"
    );
}

#[tokio::test]
async fn a_weak_new_password_keeps_the_link_usable() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    app.create_user("alice", PASSWORD).await;
    request_reset(&app, "alice").await;
    let link = link_in(&sink.wait_for(1).await[0], &app.address);
    let resp = set_password(&app, &link, "password12345678").await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("too common"));
    assert_eq!(set_password(&app, &link, NEW_PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn a_password_change_on_the_account_page_is_announced_by_mail() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let csrf = crate::helpers::page_csrf(&app.client, &app.url("/account")).await;
    let resp = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let notice = sink.wait_for(1).await.remove(0);
    assert!(
        notice.contains("Subject: Your password was changed"),
        "{notice}"
    );
    assert!(notice.contains("from the address 127.0.0.1"));
    assert!(notice.contains(&format!("{}/reset", app.address)));
}
