//! What anyone can make Portcullis do without signing in is bounded: mail per address and
//! per client address (the answer never changes), passkey ceremony starts (429), and
//! pending authorization requests (short-lived, capped per client address).

use diesel::prelude::*;
use portcullis::crypto::token;
use portcullis::store::schema::{authorization_requests as r, webauthn_ceremonies as w};
use serde_json::json;

use crate::flow::{auth_params, authorize_path, confidential, sign_in_for_request};
use crate::helpers::{location, spawn_app_on_localhost_with, spawn_app_with, PASSWORD};
use crate::passkey_login::post_json;
use crate::reset::request_reset;
use crate::signup::sign_up;
use crate::smtp_sink::{mail_to, SmtpSink};

#[tokio::test]
async fn mail_to_one_address_stops_at_its_limit_and_the_answer_stays_the_same() {
    let sink = SmtpSink::start();
    let mail = mail_to(&sink);
    let app = spawn_app_with(move |f| {
        mail(f)
            .merge(("signup.enabled", true))
            .merge(("limits.mails_per_address", 2))
    })
    .await;
    app.create_user("bob", PASSWORD).await;

    // 1: the confirmation; 2: sent again through /reset; then nothing more to carol.
    let first = sign_up(&app, "carol", "carol@example.com", PASSWORD).await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(request_reset(&app, "carol@example.com").await);
    }
    let again = sign_up(&app, "carol2", "carol@example.com", PASSWORD).await;
    assert_eq!(first.0, 200);
    assert_eq!(again.0, 200);
    assert_eq!(
        first
            .1
            .replace("carol@example.com", "X")
            .replace("carol", "N"),
        again
            .1
            .replace("carol@example.com", "X")
            .replace("carol2", "N")
    );
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "identical answers"
    );
    assert_eq!(answers[0].0, 200);

    // Mail leaves in order: once bob's arrives, anything queued for carol before it has too.
    request_reset(&app, "bob").await;
    let mails = sink.wait_for(3).await;
    assert!(mails[2].contains("To: bob@example.com"), "{}", mails[2]);
    let to_carol = mails
        .iter()
        .filter(|m| m.contains("To: carol@example.com"))
        .count();
    assert_eq!(to_carol, 2, "{mails:?}");
    assert_eq!(sink.count(), 3);
}

#[tokio::test]
async fn requests_from_one_client_address_stop_sending_at_its_limit() {
    let sink = SmtpSink::start();
    let mail = mail_to(&sink);
    let app = spawn_app_with(move |f| mail(f).merge(("limits.requests_per_source", 3))).await;
    for name in ["u1", "u2", "u3", "u4"] {
        app.create_user(name, PASSWORD).await;
    }
    let mut answers = Vec::new();
    for name in ["u1", "u2", "u3", "u4"] {
        answers.push(request_reset(&app, name).await);
    }
    assert!(answers.iter().all(|a| *a == answers[0] && a.0 == 200));
    let mails = sink.wait_for(3).await;
    assert!(mails.iter().all(|m| !m.contains("To: u4@example.com")));
    // The fourth request issued no link at all, so no mail can follow.
    let u4 = app
        .db(|c| portcullis::store::users::find_by_username(c, "u4"))
        .await
        .unwrap()
        .id;
    let links: i64 = app
        .db(move |c| {
            use portcullis::store::schema::one_time_tokens as t;
            Ok(t::table.filter(t::user_id.eq(u4)).count().get_result(c)?)
        })
        .await;
    assert_eq!(links, 0);
}

#[tokio::test]
async fn passkey_ceremony_starts_beyond_the_limit_get_429() {
    let app = spawn_app_on_localhost_with(|f| f.merge(("limits.ceremonies_per_source", 3))).await;
    let body = json!({ "return_to": "/", "request": "" });
    for _ in 0..3 {
        let resp = post_json(&app, "/login/passkey/begin", &body).await;
        assert_eq!(resp.status(), 200);
    }
    let resp = post_json(&app, "/login/passkey/begin", &body).await;
    assert_eq!(resp.status(), 429);
    let stored: i64 = app.db(|c| Ok(w::table.count().get_result(c)?)).await;
    assert_eq!(stored, 3, "a refused start stores nothing");
}

#[tokio::test]
async fn passkey_ceremonies_for_one_account_are_bounded_too() {
    let app = spawn_app_on_localhost_with(|f| f.merge(("limits.ceremonies_per_user", 2))).await;
    app.create_user("alice", PASSWORD).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    // Alice has no passkey: each start is refused as such, but counts.
    for _ in 0..2 {
        let resp = post_json(&app, "/account/passkeys/remove/begin", &json!({})).await;
        assert_eq!(resp.status(), 400);
    }
    let resp = post_json(&app, "/account/passkeys/remove/begin", &json!({})).await;
    assert_eq!(resp.status(), 429);
    // A passwordless start names no account, so it is not counted against hers.
    let resp = post_json(&app, "/login/passkey/begin", &json!({})).await;
    assert_eq!(resp.status(), 200);
}

/// The pending request id from a redirect to the login page.
fn request_id(resp: &reqwest::Response) -> String {
    let loc = location(resp);
    loc.strip_prefix("/login?request=")
        .unwrap_or_else(|| panic!("not the login page: {loc}"))
        .to_owned()
}

/// (lifetime, source) of a stored request, or None when it is gone.
async fn stored(app: &crate::helpers::TestApp, id: &str) -> Option<(i64, Option<String>)> {
    let hash = token::hash(id);
    app.db(move |c| {
        Ok(r::table
            .find(hash)
            .select((r::expires_at - r::created_at, r::source))
            .first(c)
            .optional()?)
    })
    .await
}

#[tokio::test]
async fn pending_requests_before_sign_in_are_short_lived_and_capped_per_source() {
    let app = spawn_app_with(|f| f.merge(("oauth.max_pending_requests_per_source", 3))).await;
    app.create_user("alice", PASSWORD).await;
    let client = confidential(&app).await;
    let path = authorize_path(&auth_params(&client, &[]));
    let (anonymous, _) = app.new_browser();

    let first = request_id(&anonymous.get(app.url(&path)).send().await.unwrap());
    // Older than the ones that follow (they may all start within one second).
    app.db(|c| {
        Ok(diesel::update(r::table)
            .set(r::created_at.eq(r::created_at - 10))
            .execute(c)?)
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(request_id(
            &anonymous.get(app.url(&path)).send().await.unwrap(),
        ));
    }
    assert_eq!(stored(&app, &first).await, None, "the oldest was dropped");
    for id in &ids {
        assert_eq!(
            stored(&app, id).await,
            Some((600, Some("127.0.0.1".into()))),
            "expires within minutes"
        );
    }
    let total: i64 = app.db(|c| Ok(r::table.count().get_result(c)?)).await;
    assert_eq!(total, 3);
    let gone = anonymous
        .get(app.url(&format!("/authorize/continue?request={first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 400);

    // Signing in for the newest gives it the normal lifetime and takes it off the cap.
    let newest = ids.last().unwrap().clone();
    let resp = sign_in_for_request(&app, &newest, "alice", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let resp = app.get(&location(&resp)).await;
    assert_eq!(resp.status(), 303);
    assert!(
        location(&resp).starts_with("/consent"),
        "{}",
        location(&resp)
    );
    assert_eq!(stored(&app, &newest).await, Some((1800, None)));

    // A signed-in browser's requests never count against the cap.
    let resp = app
        .get(&authorize_path(&auth_params(
            &client,
            &[("prompt", "consent")],
        )))
        .await;
    assert!(
        location(&resp).starts_with("/consent"),
        "{}",
        location(&resp)
    );
    let id = location(&resp).split("request=").nth(1).unwrap().to_owned();
    assert_eq!(stored(&app, &id).await, Some((1800, None)));
}

#[tokio::test]
async fn concurrent_first_hits_on_a_counter_all_count_once() {
    let app = spawn_app_with(|f| f).await;
    // The current time: the purge job deletes counters whose window is long over.
    let now = portcullis::time::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = app.store.clone();
            tokio::spawn(async move {
                store
                    .run(move |c| {
                        portcullis::store::transaction(c, |c| {
                            portcullis::store::rate_counters::hit(c, "test:race", now, 3600)
                        })
                    })
                    .await
            })
        })
        .collect();
    let mut counts: Vec<i32> = Vec::new();
    for task in tasks {
        let hit: Result<i32, portcullis::store::StoreError> = task.await.unwrap();
        counts.push(hit.expect("no conflict error"));
    }
    counts.sort_unstable();
    let stored: i32 = app
        .db(|c| {
            use portcullis::store::schema::rate_counters as rc;
            Ok(rc::table.select(rc::hits).first(c)?)
        })
        .await;
    assert_eq!(stored, 20, "{counts:?}");
    assert_eq!(counts, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn email_change_links_to_one_address_stop_at_its_limit() {
    let sink = SmtpSink::start();
    let mail = mail_to(&sink);
    let app = spawn_app_with(move |f| mail(f).merge(("limits.mails_per_address", 2))).await;
    app.create_user("alice", PASSWORD).await;
    app.create_user("bob", PASSWORD).await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);
    let mut answers = Vec::new();
    for _ in 0..4 {
        let resp = crate::email_change::request_change(&app, "target@example.org", PASSWORD).await;
        answers.push((resp.status().as_u16(), location(&resp)));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0], (303, "/account?email_sent=1".to_owned()));

    // Two links (each with a notice to alice's own address), then bob's reset link last.
    request_reset(&app, "bob").await;
    let mails = sink.wait_for(5).await;
    assert!(mails[4].contains("To: bob@example.com"), "{}", mails[4]);
    let to_target = mails
        .iter()
        .filter(|m| m.contains("To: target@example.org"))
        .count();
    assert_eq!(to_target, 2);
}
