//! Changing the email address from the account page, through a real SMTP conversation.

use diesel::prelude::*;
use portcullis::store::schema::one_time_tokens as t;
use portcullis::store::users::{self, UserRow};

use crate::helpers::{form_value, location, spawn_app_with, TestApp, PASSWORD};
use crate::smtp_sink::{mail_to, SmtpSink};

const NEW_PASSWORD: &str = "a brand new memorable passphrase";

async fn app_with_alice(sink: &SmtpSink) -> (TestApp, String) {
    let app = spawn_app_with(mail_to(sink)).await;
    let id = app.create_user("alice", PASSWORD).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    (app, id)
}

pub(crate) async fn request_change(
    app: &TestApp,
    new_email: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = crate::helpers::page_csrf(&app.client, &app.url("/account")).await;
    app.post_form(
        "/account/email",
        &[
            ("csrf_token", &csrf),
            ("new_email", new_email),
            ("current_password", password),
        ],
    )
    .await
}

/// The one message addressed to `to` with `subject`.
fn mail_for<'a>(mails: &'a [String], to: &str, subject: &str) -> &'a str {
    let found: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains(&format!("To: {to}\r\n")))
        .filter(|m| m.contains(&format!("Subject: {subject}\r\n")))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one mail to {to}: {subject}; got {mails:#?}"
    );
    found[0]
}

/// The confirmation link in the change mail to `to`, once `count` mails have arrived.
async fn change_link(app: &TestApp, sink: &SmtpSink, count: usize, to: &str) -> String {
    let mails = sink.wait_for(count).await;
    link_in(
        mail_for(&mails, to, "Confirm your new email address"),
        &app.address,
    )
}

fn link_in(message: &str, issuer: &str) -> String {
    let start = message
        .find(&format!("{issuer}/account/email/confirm?token="))
        .expect("a confirmation link");
    message[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

async fn user(app: &TestApp, id: &str) -> UserRow {
    let id = id.to_owned();
    app.db(move |c| users::find_by_id(c, &id)).await.unwrap()
}

async fn pending_links(app: &TestApp, id: &str) -> i64 {
    let id = id.to_owned();
    app.db(move |c| {
        Ok(t::table
            .filter(t::user_id.eq(id))
            .filter(t::purpose.eq("email_change"))
            .count()
            .get_result(c)?)
    })
    .await
}

/// Opens the link's page and presses its button.
async fn confirm(app: &TestApp, link: &str) -> reqwest::Response {
    let page = app.client.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    app.post_form(
        "/account/email/confirm",
        &[
            ("csrf_token", &form_value(&html, "csrf_token").unwrap()),
            ("token", &form_value(&html, "token").unwrap()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_user_changes_the_address_by_confirming_the_link_sent_to_it() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;

    let resp = request_change(&app, " Alice.New@Example.ORG ", PASSWORD).await;

    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/account?email_sent=1");
    let page = app.get("/account?email_sent=1").await.text().await.unwrap();
    assert!(page.contains("We sent a confirmation link"), "{page}");
    let mails = sink.wait_for(2).await;
    let link_mail = mail_for(
        &mails,
        "alice.new@example.org",
        "Confirm your new email address",
    );
    let notice = mail_for(
        &mails,
        "alice@example.com",
        "A change of your email address was requested",
    );
    assert!(notice.contains("alice.new@example.org"), "{notice}");
    assert!(!notice.contains("/account/email/confirm"), "{notice}");
    let link = link_in(link_mail, &app.address);

    // Looking at the link (as a mail scanner would) changes nothing and keeps it usable.
    for _ in 0..2 {
        let page = app.client.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("alice.new@example.org"));
    }
    assert_eq!(user(&app, &id).await.email, "alice@example.com");

    let resp = confirm(&app, &link).await;

    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("alice.new@example.org"));
    let changed = user(&app, &id).await;
    assert_eq!(changed.email, "alice.new@example.org");
    assert!(changed.email_verified);
    let mails = sink.wait_for(3).await;
    let done = mail_for(
        &mails,
        "alice@example.com",
        "Your email address was changed",
    );
    assert!(done.contains("alice.new@example.org"), "{done}");
    assert!(done.contains("127.0.0.1"), "{done}");
    // The link worked once, by GET or POST.
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 404);
    let csrf = app.csrf_token().await;
    let token = link.split("token=").nth(1).unwrap();
    let again = app
        .post_form(
            "/account/email/confirm",
            &[("csrf_token", &csrf), ("token", token)],
        )
        .await;
    assert_eq!(again.status(), 404);
    assert_eq!(user(&app, &id).await.email, "alice.new@example.org");
    // The new address signs in.
    let (other, _) = app.new_browser();
    let resp = app
        .login_with(&other, "alice.new@example.org", PASSWORD)
        .await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn a_wrong_password_changes_and_sends_nothing() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;

    let resp = request_change(&app, "alice.new@example.org", "not the password").await;

    assert_eq!(resp.status(), 401);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("The current password is not correct."));
    sink.assert_no_more_mail(&app, 0).await;
    assert_eq!(user(&app, &id).await.email, "alice@example.com");
    assert_eq!(pending_links(&app, &id).await, 0);
}

#[tokio::test]
async fn an_invalid_or_unchanged_address_is_refused_with_a_clear_message() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;

    let invalid = request_change(&app, "not an address", PASSWORD).await;
    assert_eq!(invalid.status(), 400);
    assert!(invalid
        .text()
        .await
        .unwrap()
        .contains("That is not a valid email address."));

    let same = request_change(&app, "ALICE@example.com", PASSWORD).await;
    assert_eq!(same.status(), 400);
    assert!(same
        .text()
        .await
        .unwrap()
        .contains("That is already your address."));

    sink.assert_no_more_mail(&app, 0).await;
    assert_eq!(pending_links(&app, &id).await, 0);
}

#[tokio::test]
async fn an_address_of_another_account_gets_the_same_answer_and_its_owner_is_told() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;
    let bob = app.create_user("bob", PASSWORD).await;

    let free = request_change(&app, "alice.new@example.org", PASSWORD).await;
    let free = (free.status(), location(&free), free.text().await.unwrap());
    let first_link = change_link(&app, &sink, 2, "alice.new@example.org").await;
    let taken = request_change(&app, "bob@example.com", PASSWORD).await;
    let taken = (
        taken.status(),
        location(&taken),
        taken.text().await.unwrap(),
    );

    assert_eq!(
        free, taken,
        "the requester cannot tell the address is taken"
    );
    let mails = sink.wait_for(4).await;
    let warning = mail_for(
        &mails,
        "bob@example.com",
        "Someone tried to use your email address",
    );
    assert!(!warning.contains("/account/email/confirm"), "{warning}");
    let requested: Vec<_> = mails
        .iter()
        .filter(|m| m.contains("To: alice@example.com\r\n"))
        .collect();
    assert_eq!(requested.len(), 2, "the old address hears of both requests");
    assert!(requested[1].contains("bob@example.com"));
    sink.assert_no_more_mail(&app, 4).await;
    assert_eq!(user(&app, &id).await.email, "alice@example.com");
    assert_eq!(user(&app, &bob).await.email, "bob@example.com");
    // The second request replaced the first, taken address or not.
    assert_eq!(pending_links(&app, &id).await, 0);
    assert_eq!(
        app.client.get(&first_link).send().await.unwrap().status(),
        404
    );
}

#[tokio::test]
async fn an_address_taken_before_confirmation_is_refused_and_nothing_changes() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;
    request_change(&app, "carol@example.com", PASSWORD).await;
    let link = change_link(&app, &sink, 2, "carol@example.com").await;
    // Meanwhile someone else gets the address.
    app.create_user("carol", PASSWORD).await;

    let resp = confirm(&app, &link).await;

    assert_eq!(resp.status(), 409);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("That address now belongs to another account"));
    let alice = user(&app, &id).await;
    assert_eq!(alice.email, "alice@example.com");
    sink.assert_no_more_mail(&app, 2).await;
}

#[tokio::test]
async fn an_expired_link_is_refused() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;
    request_change(&app, "alice.new@example.org", PASSWORD).await;
    let link = change_link(&app, &sink, 2, "alice.new@example.org").await;
    let uid = id.clone();
    app.db(move |c| {
        diesel::update(t::table.filter(t::user_id.eq(uid)))
            .set(t::expires_at.eq(portcullis::time::now() - 1))
            .execute(c)?;
        Ok(())
    })
    .await;

    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 404);
    let csrf = app.csrf_token().await;
    let token = link.split("token=").nth(1).unwrap();
    let resp = app
        .post_form(
            "/account/email/confirm",
            &[("csrf_token", &csrf), ("token", token)],
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert_eq!(user(&app, &id).await.email, "alice@example.com");
}

#[tokio::test]
async fn a_password_change_kills_a_pending_link() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;
    request_change(&app, "alice.new@example.org", PASSWORD).await;
    let link = change_link(&app, &sink, 2, "alice.new@example.org").await;
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

    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 404);
    assert_eq!(pending_links(&app, &id).await, 0);
    assert_eq!(user(&app, &id).await.email, "alice@example.com");
}

#[tokio::test]
async fn a_password_reset_kills_a_pending_link() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;
    request_change(&app, "alice.new@example.org", PASSWORD).await;
    let link = change_link(&app, &sink, 2, "alice.new@example.org").await;
    let csrf = crate::helpers::page_csrf(&app.client, &app.url("/reset")).await;
    app.post_form("/reset", &[("csrf_token", &csrf), ("login", "alice")])
        .await;
    let mails = sink.wait_for(3).await;
    let reset_mail = mail_for(&mails, "alice@example.com", "Reset your password");
    let start = reset_mail.find("/reset/confirm?token=").unwrap() + "/reset/confirm?token=".len();
    let reset_token = &reset_mail[start..start + 43];
    let resp = app
        .post_form(
            "/reset/confirm",
            &[
                ("csrf_token", &app.csrf_token().await),
                ("token", reset_token),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);

    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 404);
    assert_eq!(pending_links(&app, &id).await, 0);
}

#[tokio::test]
async fn the_forms_need_a_csrf_token() {
    let sink = SmtpSink::start();
    let (app, id) = app_with_alice(&sink).await;

    let resp = app
        .post_form(
            "/account/email",
            &[
                ("new_email", "alice.new@example.org"),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 403);

    request_change(&app, "alice.new@example.org", PASSWORD).await;
    let link = change_link(&app, &sink, 2, "alice.new@example.org").await;
    let token = link.split("token=").nth(1).unwrap();
    let resp = app
        .post_form("/account/email/confirm", &[("token", token)])
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(user(&app, &id).await.email, "alice@example.com");
    assert_eq!(pending_links(&app, &id).await, 1, "the link is still good");
}

#[tokio::test]
async fn asking_for_a_change_needs_a_session() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    let id = app.create_user("alice", PASSWORD).await;
    let csrf = app.csrf_token().await;

    let resp = app
        .post_form(
            "/account/email",
            &[
                ("csrf_token", &csrf),
                ("new_email", "alice.new@example.org"),
                ("current_password", PASSWORD),
            ],
        )
        .await;

    // A form post without a session is refused (it is not replayed after a sign-in).
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("location").is_none());
    sink.assert_no_more_mail(&app, 0).await;
    assert_eq!(pending_links(&app, &id).await, 0);
}

#[tokio::test]
async fn the_account_page_offers_the_change() {
    let sink = SmtpSink::start();
    let (app, _) = app_with_alice(&sink).await;
    let page = app.get("/account").await.text().await.unwrap();
    assert!(page.contains(r#"action="/account/email""#), "{page}");
    assert!(page.contains(r#"name="new_email""#));
}
