//! The storage layer on the configured backend: migrations, round trips, constraints and
//! concurrency.

use std::collections::BTreeSet;
use std::time::Duration;

use portcullis::accounts::{self, AccountError, NewUser};
use portcullis::audit::Actor;
use portcullis::clients::{self, NewClient};
use portcullis::crypto::{random, token, SecretString};
use portcullis::startup::{password_hasher, password_policy};
use portcullis::store::{audit, clients as client_rows, migrations, tokens, Store};

use crate::helpers::{spawn_app, TestDb, PASSWORD};

fn folder_names(backend: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!(
        "{}/migrations/{backend}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let pg = folder_names("postgres");
    assert!(!pg.is_empty());
    assert_eq!(pg, folder_names("sqlite"));
    for name in &pg {
        for file in ["up.sql", "down.sql"] {
            for backend in ["postgres", "sqlite"] {
                let path = format!(
                    "{}/migrations/{backend}/{name}/{file}",
                    env!("CARGO_MANIFEST_DIR")
                );
                assert!(std::path::Path::new(&path).is_file(), "{path}");
            }
        }
    }
}

#[tokio::test]
async fn migrations_run_up_down_and_up_again() {
    let (_db, url) = TestDb::create();
    let store = Store::connect(
        portcullis::store::DatabaseUrl::parse(&url).unwrap(),
        2,
        Duration::from_secs(5),
    )
    .unwrap();
    let applied = store.run_sync(migrations::run_pending).unwrap();
    assert!(!applied.is_empty());
    assert!(!store.run_sync(migrations::has_pending).unwrap());
    store.run_sync(migrations::revert_all).unwrap();
    assert!(store.run_sync(migrations::has_pending).unwrap());
    let again = store.run_sync(migrations::run_pending).unwrap();
    assert_eq!(applied, again);
    // The schema is usable after the round trip.
    store
        .run(|c| audit::recent(c, 10))
        .await
        .expect("audit table exists");
}

#[tokio::test]
async fn a_client_round_trips_with_only_a_hash_of_its_secret() {
    let app = spawn_app().await;
    let registered = clients::register_unchecked(
        &app.store,
        NewClient {
            name: "Example app".into(),
            redirect_uris: vec![
                "https://app.example.com/cb".into(),
                "http://127.0.0.1:9000/cb".into(),
            ],
            post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
            skip_consent: true,
            ..NewClient::default()
        },
        Actor::Cli,
    )
    .await
    .unwrap();
    let secret = registered
        .secret
        .expect("confidential clients get a secret");
    let id = registered.client.client_id.clone();

    let stored = app.db(move |c| client_rows::find(c, &id)).await.unwrap();

    assert_eq!(stored, registered.client);
    assert_eq!(
        stored.redirect_uris,
        ["https://app.example.com/cb", "http://127.0.0.1:9000/cb"]
    );
    assert_eq!(stored.grant_types, ["authorization_code", "refresh_token"]);
    assert_eq!(stored.token_endpoint_auth_method, "client_secret_basic");
    assert!(stored.skip_consent);
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(token::hash(secret.expose()).as_str())
    );
    assert!(clients::secret_matches(&stored, secret.expose()));
    assert!(!clients::secret_matches(&stored, &random::secret_token()));

    clients::remove(&app.store, &stored.client_id, Actor::Cli)
        .await
        .unwrap();
    let id = stored.client_id.clone();
    assert!(app.db(move |c| client_rows::find(c, &id)).await.is_none());
    assert!(matches!(
        clients::remove(&app.store, &stored.client_id, Actor::Cli).await,
        Err(clients::ClientError::NotFound(_))
    ));
}

#[tokio::test]
async fn usernames_and_emails_are_unique_whatever_their_case() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let hasher = password_hasher(&app.settings).unwrap();
    let policy = password_policy(&app.settings);
    let attempt = |username: &str, email: &str| NewUser {
        username: username.into(),
        email: email.into(),
        display_name: None,
        password: Some(SecretString::new(PASSWORD)),
        admin: false,
    };
    let dup_name = accounts::create(
        &app.store,
        &hasher,
        &policy,
        attempt("ALICE", "other@example.com"),
        Actor::Cli,
    )
    .await;
    assert!(
        matches!(dup_name, Err(AccountError::UsernameTaken)),
        "{dup_name:?}"
    );
    let dup_mail = accounts::create(
        &app.store,
        &hasher,
        &policy,
        attempt("alice2", "Alice@Example.com"),
        Actor::Cli,
    )
    .await;
    assert!(
        matches!(dup_mail, Err(AccountError::EmailTaken)),
        "{dup_mail:?}"
    );
    assert_eq!(accounts::list(&app.store).await.unwrap().len(), 1);
}

#[tokio::test]
async fn security_changes_leave_audit_events_without_secrets() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", "wrong password entirely").await;
    app.login("alice", PASSWORD).await;

    let events: Vec<_> = app
        .db(|c| audit::recent(c, 20))
        .await
        .into_iter()
        .filter(|e| !e.action.starts_with("key."))
        .collect();
    let actions: Vec<&str> = events.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["user.created", "login.failed", "session.started"]);
    assert!(events
        .iter()
        .all(|e| e.target.as_deref() == Some(id.as_str())));
    for e in &events {
        assert!(!e.detail.contains(PASSWORD) && !e.detail.contains("wrong password"));
    }
    assert_eq!(events[0].ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_one_time_token_is_consumed_exactly_once_under_concurrency() {
    let app = spawn_app().await;
    let hash = token::hash(&random::secret_token());
    let h = hash.clone();
    app.db(move |c| tokens::insert(c, &h, "test", None, 0, i64::MAX))
        .await;

    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let store = app.store.clone();
            let h = hash.clone();
            tokio::spawn(async move {
                store
                    .run(move |c| tokens::consume(c, &h, "test", portcullis::time::now()))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut successes = 0;
    for a in attempts {
        if a.await.unwrap().is_some() {
            successes += 1;
        }
    }
    assert_eq!(successes, 1);
}

#[tokio::test]
async fn concurrent_sign_ins_do_not_fail_with_database_locked() {
    let app = spawn_app().await;
    for i in 0..6 {
        app.create_user(&format!("user{i}"), PASSWORD).await;
    }
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (browser, _) = app.new_browser();
        let base = app.address.clone();
        tasks.push(tokio::spawn(async move {
            let csrf = crate::helpers::page_csrf(&browser, &format!("{base}/login")).await;
            browser
                .post(format!("{base}/login"))
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("username", &format!("user{i}")),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 303);
    }
    // On SQLite the writes went through the write-ahead log.
    if let Some(path) = app.settings.database.url.strip_prefix("sqlite://") {
        assert!(
            std::path::Path::new(&format!("{path}-wal")).exists(),
            "WAL mode is on"
        );
    }
}
