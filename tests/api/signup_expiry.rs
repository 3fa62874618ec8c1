//! Self-registration: unconfirmed accounts expire and free their address, a reset request
//! for an unconfirmed address re-sends the confirmation, and the answer to a sign-up never
//! tells whether the username is taken.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use portcullis::store::audit;
use portcullis::store::schema::users as u;
use portcullis::store::users;

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};
use crate::reset::request_reset;
use crate::signup::{confirm_link, confirm_signup, sign_up, signup_app};
use crate::smtp_sink::{mail_to, SmtpSink};

/// Makes every account look `secs` older.
async fn age_accounts(app: &TestApp, secs: i64) {
    app.db(move |c| {
        Ok(diesel::update(u::table)
            .set(u::created_at.eq(u::created_at - secs))
            .execute(c)?)
    })
    .await;
}

async fn user(app: &TestApp, name: &'static str) -> Option<users::UserRow> {
    app.db(move |c| users::find_by_username(c, name)).await
}

/// Sign-up open, mail to `sink`, and the purge job running every second.
async fn purging_signup_app(sink: &SmtpSink) -> TestApp {
    let mail = mail_to(sink);
    spawn_app_with(move |f| {
        mail(f)
            .merge(("signup.enabled", true))
            .merge(("session.purge_interval_secs", 1))
    })
    .await
}

/// Waits (up to 15 seconds) for the purge job to delete `name`'s account.
async fn wait_until_gone(app: &TestApp, name: &'static str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while user(app, name).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "the purge job did not delete {name}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn unconfirmed_sign_ups_are_purged_after_their_lifetime_and_free_the_address() {
    let sink = SmtpSink::start();
    let app = purging_signup_app(&sink).await;
    app.create_user("olga", PASSWORD).await;
    sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
    let carol = user(&app, "carol").await.expect("pending account");
    assert!(carol.signup_pending);
    sink.wait_for(1).await;

    // Just past the default lifetime (24 hours); olga's confirmed account is as old.
    age_accounts(&app, 86_400 + 5).await;
    wait_until_gone(&app, "carol").await;
    assert!(
        user(&app, "olga").await.is_some(),
        "confirmed accounts stay"
    );
    let events = app.db(|c| audit::recent(c, 50)).await;
    let expired: Vec<_> = events
        .iter()
        .filter(|e| e.action == "user.signup_expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].target.as_deref(), Some(carol.id.as_str()));

    // The address and the name are free again.
    let (status, _) = sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    let again = user(&app, "carol").await.expect("a new pending account");
    assert_ne!(again.id, carol.id);
    let mails = sink.wait_for(2).await;
    assert!(mails[1].contains("/signup/confirm?token="), "{}", mails[1]);
}

#[tokio::test]
async fn a_reset_for_an_unconfirmed_address_sends_the_confirmation_again() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;
    sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
    sink.wait_for(1).await;

    let (status, body) = request_reset(&app, "carol@example.com").await;
    let (unknown_status, unknown_body) = request_reset(&app, "nobody@example.com").await;
    assert_eq!((status, &body), (unknown_status, &unknown_body));
    let mails = sink.wait_for(2).await;
    assert!(mails[1].contains("To: carol@example.com"));
    assert!(!mails[1].contains("/reset/confirm"), "{}", mails[1]);
    let link = confirm_link(&mails[1], &app.address);
    assert_eq!(confirm_signup(&app, &link).await.status(), 200);
    let carol = user(&app, "carol").await.unwrap();
    assert!(carol.email_verified && !carol.signup_pending);
    assert_eq!(app.login("carol", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn a_taken_username_gets_the_same_answer_and_only_the_address_is_told() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;
    app.create_user("alice", PASSWORD).await;

    let taken = sign_up(&app, "Ａｌｉｃｅ", "eve@example.com", PASSWORD).await;
    let fresh = sign_up(&app, "frank", "frank@example.com", PASSWORD).await;
    assert_eq!(taken.0, 200);
    assert_eq!(
        taken
            .1
            .replace("Ａｌｉｃｅ", "NAME")
            .replace("eve@example.com", "ADDRESS"),
        fresh
            .1
            .replace("frank@example.com", "ADDRESS")
            .replace("frank", "NAME")
    );
    let eve = app.db(|c| users::find_by_email(c, "eve@example.com")).await;
    assert!(eve.is_none(), "no account under a taken name");

    let mails = sink.wait_for(2).await;
    let to_eve = mails
        .iter()
        .find(|m| m.contains("To: eve@example.com"))
        .expect("a mail to the address that asked");
    assert!(to_eve.contains("Choose another username"), "{to_eve}");
    assert!(to_eve.contains("\"alice\""), "{to_eve}");
    assert!(!to_eve.contains("/signup/confirm"), "{to_eve}");
    assert!(!mails.iter().any(|m| m.contains("To: alice@example.com")));
}

#[tokio::test]
async fn an_address_the_operator_verifies_ends_the_pending_sign_up_and_is_never_purged() {
    let sink = SmtpSink::start();
    let app = purging_signup_app(&sink).await;
    sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
    sign_up(&app, "dan", "dan@example.com", PASSWORD).await;
    sink.wait_for(2).await;
    let out = app.cli(&["user", "update", "carol", "--email-verified", "true"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let carol = user(&app, "carol").await.expect("carol");
    assert!(carol.email_verified && !carol.signup_pending);
    assert_eq!(app.login("carol", PASSWORD).await.status(), 303);

    age_accounts(&app, 86_400 + 5).await;
    wait_until_gone(&app, "dan").await;
    assert!(
        user(&app, "carol").await.is_some(),
        "a verified account stays"
    );
}
