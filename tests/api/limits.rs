//! Input limits: oversized, compressed and mistyped bodies, malformed query strings.

use portcullis::store::sessions;

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn an_oversized_form_gets_413_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    let csrf = app.csrf_token().await;
    let huge = "x".repeat(70 * 1024);
    let resp = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
                ("pad", &huge),
            ],
        )
        .await;
    assert_eq!(resp.status(), 413);
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 0);
}

#[tokio::test]
async fn a_compressed_body_is_refused_with_415() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-encoding", "gzip")
        .body(vec![0x1f, 0x8b, 0x08, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

#[tokio::test]
async fn a_form_endpoint_refuses_other_content_types() {
    let app = spawn_app().await;
    let csrf = app.csrf_token().await;
    let resp = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"csrf_token\":\"{csrf}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

#[tokio::test]
async fn malformed_input_gets_a_clear_4xx_never_a_5xx() {
    let app = spawn_app().await;
    let csrf = app.csrf_token().await;
    // Invalid percent-encoding / UTF-8 in the body.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={csrf}&username=%ff%fe&password=%"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    // A very long username is just a failed sign-in.
    let long = "a".repeat(10_000);
    let resp = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", &long),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401);
    // A malformed setup token is an invalid link.
    let resp = app.get("/setup?token=%00%01").await;
    assert_eq!(resp.status(), 404);
    let resp = app.get("/setup").await;
    assert_eq!(resp.status(), 404);
}
