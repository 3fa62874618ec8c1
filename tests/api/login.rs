//! Password sign-in through the browser form.

use portcullis::store::{sessions, users};

use crate::helpers::{location, set_cookie, spawn_app, PASSWORD};

#[tokio::test]
async fn a_user_signs_in_and_sees_the_home_page() {
    let app = spawn_app().await;
    let user_id = app.create_user("alice", PASSWORD).await;

    let resp = app.login("alice", PASSWORD).await;

    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");
    let home = app.get("/").await;
    assert_eq!(home.status(), 200);
    let body = home.text().await.unwrap();
    assert!(
        body.contains("You are signed in as <strong>alice</strong>"),
        "{body}"
    );
    let id = user_id.clone();
    assert_eq!(app.db(move |c| sessions::count_for_user(c, &id)).await, 1);
}

#[tokio::test]
async fn the_email_address_works_as_login_name_in_any_case() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let resp = app.login("ALICE@example.com", PASSWORD).await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn sign_in_returns_to_a_local_path_but_never_to_another_site() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
                ("return_to", "//evil.example/phish"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/");

    let (browser, _) = app.new_browser();
    let page = browser
        .get(app.url("/login?return_to=/somewhere%3Fx%3D1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"return_to\" value=\"/somewhere?x=1\""),
        "{page}"
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    app.create_user("bob", PASSWORD).await;
    portcullis::accounts::set_disabled(&app.store, "bob", true, portcullis::audit::Actor::Cli)
        .await
        .unwrap();

    let wrong = app.login("alice", "not the right password").await;
    let (wrong_status, wrong_body) = (wrong.status(), wrong.text().await.unwrap());
    let unknown = app.login("mallory", "not the right password").await;
    let (unknown_status, unknown_body) = (unknown.status(), unknown.text().await.unwrap());
    let disabled = app.login("bob", PASSWORD).await;
    let (disabled_status, disabled_body) = (disabled.status(), disabled.text().await.unwrap());

    assert_eq!(wrong_status, 401);
    assert_eq!(unknown_status, 401);
    assert_eq!(disabled_status, 401);
    assert!(wrong_body.contains("Invalid username or password."));
    // The pages differ only in the echoed username.
    assert_eq!(
        wrong_body.replace("alice", "X"),
        unknown_body.replace("mallory", "X")
    );
    assert_eq!(
        wrong_body.replace("alice", "X"),
        disabled_body.replace("bob", "X")
    );
    assert!(app.cookie("portcullis_session").is_none());
    assert_eq!(app.get("/").await.status(), 303);
}

#[tokio::test]
async fn the_session_cookie_has_safe_attributes_on_loopback_http() {
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;

    let resp = app.login("alice", PASSWORD).await;

    let cookie = set_cookie(resp.headers(), "portcullis_session").expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    // Plain-HTTP development on loopback: no Secure (the browser would drop it) and so no
    // __Host- prefix, which requires Secure.
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(
        !cookie.contains("Max-Age"),
        "a browser-session cookie: {cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("portcullis_session=");
    assert_eq!(value.len(), 43, "256-bit base64url token");
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_secure_and_hsts_is_sent() {
    // The app is reached over plain HTTP here, as behind a TLS-terminating proxy.
    let app = crate::helpers::spawn_app_with(|f| {
        f.merge(("issuer", "https://id.example.test"))
            .merge(("server.allow_plain_http", true))
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let page = app.get("/login").await;
    assert_eq!(
        page.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let csrf_cookie = set_cookie(page.headers(), "__Host-portcullis_csrf").expect("csrf cookie");
    assert!(csrf_cookie.contains("Secure"), "{csrf_cookie}");
    let csrf_value = csrf_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-portcullis_csrf=")
        .to_owned();
    // reqwest will not send a Secure cookie over http, so send it by hand.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("cookie", format!("__Host-portcullis_csrf={csrf_value}"))
        .form(&[
            ("csrf_token", csrf_value.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = set_cookie(resp.headers(), "__Host-portcullis_session").expect("session cookie");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"));
    assert!(
        !cookie.contains("Domain="),
        "__Host- cookies carry no Domain: {cookie}"
    );
}

#[tokio::test]
async fn a_password_hashed_with_old_parameters_is_rehashed_at_sign_in() {
    let app = spawn_app().await;
    let id = app.create_user("alice", PASSWORD).await;
    let old = portcullis::crypto::password::PasswordHasher::new(7168, 5, 1, 1)
        .unwrap()
        .hash_blocking(PASSWORD)
        .unwrap();
    let (uid, stored) = (id.clone(), old.clone());
    app.db(move |c| users::set_password_hash(c, &uid, &stored, 0))
        .await;

    assert_eq!(app.login("alice", PASSWORD).await.status(), 303);

    let uid = id.clone();
    let user = app.db(move |c| users::find_by_id(c, &uid)).await.unwrap();
    let hash = user.password_hash.unwrap();
    assert_ne!(hash, old);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}
