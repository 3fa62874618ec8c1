//! Usernames: one normal form (NFKC, case-folded), no `@` and no invisible characters, and
//! separate namespaces for sign-in by address and by username.

use diesel::prelude::*;
use portcullis::accounts::{self, AccountError, NewUser};
use portcullis::audit::Actor;
use portcullis::crypto::SecretString;
use portcullis::startup::{password_hasher, password_policy};
use portcullis::store::schema::users as u;
use portcullis::store::users;
use serde_json::Value;

use crate::helpers::{location, spawn_app, spawn_app_with, TestApp, PASSWORD};
use crate::reset::request_reset;
use crate::signup::{sign_up, signup_app};
use crate::smtp_sink::{mail_to, SmtpSink};

const MALLORY_PASSWORD: &str = "a different long passphrase";

async fn create(app: &TestApp, username: &str, email: &str) -> Result<String, AccountError> {
    let hasher = password_hasher(&app.settings).unwrap();
    accounts::create(
        &app.store,
        &hasher,
        &password_policy(&app.settings),
        NewUser {
            username: username.into(),
            email: email.into(),
            display_name: None,
            password: Some(SecretString::new(PASSWORD)),
            admin: false,
        },
        Actor::Cli,
    )
    .await
    .map(|user| user.username)
}

/// Gives a stored account a name today's rules refuse, as rows written before them have.
pub(crate) async fn rename_in_db(app: &TestApp, from: &'static str, to: &'static str) {
    let n = app
        .db(move |c| {
            Ok(diesel::update(u::table.filter(u::username.eq(from)))
                .set(u::username.eq(to))
                .execute(c)?)
        })
        .await;
    assert_eq!(n, 1);
}

/// Whether the app's browser is signed in as `username` (the home page says so).
async fn signed_in_as(app: &TestApp, username: &str) -> bool {
    let home = app.get("/").await.text().await.unwrap();
    home.contains(&format!("signed in as <strong>{username}</strong>"))
}

#[tokio::test]
async fn usernames_with_an_at_sign_are_refused_by_the_cli_signup_and_setup() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;

    let out = app.cli(&[
        "user",
        "add",
        "--username",
        "bob@corp",
        "--email",
        "bob@example.com",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must not contain @"));

    let (status, body) = sign_up(&app, "eve@example.org", "eve@example.org", PASSWORD).await;
    assert_eq!(status, 400);
    assert!(body.contains("must not contain @"), "{body}");

    let token = crate::setup::token_of(app.setup_url.as_deref().unwrap());
    let resp = crate::setup::submit(&app, &token, "ro@t", PASSWORD).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("must not contain @"));

    assert!(app.db(users::list).await.is_empty());
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn fullwidth_and_upper_case_spellings_are_the_same_name() {
    let app = spawn_app().await;
    assert_eq!(
        create(&app, "Ａｌｉｃｅ", "alice@example.com")
            .await
            .unwrap(),
        "alice"
    );
    assert!(matches!(
        create(&app, "ALICE", "other@example.com").await,
        Err(AccountError::UsernameTaken)
    ));
    assert!(matches!(
        create(&app, "ａｌｉｃｅ", "other@example.com").await,
        Err(AccountError::UsernameTaken)
    ));
    let resp = app.login("ＡＬＩＣＥ", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    // Letters of other alphabets are names too, in their normal form.
    assert_eq!(
        create(&app, "ÉLODIE", "elodie@example.com").await.unwrap(),
        "élodie"
    );
    assert_eq!(
        app.login_with(&app.new_browser().0, "e\u{301}lodie", PASSWORD)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn invisible_and_bidi_control_characters_are_refused() {
    let sink = SmtpSink::start();
    let app = signup_app(&sink, false).await;
    for bad in [
        "al\u{200b}ice",
        "al\u{200d}ice",
        "\u{202e}ecila",
        "al\u{2066}ice",
        "al\u{feff}ice",
        "al\u{00a0}ice",
        "al\u{2028}ice",
    ] {
        assert!(
            matches!(
                create(&app, bad, "x@example.com").await,
                Err(AccountError::InvalidUsername(_))
            ),
            "{bad:?}"
        );
        let (status, body) = sign_up(&app, bad, "x@example.com", PASSWORD).await;
        assert_eq!(status, 400, "{bad:?}");
        assert!(body.contains("invalid username"), "{bad:?}: {body}");
    }
    assert!(app.db(users::list).await.is_empty());
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn a_username_spelled_like_an_address_cannot_take_its_sign_in_or_reset() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    app.create_user("victim", PASSWORD).await;
    app.create_user("mallory", MALLORY_PASSWORD).await;
    // Only a row from before the rules can have such a name.
    rename_in_db(&app, "mallory", "victim@example.com").await;

    let resp = app.login("victim@example.com", MALLORY_PASSWORD).await;
    assert_eq!(resp.status(), 401, "the address belongs to victim");
    let resp = app.login("Victim@Example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert!(signed_in_as(&app, "victim").await);

    assert_eq!(request_reset(&app, "victim@example.com").await.0, 200);
    assert_eq!(request_reset(&app, "victim").await.0, 200);
    let mails = sink.wait_for(2).await;
    for mail in &mails {
        assert!(mail.contains("To: victim@example.com"), "{mail}");
        assert!(!mail.contains("mallory@example.com"), "{mail}");
    }
}

#[tokio::test]
async fn legacy_names_are_reported_never_changed_and_still_sign_in() {
    let app = spawn_app().await;
    app.create_user("carol", PASSWORD).await;
    app.create_user("dave", PASSWORD).await;
    rename_in_db(&app, "carol", "carol@legacy.test").await;

    let out = app.cli(&["user", "check-names", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["username"], "carol@legacy.test");
    assert!(listed[0]["problem"].as_str().unwrap().contains("@"));

    let out = app.cli(&["user", "list"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("carol@legacy.test (!)"), "{table}");
    assert!(!table.contains("dave (!)"), "{table}");
    let list: Value = serde_json::from_slice(&app.cli(&["user", "list", "--json"]).stdout).unwrap();
    assert!(list[0]["username_problem"].is_string());
    assert!(list[1]["username_problem"].is_null());

    // No account has that address, so the old name signs in, in any case.
    let resp = app.login("Carol@Legacy.test", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert!(signed_in_as(&app, "carol@legacy.test").await);
    let stored = app
        .db(|c| users::find_by_username(c, "carol@legacy.test"))
        .await;
    assert!(stored.is_some(), "never renamed");
}

#[tokio::test]
async fn a_legacy_spelling_keeps_its_owner_and_no_new_name_can_shadow_it() {
    let app = spawn_app().await;
    app.create_user("élodie", PASSWORD).await;
    app.create_user("carol", MALLORY_PASSWORD).await;
    app.create_user("dave", MALLORY_PASSWORD).await;
    // Rows from before the rules, stored in decomposed form (e + combining acute).
    rename_in_db(&app, "carol", "e\u{301}lodie").await;
    rename_in_db(&app, "dave", "e\u{301}mile").await;

    // The exact legacy spelling reaches the legacy row, not the account its normal form names.
    let resp = app.login("e\u{301}lodie", MALLORY_PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert!(signed_in_as(&app, "e\u{301}lodie").await);

    // A new account may not take the normal form of a legacy name: the two would be one.
    assert!(matches!(
        create(&app, "émile", "emile@example.com").await,
        Err(AccountError::UsernameTaken)
    ));
    let created = app
        .db(|c| users::find_by_email(c, "emile@example.com"))
        .await;
    assert!(created.is_none());
}
