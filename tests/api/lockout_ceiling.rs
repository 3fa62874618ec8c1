//! The account-wide ceiling bounds the guess rate whatever the number of sources: past
//! `lockout.account_ceiling` failures, attempts from sources the account does not know are
//! checked one per slot and the rest refused unchecked (audited `ceiling`), passwords and
//! second-factor codes alike, while the owner's known browser is never slowed.
//!
//! Many sources are simulated from 127.0.0.1 by trusting it as a proxy and sending a
//! different `X-Forwarded-For` address with each attempt.

use diesel::prelude::*;
use figment::Figment;
use portcullis::store::schema::audit_events;

use crate::helpers::{browser, form_value, location, page_csrf, spawn_app_with, TestApp, PASSWORD};
use crate::lockout_sources::{alice_with_known_browser, code_from};
use crate::mfa_support::{code_at, now, second_step, sign_out, user_with_totp};

const WRONG: &str = "not the password at all";
const CONCURRENT: usize = 10;

/// Sources lock only after 100 failures and addresses are not throttled, so only the
/// ceiling (2 failures, then a one-minute slot) is in play.
fn ceiling(f: Figment) -> Figment {
    f.merge(("server.trusted_proxies", vec!["127.0.0.1"]))
        .merge(("lockout.account_threshold", 100))
        .merge(("lockout.ip_threshold", 1000))
        .merge(("lockout.account_ceiling", 2))
        .merge(("lockout.ceiling_delay_ms", 60_000))
        .merge(("lockout.ceiling_max_delay_ms", 60_000))
        .merge(("mfa.max_code_attempts", 100))
}

fn address(i: usize) -> String {
    format!("198.51.100.{}", i + 1)
}

/// The audited failures with `method` since the start: (checked, refused at the ceiling).
async fn failures(app: &TestApp, method: &'static str) -> (usize, usize) {
    let details: Vec<String> = app
        .db(|c| {
            Ok(audit_events::table
                .filter(audit_events::action.eq("login.failed"))
                .select(audit_events::detail)
                .load(c)?)
        })
        .await;
    let method = format!("\"method\":\"{method}\"");
    let ours: Vec<&String> = details.iter().filter(|d| d.contains(&method)).collect();
    let slowed = ours.iter().filter(|d| d.contains("\"ceiling\"")).count();
    assert!(ours.iter().all(|d| !d.contains("\"locked\"")), "{ours:?}");
    (ours.len() - slowed, slowed)
}

/// A password for alice from a fresh browser at address `ip`; the status.
async fn password_from(app: &TestApp, ip: &str, password: &str) -> u16 {
    let (client, _) = browser();
    let csrf = page_csrf(&client, &app.url("/login")).await;
    client
        .post(app.url("/login"))
        .header("X-Forwarded-For", ip)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `CONCURRENT` wrong passwords at once, each from its own browser and address.
async fn passwords_at_once(app: &TestApp) -> Vec<u16> {
    let mut ready = Vec::new();
    for i in 0..CONCURRENT {
        let (client, _) = browser();
        let csrf = page_csrf(&client, &app.url("/login")).await;
        ready.push((client, csrf, address(10 + i)));
    }
    let mut posts = tokio::task::JoinSet::new();
    for (client, csrf, ip) in ready {
        let url = app.url("/login");
        posts.spawn(async move {
            client
                .post(url)
                .header("X-Forwarded-For", ip)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("username", "alice"),
                    ("password", WRONG),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    posts.join_all().await
}

#[tokio::test]
async fn past_the_ceiling_parallel_guesses_from_many_addresses_get_one_check_per_slot() {
    let app = spawn_app_with(ceiling).await;
    alice_with_known_browser(&app).await;
    for i in 0..2 {
        assert_eq!(password_from(&app, &address(i), WRONG).await, 401);
    }
    assert_eq!(failures(&app, "pwd").await, (2, 0));

    let statuses = passwords_at_once(&app).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // One guess took the slot and was checked; the others were refused unchecked.
    assert_eq!(failures(&app, "pwd").await, (3, CONCURRENT - 1));
    // While the slot is taken even the right password from a new address is refused,
    // answered like a wrong one.
    assert_eq!(password_from(&app, &address(50), PASSWORD).await, 401);
    assert_eq!(failures(&app, "pwd").await, (3, CONCURRENT));
    // The owner's browser is not subject to the ceiling.
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn past_the_ceiling_wrong_codes_from_many_addresses_are_refused_unchecked() {
    let app = spawn_app_with(ceiling).await;
    let (secret, _) = user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    // Someone holding the phished password guesses codes from many addresses.
    let (attacker, _) = app.new_browser();
    let resp = app.login_with(&attacker, "alice", PASSWORD).await;
    assert_eq!(location(&resp), "/login/mfa");
    for i in 0..2 {
        assert_eq!(
            code_from(&app, &attacker, Some(&address(i)), "000000").await,
            401
        );
    }
    assert_eq!(failures(&app, "otp").await, (2, 0));

    let mut posts = tokio::task::JoinSet::new();
    for i in 0..CONCURRENT {
        let (app_url, attacker) = (app.url("/login/mfa"), attacker.clone());
        let page = attacker
            .get(&app_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = form_value(&page, "csrf_token").unwrap();
        posts.spawn(async move {
            attacker
                .post(app_url)
                .header("X-Forwarded-For", address(10 + i))
                .form(&[("csrf_token", csrf.as_str()), ("code", "000000")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = posts.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(failures(&app, "otp").await, (3, CONCURRENT - 1));
    // The right code is refused unchecked too while the slot is taken.
    let right = code_at(&secret, now());
    assert_eq!(
        code_from(&app, &attacker, Some(&address(50)), &right).await,
        401
    );
    assert_eq!(failures(&app, "otp").await, (3, CONCURRENT));

    // The owner's known browser signs in with both factors all the same.
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(location(&resp), "/login/mfa");
    let resp = second_step(&app, "totp", &code_at(&secret, now() + 30)).await;
    assert_eq!(resp.status(), 303);
    assert!(app.cookie("portcullis_session").is_some());
}
