//! Self-registration with email confirmation, through a real SMTP conversation.

use portcullis::store::users;

use crate::helpers::{form_value, page_csrf, spawn_app, spawn_app_with, TestApp, PASSWORD};
use crate::smtp_sink::{mail_to, SmtpSink};

pub(crate) async fn sign_up(
    app: &TestApp,
    username: &str,
    email: &str,
    password: &str,
) -> (u16, String) {
    let csrf = page_csrf(&app.client, &app.url("/signup")).await;
    let resp = app
        .post_form(
            "/signup",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("email", email),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await;
    (resp.status().as_u16(), resp.text().await.unwrap())
}

pub(crate) fn confirm_link(message: &str, issuer: &str) -> String {
    let start = message
        .find(&format!("{issuer}/signup/confirm?token="))
        .expect("a link");
    message[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

/// Follows a confirmation link as a person does: the page, then its button.
pub(crate) async fn confirm_signup(app: &TestApp, link: &str) -> reqwest::Response {
    let page = app.client.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200, "the link's page");
    let html = page.text().await.unwrap();
    let csrf = form_value(&html, "csrf_token").expect("a csrf_token");
    let token = form_value(&html, "token").expect("the token in the form");
    app.post_form(
        "/signup/confirm",
        &[("csrf_token", csrf.as_str()), ("token", token.as_str())],
    )
    .await
}

pub(crate) async fn signup_app(sink: &SmtpSink, allow_unverified: bool) -> TestApp {
    let mail = mail_to(sink);
    spawn_app_with(move |f| {
        mail(f)
            .merge(("signup.enabled", true))
            .merge(("signup.allow_unverified_sign_in", allow_unverified))
    })
    .await
}

#[tokio::test]
async fn sign_up_is_off_by_default() {
    let app = spawn_app().await;
    assert_eq!(app.get("/signup").await.status(), 404);
    let csrf = page_csrf(&app.client, &app.url("/login")).await;
    let resp = app
        .post_form(
            "/signup",
            &[
                ("csrf_token", &csrf),
                ("username", "x"),
                ("email", "x@example.com"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert!(app.db(users::list).await.is_empty());
    let login = app.get("/login").await.text().await.unwrap();
    assert!(!login.contains("/signup"));
}

#[tokio::test]
async fn the_login_page_links_to_sign_up_when_it_is_open() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;
    let login = app.get("/login").await.text().await.unwrap();
    assert!(login.contains(r#"<a href="/signup">Create an account</a>"#));
}

#[tokio::test]
async fn a_visitor_signs_up_confirms_the_address_and_signs_in() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;
    let (status, body) = sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("we have sent a link to confirm your email address"),
        "{body}"
    );
    let user = app
        .db(|c| users::find_by_username(c, "carol"))
        .await
        .unwrap();
    assert!(!user.email_verified && user.signup_pending);

    // Not before the address is confirmed (the password was right, so saying so leaks nothing).
    let resp = app.login("carol", PASSWORD).await;
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Confirm your email address first"));

    let mail = sink.wait_for(1).await.remove(0);
    assert!(mail.contains("To: carol@example.com"));
    let link = confirm_link(&mail, &app.address);
    // A mail scanner fetches the link first, with HEAD and GET: nothing is confirmed and
    // the link stays usable.
    let head = app.client.head(&link).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let scanned = app.client.get(&link).send().await.unwrap();
    assert_eq!(scanned.status(), 200);
    assert!(scanned.text().await.unwrap().contains("Confirm my address"));
    let carol = app
        .db(|c| users::find_by_username(c, "carol"))
        .await
        .unwrap();
    assert!(!carol.email_verified && carol.signup_pending);
    let page = confirm_signup(&app, &link).await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Your address is confirmed"));
    assert_eq!(
        app.client.get(&link).send().await.unwrap().status(),
        404,
        "single use"
    );
    let user = app
        .db(|c| users::find_by_username(c, "carol"))
        .await
        .unwrap();
    assert!(user.email_verified && !user.signup_pending);
    assert_eq!(app.login("carol", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn signing_up_with_a_taken_address_looks_the_same_and_tells_its_owner() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;
    app.create_user("alice", PASSWORD).await;
    let taken = sign_up(&app, "mallory", "alice@example.com", PASSWORD).await;
    let fresh = sign_up(&app, "dave", "dave@example.com", PASSWORD).await;
    assert_eq!(taken.0, fresh.0);
    assert_eq!(
        taken
            .1
            .replace("mallory", "X")
            .replace("alice@example.com", "Y"),
        fresh
            .1
            .replace("dave@example.com", "Y")
            .replace("dave", "X")
    );
    assert!(app
        .db(|c| users::find_by_username(c, "mallory"))
        .await
        .is_none());
    let mails = sink.wait_for(2).await;
    let notice = mails
        .iter()
        .find(|m| m.contains("To: alice@example.com"))
        .expect("a notice to alice");
    assert!(notice.contains("Someone tried to create an account"));
    assert!(!notice.contains("/signup/confirm"));
}

#[tokio::test]
async fn bad_sign_ups_are_refused_and_create_nothing() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;
    for (username, email, password, message) in [
        ("carol", "carol@example.com", "short", "at least 15"),
        (
            "carol",
            "carol@example.com",
            "password123456789",
            "too common",
        ),
        ("ca rol", "carol@example.com", PASSWORD, "invalid username"),
        ("carol", "not-an-address", PASSWORD, "invalid email"),
    ] {
        let (status, body) = sign_up(&app, username, email, password).await;
        assert_eq!(status, 400, "{message}");
        assert!(body.contains(message), "{message}: {body}");
    }
    assert!(app.db(users::list).await.is_empty());
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn unconfirmed_accounts_may_sign_in_when_configured() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, true).await;
    sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
    assert_eq!(app.login("carol", PASSWORD).await.status(), 303);
}
