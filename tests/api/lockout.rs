//! Brute-force protection: account lock-out with back-off, per-IP throttling, unlock.

use std::time::Duration;

use portcullis::store::users;

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};

async fn lockable(threshold: u32, lock_secs: u64, ip_threshold: u32) -> TestApp {
    spawn_app_with(move |f| {
        f.merge(("lockout.account_threshold", threshold))
            .merge(("lockout.lock_secs", lock_secs))
            .merge(("lockout.ip_threshold", ip_threshold))
            .merge(("lockout.ip_window_secs", 4))
    })
    .await
}

async fn attempt(app: &TestApp, username: &str, password: &str) -> (u16, String) {
    let resp = app.login(username, password).await;
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test]
async fn an_account_locks_after_the_threshold_and_the_answer_does_not_say_so() {
    let app = lockable(3, 60, 1000).await;
    let id = app.create_user("alice", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(attempt(&app, "alice", "wrong password here").await.0, 401);
    }
    let uid = id.clone();
    let user = app.db(move |c| users::find_by_id(c, &uid)).await.unwrap();
    assert_eq!(user.failed_logins, 3);
    // The lock is this address's, for this account (the account itself never locks).
    let uid = id.clone();
    let locks = app.db(move |c| source_locks(c, &uid)).await;
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].0, "ip:127.0.0.1");
    assert!(locks[0].1.unwrap() > portcullis::time::now() + 50);

    // The right password is refused now, with exactly the wrong-password answer.
    let (locked_status, locked_body) = attempt(&app, "alice", PASSWORD).await;
    let (wrong_status, wrong_body) = attempt(&app, "alice", "wrong password here").await;
    let (unknown_status, unknown_body) = attempt(&app, "nobody", "wrong password here").await;
    assert_eq!(
        (locked_status, wrong_status, unknown_status),
        (401, 401, 401)
    );
    assert_eq!(locked_body, wrong_body);
    assert_eq!(
        locked_body.replace("alice", "X"),
        unknown_body.replace("nobody", "X")
    );
    assert!(app.cookie("portcullis_session").is_none());
    // Failures during the lock do not extend it.
    let uid = id.clone();
    assert_eq!(
        app.db(move |c| users::find_by_id(c, &uid))
            .await
            .unwrap()
            .failed_logins,
        3
    );

    // The operator unlocks the account.
    let out = app.cli(&["user", "unlock", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(attempt(&app, "alice", PASSWORD).await.0, 303);
    let uid = id.clone();
    let user = app.db(move |c| users::find_by_id(c, &uid)).await.unwrap();
    assert_eq!((user.failed_logins, user.locked_until), (0, None));
    let uid = id.clone();
    assert!(app.db(move |c| source_locks(c, &uid)).await.is_empty());
}

/// The sources with failures for the account, and their locks.
fn source_locks(
    c: &mut portcullis::store::DbConn,
    user_id: &str,
) -> Result<Vec<(String, Option<i64>)>, portcullis::store::StoreError> {
    use diesel::prelude::*;
    use portcullis::store::schema::login_sources as s;
    Ok(s::table
        .filter(s::user_id.eq(user_id))
        .select((s::source, s::locked_until))
        .load(c)?)
}

#[tokio::test]
async fn a_lock_expires_by_itself_and_a_success_resets_the_count() {
    let app = lockable(2, 2, 1000).await;
    let id = app.create_user("alice", PASSWORD).await;
    attempt(&app, "alice", "wrong password here").await;
    assert_eq!(
        attempt(&app, "alice", PASSWORD).await.0,
        303,
        "one failure is below the threshold"
    );
    let uid = id.clone();
    assert_eq!(
        app.db(move |c| users::find_by_id(c, &uid))
            .await
            .unwrap()
            .failed_logins,
        0
    );

    for _ in 0..2 {
        attempt(&app, "alice", "wrong password here").await;
    }
    assert_eq!(attempt(&app, "alice", PASSWORD).await.0, 401, "locked");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        attempt(&app, "alice", PASSWORD).await.0,
        303,
        "the lock has expired"
    );
}

#[tokio::test]
async fn an_address_that_keeps_failing_is_throttled_whatever_the_username() {
    let app = lockable(100, 60, 4).await;
    app.create_user("alice", PASSWORD).await;
    for name in ["a1", "a2", "a3", "a4"] {
        assert_eq!(attempt(&app, name, "wrong password here").await.0, 401);
    }
    let (status, body) = attempt(&app, "alice", PASSWORD).await;
    assert_eq!(status, 429);
    assert!(body.contains("Too many failed sign-in attempts"), "{body}");
    assert!(app.cookie("portcullis_session").is_none());
    // When the window is over, the address may try again.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(attempt(&app, "alice", PASSWORD).await.0, 303);
}

#[test]
fn unlocking_an_unknown_user_is_a_usage_error() {
    let (_db, url) = crate::helpers::TestDb::create();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["user", "unlock", "nobody"])
        .env("PORTCULLIS__DATABASE__URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));
}
