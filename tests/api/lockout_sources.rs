//! Lock-out per account and source (OWASP's device-cookie pattern): whoever guesses from an
//! unknown browser locks only themselves out; the owner's known browser and passkeys keep
//! working; the account as a whole is only slowed; the owner hears of a burst.
//!
//! Every request in a test comes from 127.0.0.1, so "the attacker's address" is the one a
//! browser without a known device cookie counts against.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use figment::Figment;
use portcullis::store::schema::{audit_events, login_sources, users};
use serde_json::json;

use crate::authenticator::SoftAuthenticator;
use crate::helpers::{
    form_value, location, spawn_app_on_localhost_with, spawn_app_with, TestApp, PASSWORD,
};
use crate::mfa_support::{code_at, now, sign_out, user_with_totp};
use crate::passkey_login::{alice_with_passkey, assert_with};
use crate::smtp_sink::{mail_to, SmtpSink};

const WRONG: &str = "not the password at all";

fn lockout(threshold: u32) -> impl FnOnce(Figment) -> Figment {
    move |f| {
        f.merge(("lockout.account_threshold", threshold))
            .merge(("lockout.lock_secs", 600))
            .merge(("lockout.ip_threshold", 1000))
    }
}

/// Alice, signed in once from `app.client` (so the account knows that browser), then out.
pub async fn alice_with_known_browser(app: &TestApp) -> String {
    let id = app.create_user("alice", PASSWORD).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    assert!(app.cookie("portcullis_device").is_some());
    sign_out(app).await;
    id
}

/// Wrong passwords for alice from a browser the account does not know.
async fn guess_from_elsewhere(app: &TestApp, times: usize) -> reqwest::Client {
    let (attacker, _) = app.new_browser();
    for _ in 0..times {
        let resp = app.login_with(&attacker, "alice", WRONG).await;
        assert_eq!(resp.status(), 401);
    }
    attacker
}

/// The account's sources with their lock, by source kind ("dev" or "ip").
async fn locks(app: &TestApp, user_id: &str) -> Vec<(String, Option<i64>)> {
    let user_id = user_id.to_owned();
    let rows: Vec<(String, Option<i64>)> = app
        .db(move |c| {
            Ok(login_sources::table
                .filter(login_sources::user_id.eq(user_id))
                .select((login_sources::source, login_sources::locked_until))
                .load(c)?)
        })
        .await;
    rows.into_iter()
        .map(|(s, l)| (s.split(':').next().unwrap().to_owned(), l))
        .collect()
}

fn is_locked(locks: &[(String, Option<i64>)], kind: &str) -> bool {
    locks
        .iter()
        .any(|(k, l)| k == kind && l.is_some_and(|l| l > portcullis::time::now()))
}

#[tokio::test]
async fn an_attacker_locking_the_address_out_does_not_stop_the_owners_known_browser() {
    let app = spawn_app_with(lockout(3)).await;
    let alice = alice_with_known_browser(&app).await;
    let attacker = guess_from_elsewhere(&app, 3).await;
    // The attacker's source is locked: even the right password fails there, unchecked.
    let resp = app.login_with(&attacker, "alice", PASSWORD).await;
    assert_eq!(resp.status(), 401);
    assert!(is_locked(&locks(&app, &alice).await, "ip"));

    // The owner's browser is a source of its own.
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    assert!(app.cookie("portcullis_session").is_some());
    // ...and signing in there lifts nothing for the attacker.
    assert!(is_locked(&locks(&app, &alice).await, "ip"));
    assert_eq!(
        app.login_with(&attacker, "alice", PASSWORD).await.status(),
        401
    );
}

#[tokio::test]
async fn a_stolen_device_cookie_has_a_budget_of_its_own() {
    let app = spawn_app_with(lockout(3)).await;
    let alice = alice_with_known_browser(&app).await;
    for _ in 0..3 {
        assert_eq!(app.login("alice", WRONG).await.status(), 401);
    }
    assert_eq!(app.login("alice", PASSWORD).await.status(), 401);
    let locks = locks(&app, &alice).await;
    assert!(is_locked(&locks, "dev"), "{locks:?}");
    assert!(!is_locked(&locks, "ip"), "{locks:?}");
}

#[tokio::test]
async fn a_passkey_signs_in_whatever_the_password_failures() {
    let app = spawn_app_on_localhost_with(lockout(3)).await;
    let mut authenticator = alice_with_passkey(&app).await;
    // Both the address and alice's own browser are locked out by wrong passwords.
    guess_from_elsewhere(&app, 3).await;
    for _ in 0..3 {
        assert_eq!(app.login("alice", WRONG).await.status(), 401);
    }
    assert_eq!(app.login("alice", PASSWORD).await.status(), 401);
    let resp = assert_with(
        &app,
        &mut authenticator,
        "/login/passkey",
        json!({ "return_to": "/account", "request": "" }),
        &app.settings.issuer,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.get("/account").await.status(), 200);
}

#[tokio::test]
async fn wrong_passwords_for_an_account_without_one_count_nothing_against_it() {
    let app = spawn_app_on_localhost_with(lockout(3)).await;
    let carol = crate::passkeys::passwordless_session(&app, "carol").await;
    let mut authenticator = SoftAuthenticator::new();
    crate::passkeys::add_passkey(&app, &mut authenticator, "Phone").await;
    sign_out(&app).await;
    for _ in 0..6 {
        assert_eq!(app.login("carol", WRONG).await.status(), 401);
    }
    assert!(locks(&app, &carol).await.is_empty());
    let id = carol.clone();
    let failed = app
        .db(move |c| {
            Ok(users::table
                .find(id)
                .select(users::failed_logins)
                .first::<i32>(c)?)
        })
        .await;
    assert_eq!(failed, 0);
    let resp = assert_with(
        &app,
        &mut authenticator,
        "/login/passkey",
        json!({ "return_to": "/account", "request": "" }),
        &app.settings.issuer,
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn past_the_ceiling_unknown_sources_take_turns_and_the_known_browser_does_not() {
    let delay = Duration::from_millis(2500);
    let app = spawn_app_with(move |f| {
        lockout(100)(f)
            .merge(("lockout.account_ceiling", 3))
            .merge(("lockout.ceiling_delay_ms", delay.as_millis() as u64))
            .merge(("lockout.ceiling_max_delay_ms", delay.as_millis() as u64))
    })
    .await;
    let alice = alice_with_known_browser(&app).await;
    let attacker = guess_from_elsewhere(&app, 3).await;
    // Past the ceiling the first attempt takes the slot and is answered at once...
    let started = Instant::now();
    let resp = app.login_with(&attacker, "alice", WRONG).await;
    assert_eq!(resp.status(), 401);
    assert!(started.elapsed() < delay, "{:?}", started.elapsed());
    // ...and while it holds, even the right password from an unknown browser is refused.
    let (newcomer, _) = app.new_browser();
    assert_eq!(
        app.login_with(&newcomer, "alice", PASSWORD).await.status(),
        401
    );
    // Slowed, not locked: once the slot is free again, the right password works...
    tokio::time::sleep(delay + Duration::from_millis(100)).await;
    assert_eq!(
        app.login_with(&newcomer, "alice", PASSWORD).await.status(),
        303
    );
    // ...and the known browser does not wait for a slot.
    guess_from_elsewhere(&app, 4).await;
    let started = Instant::now();
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert!(started.elapsed() < delay, "{:?}", started.elapsed());
    assert!(!is_locked(&locks(&app, &alice).await, "ip"));
}

#[tokio::test]
async fn a_burst_of_failures_mails_the_owner_once() {
    let sink = SmtpSink::start();
    let to_sink = mail_to(&sink);
    let app = spawn_app_with(move |f| {
        lockout(100)(to_sink(f))
            .merge(("lockout.burst_threshold", 3))
            .merge(("lockout.burst_window_secs", 3600))
    })
    .await;
    let alice = alice_with_known_browser(&app).await;
    guess_from_elsewhere(&app, 6).await;
    let mail = sink.wait_for(1).await;
    assert!(mail[0].contains("To: alice@example.com"), "{}", mail[0]);
    assert!(mail[0].contains("Failed attempts to sign in to your account"));
    assert!(
        mail[0].contains("There were 3 failed attempts"),
        "{}",
        mail[0]
    );
    // One notice per window: the next mail is the new-browser notice of a later sign-in.
    let (other, _) = app.new_browser();
    assert_eq!(
        app.login_with(&other, "alice", PASSWORD).await.status(),
        303
    );
    let mail = sink.wait_for(2).await;
    assert!(
        mail[1].contains("New sign-in to your account"),
        "{}",
        mail[1]
    );
    assert_eq!(sink.count(), 2);
    let bursts: i64 = app
        .db(move |c| {
            Ok(audit_events::table
                .filter(audit_events::action.eq("login.failure_burst"))
                .filter(audit_events::target.eq(alice))
                .count()
                .get_result(c)?)
        })
        .await;
    assert_eq!(bursts, 1);
}

#[tokio::test]
async fn unlock_clears_every_source_of_the_account() {
    let app = spawn_app_with(lockout(2)).await;
    let alice = alice_with_known_browser(&app).await;
    let attacker = guess_from_elsewhere(&app, 2).await;
    for _ in 0..2 {
        assert_eq!(app.login("alice", WRONG).await.status(), 401);
    }
    let before = locks(&app, &alice).await;
    assert!(
        is_locked(&before, "ip") && is_locked(&before, "dev"),
        "{before:?}"
    );
    let out = app.cli(&["user", "unlock", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(locks(&app, &alice).await.is_empty());
    assert_eq!(
        app.login_with(&attacker, "alice", PASSWORD).await.status(),
        303
    );
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
}

/// Posts a second-factor code from `browser`, which has a challenge; with `ip`, as a client
/// at that address behind a trusted proxy (`X-Forwarded-For`).
pub(crate) async fn code_from(
    app: &TestApp,
    browser: &reqwest::Client,
    ip: Option<&str>,
    code: &str,
) -> u16 {
    let page = browser
        .get(app.url("/login/mfa"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form_value(&page, "csrf_token").unwrap();
    let mut post = browser.post(app.url("/login/mfa"));
    if let Some(ip) = ip {
        post = post.header("X-Forwarded-For", ip);
    }
    post.form(&[("csrf_token", csrf.as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn wrong_codes_count_per_source_too() {
    let app = spawn_app_with(|f| lockout(3)(f).merge(("mfa.max_code_attempts", 10))).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    // Someone with the password guesses codes from another browser until locked out...
    let (attacker, _) = app.new_browser();
    assert_eq!(
        app.login_with(&attacker, "alice", PASSWORD).await.status(),
        303
    );
    for _ in 0..3 {
        assert_eq!(code_from(&app, &attacker, None, "000000").await, 401);
    }
    assert_eq!(
        code_from(&app, &attacker, None, &code_at(&secret, now() + 30)).await,
        401
    );
    // ...and the owner's browser signs in with both factors all the same.
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(location(&resp), "/login/mfa");
    assert_eq!(
        code_from(&app, &app.client, None, &code_at(&secret, now() + 30)).await,
        303
    );
    assert!(app.cookie("portcullis_session").is_some());
}

#[tokio::test]
async fn a_password_reset_lets_the_owner_in_from_a_locked_out_address() {
    let sink = SmtpSink::start();
    let to_sink = mail_to(&sink);
    let app = spawn_app_with(move |f| lockout(2)(to_sink(f))).await;
    let alice = app.create_user("alice", PASSWORD).await;
    guess_from_elsewhere(&app, 2).await;
    // Alice, on a new browser behind the same address, is locked out with the guesser...
    assert_eq!(app.login("alice", PASSWORD).await.status(), 401);
    // ...until she proves her mailbox: the guesses were against the old password.
    let (status, _) = crate::reset::request_reset(&app, "alice@example.com").await;
    assert_eq!(status, 200);
    let mail = sink.wait_for(1).await.remove(0);
    let link = crate::reset::link_in(&mail, &app.address);
    let new_password = "a brand new memorable passphrase";
    let resp = crate::reset::set_password(&app, &link, new_password).await;
    assert_eq!(resp.status(), 303);
    assert!(locks(&app, &alice).await.is_empty());
    assert_eq!(app.login("alice", new_password).await.status(), 303);
}
