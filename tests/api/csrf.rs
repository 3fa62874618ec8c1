//! Every state-changing form refuses a request without the right CSRF token (403) and
//! changes nothing.

use portcullis::store::{roles, sessions, users};

use crate::helpers::{form_value, spawn_app, PASSWORD};

#[tokio::test]
async fn login_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    let good = app.csrf_token().await;

    let missing = app
        .post_form("/login", &[("username", "alice"), ("password", PASSWORD)])
        .await;
    let wrong = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &portcullis::crypto::random::secret_token()),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let doubled = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &good),
                ("csrf_token", "x"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;

    for resp in [missing, wrong, doubled] {
        assert_eq!(resp.status(), 403);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    assert!(app.cookie("portcullis_session").is_none());
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 0);
}

#[tokio::test]
async fn a_token_without_its_cookie_is_refused() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let token = app.csrf_token().await;
    // An attacker's page can copy a token but its request carries the victim's cookies,
    // not the attacker's; a fresh browser stands in for that mismatch.
    let (other, _) = app.new_browser();
    let resp = other
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn a_form_posted_from_another_origin_is_refused_even_with_a_token() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let token = app.csrf_token().await;
    let resp = app
        .client
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(app.cookie("portcullis_session").is_none());

    // Browsers mark cross-site requests; those are refused whatever they carry.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(app.cookie("portcullis_session").is_none());

    // `Origin: null` is what browsers send under Referrer-Policy: no-referrer; the token
    // then decides.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("csrf_token", "wrong"),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // The same form from our own origin passes.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("origin", app.address.as_str())
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn logout_without_a_token_leaves_the_session_alive() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;

    let resp = app.post_form("/logout", &[]).await;

    assert_eq!(resp.status(), 403);
    assert_eq!(app.get("/").await.status(), 200);
    let uid = id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &uid)).await, 1);
}

#[tokio::test]
async fn setup_without_a_token_creates_nobody_and_keeps_the_link_valid() {
    let app = spawn_app().await;
    let url = app.setup_url.clone().expect("setup url");
    let setup_token = url.split("token=").nth(1).unwrap().to_owned();
    app.client.get(&url).send().await.unwrap();

    let resp = app
        .post_form(
            "/setup",
            &[
                ("token", &setup_token),
                ("username", "root"),
                ("email", "root@example.com"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;

    assert_eq!(resp.status(), 403);
    assert!(app.db(users::list).await.is_empty());
    assert_eq!(
        app.db(|c| roles::count_members(c, roles::SUPER_ADMIN, portcullis::time::now()))
            .await,
        0
    );
    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(form_value(&page.text().await.unwrap(), "token").is_some());
}

#[tokio::test]
async fn the_csrf_token_changes_at_sign_in() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let before = app.csrf_token().await;
    app.login("alice", PASSWORD).await;
    let home = app.get("/").await.text().await.unwrap();
    let after = form_value(&home, "csrf_token").unwrap();
    assert_ne!(before, after);
    assert_eq!(app.cookie("portcullis_csrf").unwrap(), after);
}
