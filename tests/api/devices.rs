//! Known devices: the device cookie and the "new sign-in" notice.

use diesel::prelude::*;
use portcullis::store::schema::known_devices as d;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::Url;

use crate::helpers::{set_cookie, spawn_app_with, TestApp, PASSWORD};
use crate::smtp_sink::{mail_to, SmtpSink};

const NEW_DEVICE: &str = "Subject: New sign-in to your account";

async fn known_devices(app: &TestApp, id: &str) -> i64 {
    let id = id.to_owned();
    app.db(move |c| Ok(d::table.filter(d::user_id.eq(id)).count().get_result(c)?))
        .await
}

/// The value of the device cookie a response sets.
fn device_cookie(resp: &reqwest::Response) -> String {
    let cookie = set_cookie(resp.headers(), "portcullis_device").expect("device cookie");
    cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("portcullis_device=")
        .to_owned()
}

/// A browser that already holds `cookie` as its device cookie.
fn browser_with_device_cookie(app: &TestApp, cookie: &str) -> reqwest::Client {
    let jar = std::sync::Arc::new(Jar::default());
    let url = Url::parse(&app.address).unwrap();
    jar.add_cookie_str(&format!("portcullis_device={cookie}; Path=/"), &url);
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_first_sign_in_sets_a_long_lived_device_cookie_and_sends_nothing() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    let id = app.create_user("alice", PASSWORD).await;

    let resp = app.login("alice", PASSWORD).await;

    assert_eq!(resp.status(), 303);
    let cookie = set_cookie(resp.headers(), "portcullis_device").expect("device cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(cookie.contains("Max-Age=34560000"), "400 days: {cookie}");
    assert_eq!(device_cookie(&resp).len(), 43, "256-bit base64url token");
    sink.assert_no_more_mail(&app, 0).await;
    assert_eq!(known_devices(&app, &id).await, 1);
}

#[tokio::test]
async fn signing_in_again_from_the_same_browser_sends_nothing() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    let id = app.create_user("alice", PASSWORD).await;
    let first = app.login("alice", PASSWORD).await;

    let second = app.login("alice", PASSWORD).await;

    assert_eq!(second.status(), 303);
    assert_eq!(device_cookie(&first), device_cookie(&second));
    sink.assert_no_more_mail(&app, 0).await;
    assert_eq!(known_devices(&app, &id).await, 1);
}

#[tokio::test]
async fn a_sign_in_from_a_new_browser_is_announced_once() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    let id = app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;
    let (other, other_jar) = app.new_browser();

    let resp = app.login_with(&other, "alice", PASSWORD).await;

    assert_eq!(resp.status(), 303);
    let mail = sink.wait_for(1).await.remove(0);
    assert!(mail.contains("To: alice@example.com\r\n"), "{mail}");
    assert!(mail.contains(NEW_DEVICE), "{mail}");
    assert!(mail.contains("127.0.0.1"), "names the address: {mail}");
    // The same new browser again (signed in, so its login page has no form): known now.
    let url = Url::parse(&app.address).unwrap();
    let cookies = other_jar.cookies(&url).unwrap();
    let csrf = cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("portcullis_csrf="))
        .unwrap()
        .to_owned();
    let again = other
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    sink.assert_no_more_mail(&app, 1).await;
    assert_eq!(known_devices(&app, &id).await, 2);
}

#[tokio::test]
async fn a_forged_or_malformed_device_cookie_counts_as_a_new_browser() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    app.create_user("alice", PASSWORD).await;
    app.login("alice", PASSWORD).await;

    let forged = portcullis::crypto::random::secret_token();
    let browser = browser_with_device_cookie(&app, &forged);
    let resp = app.login_with(&browser, "alice", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    let mails = sink.wait_for(1).await;
    assert!(mails[0].contains(NEW_DEVICE), "{}", mails[0]);

    let browser = browser_with_device_cookie(&app, "junk");
    let resp = app.login_with(&browser, "alice", PASSWORD).await;
    assert_eq!(resp.status(), 303);
    assert_ne!(device_cookie(&resp), "junk", "replaced by a real token");
    assert_eq!(device_cookie(&resp).len(), 43);
    let mails = sink.wait_for(2).await;
    assert!(mails[1].contains(NEW_DEVICE), "{}", mails[1]);
    sink.assert_no_more_mail(&app, 2).await;
}

#[tokio::test]
async fn over_https_the_device_cookie_is_host_prefixed_and_secure() {
    let app = spawn_app_with(|f| {
        f.merge(("issuer", "https://id.example.test"))
            .merge(("server.allow_plain_http", true))
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    let page = app.get("/login").await;
    let csrf = set_cookie(page.headers(), "__Host-portcullis_csrf").expect("csrf cookie");
    let csrf = csrf
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("__Host-portcullis_csrf=")
        .to_owned();
    // reqwest will not send a Secure cookie over http, so send it by hand.
    let resp = app
        .client
        .post(app.url("/login"))
        .header("cookie", format!("__Host-portcullis_csrf={csrf}"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 303);
    let cookie = set_cookie(resp.headers(), "__Host-portcullis_device").expect("device cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain="), "{cookie}");
}
