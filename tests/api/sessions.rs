//! Session lifecycle: fixation, logout, idle and absolute expiry, disabling.

use std::time::Duration;

use portcullis::crypto::token;
use portcullis::store::sessions;

use crate::helpers::{location, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn signing_in_again_issues_a_new_token_and_ends_the_old_session() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let first = app.cookie("portcullis_session").unwrap();

    app.login("alice", PASSWORD).await;
    let second = app.cookie("portcullis_session").unwrap();

    assert_ne!(first, second);
    let old_hash = token::hash(&first);
    assert!(!app.db(move |c| sessions::exists(c, &old_hash)).await);
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 1);
}

#[tokio::test]
async fn a_planted_session_cookie_never_becomes_authenticated() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let planted = portcullis::crypto::random::secret_token();
    let url = reqwest::Url::parse(&app.address).unwrap();
    app.jar
        .add_cookie_str(&format!("portcullis_session={planted}"), &url);

    app.login("alice", PASSWORD).await;

    assert_ne!(app.cookie("portcullis_session").unwrap(), planted);
    let planted_hash = token::hash(&planted);
    assert!(!app.db(move |c| sessions::exists(c, &planted_hash)).await);
}

#[tokio::test]
async fn the_database_holds_only_a_hash_of_the_session_token() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let cookie = app.cookie("portcullis_session").unwrap();
    let expected = token::hash(&cookie);
    let hash = expected.clone();
    assert!(app.db(move |c| sessions::exists(c, &hash)).await);
    let cookie_as_key = cookie.clone();
    assert!(!app.db(move |c| sessions::exists(c, &cookie_as_key)).await);
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 1);
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let token = app.cookie("portcullis_session").unwrap();
    let home = app.get("/").await.text().await.unwrap();
    let csrf = crate::helpers::form_value(&home, "csrf_token").unwrap();

    let resp = app.post_form("/logout", &[("csrf_token", &csrf)]).await;

    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 0);
    // Replaying the old cookie from another client gets nowhere.
    let (browser, _) = app.new_browser();
    let replay = browser
        .get(app.url("/"))
        .header("cookie", format!("portcullis_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert_eq!(location(&replay), "/login");
}

#[tokio::test]
async fn an_idle_session_expires_after_the_configured_timeout() {
    let app = spawn_app_with(|f| f.merge(("session.idle_timeout_secs", 2))).await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    assert_eq!(app.get("/").await.status(), 200);

    tokio::time::sleep(Duration::from_millis(3500)).await;

    let resp = app.get("/").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/login");
}

#[tokio::test]
async fn activity_keeps_a_session_alive_until_its_absolute_lifetime() {
    let app = spawn_app_with(|f| {
        f.merge(("session.idle_timeout_secs", 3))
            .merge(("session.absolute_lifetime_secs", 5))
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    // Used every second: the 3 s idle limit never hits...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(app.get("/").await.status(), 200);
    }
    // ...but 5 s after sign-in the session is over regardless.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.get("/").await.status(), 303);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    assert_eq!(app.get("/").await.status(), 200);

    portcullis::accounts::set_disabled(&app.store, "alice", true, portcullis::audit::Actor::Cli)
        .await
        .unwrap();

    assert_eq!(app.get("/").await.status(), 303);
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 0);
}

#[tokio::test]
async fn expired_sessions_are_purged_in_the_background() {
    let app = spawn_app_with(|f| {
        f.merge(("session.idle_timeout_secs", 1))
            .merge(("session.purge_interval_secs", 1))
    })
    .await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 1);

    tokio::time::sleep(Duration::from_millis(3500)).await;

    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 0);
}
