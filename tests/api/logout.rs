//! RP-Initiated Logout (`/end_session`).

use portcullis::store::sessions;

use crate::flow::{register, tokens_for, RpClient, REDIRECT};
use crate::helpers::{form_value, location, spawn_app, TestApp, PASSWORD};

const BYE: &str = "https://app.example.com/bye";

async fn client_with_logout(app: &TestApp) -> RpClient {
    register(
        app,
        portcullis::clients::NewClient {
            name: "Example App".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![BYE.into()],
            ..Default::default()
        },
    )
    .await
}

async fn sessions_of(app: &TestApp, user: &str) -> i64 {
    let user = user.to_owned();
    app.db(move |c| sessions::count_for_user(c, &user)).await
}

fn end_session_path(params: &[(&str, &str)]) -> String {
    format!(
        "/end_session?{}",
        serde_urlencoded::to_string(params).unwrap()
    )
}

#[tokio::test]
async fn a_matching_id_token_hint_signs_out_and_returns_to_the_client_with_state() {
    let app = spawn_app().await;
    let user = app.create_user("alice", PASSWORD).await;
    let client = client_with_logout(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    assert_eq!(sessions_of(&app, &user).await, 1);

    let resp = app
        .get(&end_session_path(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", BYE),
            ("state", "s-1"),
        ]))
        .await;

    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{BYE}?state=s-1"));
    let cookie = crate::helpers::set_cookie(resp.headers(), "portcullis_session").unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(sessions_of(&app, &user).await, 0);
    assert_eq!(app.get("/").await.status(), 303);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_never_used() {
    let app = spawn_app().await;
    let user = app.create_user("alice", PASSWORD).await;
    let client = client_with_logout(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    for uri in [
        "https://evil.example/bye",
        "https://app.example.com/bye/x",
        REDIRECT,
    ] {
        let resp = app
            .get(&end_session_path(&[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", uri),
            ]))
            .await;
        assert_eq!(resp.status(), 400, "{uri}");
        assert!(resp.headers().get("location").is_none());
    }
    // Without a client to check it against, no redirect either.
    let resp = app
        .get(&end_session_path(&[("post_logout_redirect_uri", BYE)]))
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(sessions_of(&app, &user).await, 1, "nothing was ended");
}

#[tokio::test]
async fn without_a_hint_the_user_confirms_first() {
    let app = spawn_app().await;
    let user = app.create_user("alice", PASSWORD).await;
    let client = client_with_logout(&app).await;
    app.login("alice", PASSWORD).await;

    let page = app
        .get(&end_session_path(&[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", BYE),
            ("state", "s-2"),
        ]))
        .await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://app.example.com"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<button type="submit" name="logout" value="yes">"#),
        "{html}"
    );
    assert_eq!(
        sessions_of(&app, &user).await,
        1,
        "a link alone signs nobody out"
    );

    // The confirmation needs the CSRF token.
    let forged = app
        .post_form(
            "/end_session",
            &[
                ("logout", "yes"),
                ("client_id", &client.id),
                ("post_logout_redirect_uri", BYE),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);
    assert_eq!(sessions_of(&app, &user).await, 1);

    let csrf = form_value(&html, "csrf_token").unwrap();
    let resp = app
        .post_form(
            "/end_session",
            &[
                ("csrf_token", &csrf),
                ("logout", "yes"),
                ("client_id", &client.id),
                ("post_logout_redirect_uri", BYE),
                ("state", "s-2"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{BYE}?state=s-2"));
    assert_eq!(sessions_of(&app, &user).await, 0);
}

#[tokio::test]
async fn a_hint_for_another_session_asks_for_confirmation() {
    let app = spawn_app().await;
    let user = app.create_user("alice", PASSWORD).await;
    let client = client_with_logout(&app).await;
    let old = tokens_for(&app, &client, &[]).await;
    // A new sign-in: a new session, with a new sid.
    app.login("alice", PASSWORD).await;
    let resp = app
        .get(&end_session_path(&[(
            "id_token_hint",
            old["id_token"].as_str().unwrap(),
        )]))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains(r#"name="logout" value="yes""#));
    assert_eq!(sessions_of(&app, &user).await, 1);
}

#[tokio::test]
async fn a_forged_hint_or_mismatched_client_is_refused() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let client = client_with_logout(&app).await;
    let other = client_with_logout(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let mut forged = id_token.to_owned();
    forged.truncate(forged.len() - 3);
    forged.push_str("abc");
    assert_eq!(
        app.get(&end_session_path(&[("id_token_hint", &forged)]))
            .await
            .status(),
        400
    );
    let resp = app
        .get(&end_session_path(&[
            ("id_token_hint", id_token),
            ("client_id", &other.id),
        ]))
        .await;
    assert_eq!(resp.status(), 400);
    // An access token is not an ID token.
    let resp = app
        .get(&end_session_path(&[(
            "id_token_hint",
            tokens["access_token"].as_str().unwrap(),
        )]))
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn with_no_session_the_user_is_simply_sent_back() {
    let app = spawn_app().await;
    let client = client_with_logout(&app).await;
    let resp = app
        .get(&end_session_path(&[
            ("client_id", &client.id),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), BYE);
    let page = app.get("/end_session").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("You are signed out"));
}
