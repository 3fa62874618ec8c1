//! Concurrency: guesses that arrive together are evaluated no more often than the lock-out
//! allows, and concurrent first failures from one address never collide (no 500).

use diesel::prelude::*;
use portcullis::store::schema::{audit_events, login_sources};

use crate::helpers::{browser, page_csrf, spawn_app_with, TestApp, PASSWORD};

const THRESHOLD: i32 = 3;
const CONCURRENT: usize = 20;

/// Posts `CONCURRENT` sign-ins at once, each from its own browser (its CSRF token fetched
/// beforehand, so the posts themselves race); returns their statuses.
async fn at_once(app: &TestApp, username: impl Fn(usize) -> String) -> Vec<u16> {
    let mut ready = Vec::new();
    for i in 0..CONCURRENT {
        let (client, _) = browser();
        let csrf = page_csrf(&client, &app.url("/login")).await;
        ready.push((client, csrf, username(i)));
    }
    let mut posts = tokio::task::JoinSet::new();
    for (client, csrf, username) in ready {
        let url = app.url("/login");
        posts.spawn(async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("username", username.as_str()),
                    ("password", "not the password at all"),
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

/// The audited password failures: (checked, refused unchecked because locked out).
async fn failures(app: &TestApp) -> (usize, usize) {
    let details: Vec<String> = app
        .db(|c| {
            Ok(audit_events::table
                .filter(audit_events::action.eq("login.failed"))
                .select(audit_events::detail)
                .load(c)?)
        })
        .await;
    let refused = details.iter().filter(|d| d.contains("\"locked\"")).count();
    (details.len() - refused, refused)
}

#[tokio::test]
async fn concurrent_guesses_are_evaluated_at_most_threshold_times() {
    let app = spawn_app_with(|f| {
        f.merge(("lockout.account_threshold", THRESHOLD))
            .merge(("lockout.lock_secs", 600))
            .merge(("lockout.ip_threshold", 1000))
    })
    .await;
    let alice = app.create_user("alice", PASSWORD).await;
    let statuses = at_once(&app, |_| "alice".into()).await;
    assert_eq!(statuses, vec![401; CONCURRENT]);
    // The right password from that source is refused: the lock held.
    let (late, _) = browser();
    assert_eq!(app.login_with(&late, "alice", PASSWORD).await.status(), 401);
    let (checked, refused) = failures(&app).await;
    assert_eq!(
        (checked, refused),
        (THRESHOLD as usize, CONCURRENT + 1 - THRESHOLD as usize),
        "only {THRESHOLD} guesses may be checked"
    );
    let (count, locked): (i32, Option<i64>) = app
        .db(move |c| {
            Ok(login_sources::table
                .filter(login_sources::user_id.eq(alice))
                .select((login_sources::failures, login_sources::locked_until))
                .first(c)?)
        })
        .await;
    assert_eq!(count, THRESHOLD);
    assert!(locked.unwrap() > portcullis::time::now() + 500);
}

#[tokio::test]
async fn concurrent_first_failures_from_one_address_all_answer_401() {
    let app = spawn_app_with(|f| f.merge(("lockout.ip_threshold", 1000))).await;
    let statuses = at_once(&app, |i| format!("nobody{i}")).await;
    assert_eq!(statuses, vec![401; CONCURRENT]);
    let counted: i32 = app
        .db(|c| {
            use portcullis::store::schema::login_throttle as t;
            Ok(t::table.find("ip:127.0.0.1").select(t::failures).first(c)?)
        })
        .await;
    assert_eq!(counted, CONCURRENT as i32);
}
