//! The client address and scheme behind reverse proxies (`server.trusted_proxies`): forwarding
//! headers count only from a trusted peer, read right to left; throttles, audit and sessions
//! all see the one resolved address.

use std::sync::Arc;

use portcullis::store::audit;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::helpers::{page_csrf, spawn_app_with, TestApp, PASSWORD};

const WRONG: &str = "wrong password here";

/// Header lines to send, in order: (name, raw value).
type Lines<'a> = &'a [(&'a str, &'a [u8])];

/// An app that throttles an address after `ip_threshold` failures (accounts never lock),
/// with `trusted` as its trusted proxies.
async fn app_trusting(trusted: &[&str]) -> TestApp {
    let trusted: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
    let app = spawn_app_with(move |f| {
        f.merge(("server.trusted_proxies", trusted))
            .merge(("lockout.account_threshold", 100))
            .merge(("lockout.ip_threshold", 3))
            .merge(("lockout.ip_window_secs", 600))
    })
    .await;
    app.create_user("alice", PASSWORD).await;
    app
}

/// A fresh browser (own cookies) whose every request carries `headers`.
fn browser_sending(headers: Lines<'_>) -> reqwest::Client {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    reqwest::Client::builder()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(map)
        .build()
        .unwrap()
}

/// Signs in as alice from a fresh browser whose sign-in request carries `headers` (each
/// entry one header line); the status.
async fn sign_in(app: &TestApp, headers: Lines<'_>, password: &str) -> u16 {
    let (browser, _) = app.new_browser();
    let csrf = page_csrf(&browser, &app.url("/login")).await;
    let mut request = browser.post(app.url("/login")).form(&[
        ("csrf_token", csrf.as_str()),
        ("username", "alice"),
        ("password", password),
    ]);
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    request.send().await.unwrap().status().as_u16()
}

/// The `ip` of the audit events with `action`, oldest first.
async fn audited_ips(app: &TestApp, action: &'static str) -> Vec<Option<String>> {
    let events = app.db(|c| audit::recent(c, 200)).await;
    events
        .into_iter()
        .rev()
        .filter(|e| e.action == action)
        .map(|e| e.ip)
        .collect()
}

/// The address of the newest sign-in: signs in as alice with `headers`, then reads the audit.
async fn resolved_address(app: &TestApp, headers: Lines<'_>) -> String {
    assert_eq!(sign_in(app, headers, PASSWORD).await, 303);
    audited_ips(app, "session.started")
        .await
        .pop()
        .flatten()
        .expect("the sign-in recorded an address")
}

#[tokio::test]
async fn spoofed_forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = app_trusting(&[]).await;
    for i in 1..=3 {
        let xff = format!("198.51.100.{i}");
        let fwd = format!("for=198.51.100.{i}");
        let headers: [(&str, &[u8]); 2] = [
            ("x-forwarded-for", xff.as_bytes()),
            ("forwarded", fwd.as_bytes()),
        ];
        assert_eq!(sign_in(&app, &headers, WRONG).await, 401);
    }
    // Every failure counted against the real peer: a fourth "client" is throttled too.
    let fresh: [(&str, &[u8]); 1] = [("x-forwarded-for", b"203.0.113.50")];
    assert_eq!(sign_in(&app, &fresh, PASSWORD).await, 429);
    assert_eq!(
        audited_ips(&app, "login.failed").await,
        vec![Some("127.0.0.1".to_owned()); 3]
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_throttle() {
    let app = app_trusting(&["127.0.0.1/32"]).await;
    let mallory: [(&str, &[u8]); 1] = [("x-forwarded-for", b"198.51.100.7")];
    for _ in 0..3 {
        assert_eq!(sign_in(&app, &mallory, WRONG).await, 401);
    }
    assert_eq!(sign_in(&app, &mallory, PASSWORD).await, 429, "throttled");

    // Alice, behind the same proxy, still signs in; so does a client named by Forwarded.
    let alice: [(&str, &[u8]); 1] = [("x-forwarded-for", b"203.0.113.9")];
    assert_eq!(resolved_address(&app, &alice).await, "203.0.113.9");
    let bob: [(&str, &[u8]); 1] = [("forwarded", b"for=\"[2001:db8:cafe::17]:4711\"")];
    assert_eq!(resolved_address(&app, &bob).await, "2001:db8:cafe::17");
    assert_eq!(
        audited_ips(&app, "login.failed").await,
        vec![Some("198.51.100.7".to_owned()); 3]
    );
    // The session list shows the forwarded address too.
    let ips: Vec<Option<String>> = app
        .db(|c| {
            use diesel::prelude::*;
            use portcullis::store::schema::sessions as s;
            Ok(s::table.select(s::ip).order(s::created_at).load(c)?)
        })
        .await;
    assert!(ips.contains(&Some("203.0.113.9".to_owned())), "{ips:?}");
    assert!(
        ips.contains(&Some("2001:db8:cafe::17".to_owned())),
        "{ips:?}"
    );
}

#[tokio::test]
async fn hops_are_read_right_to_left_skipping_trusted_proxies() {
    let app = app_trusting(&["127.0.0.1/32", "10.0.0.0/8"]).await;
    // The client prepended a lie; the proxies (10.x, then the peer) appended the truth.
    let cases: [(Lines<'_>, &str); 5] = [
        (
            &[("x-forwarded-for", b"6.6.6.6, 192.0.2.44, 10.1.2.3")],
            "192.0.2.44",
        ),
        // Several header lines are one list, in order.
        (
            &[
                ("x-forwarded-for", b"6.6.6.6"),
                ("x-forwarded-for", b"192.0.2.45"),
                ("x-forwarded-for", b"10.1.2.3"),
            ],
            "192.0.2.45",
        ),
        // Every hop trusted: the leftmost.
        (&[("x-forwarded-for", b"10.9.9.9, 10.1.2.3")], "10.9.9.9"),
        // Forwarded, and X-Forwarded-For agreeing with it.
        (
            &[
                (
                    "forwarded",
                    b"for=6.6.6.6, for=192.0.2.46;proto=https, for=10.0.0.2",
                ),
                ("x-forwarded-for", b"7.7.7.7, 192.0.2.46"),
            ],
            "192.0.2.46",
        ),
        (
            &[("forwarded", b"for=\"[::ffff:192.0.2.47]\"")],
            "192.0.2.47",
        ),
    ];
    for (headers, want) in cases {
        assert_eq!(resolved_address(&app, headers).await, want, "{headers:?}");
    }
}

#[tokio::test]
async fn malformed_forwarding_headers_leave_the_peer_as_the_client() {
    let app = app_trusting(&["127.0.0.1/32"]).await;
    let cases: [Lines<'_>; 9] = [
        &[("x-forwarded-for", b"not-an-address")],
        &[("x-forwarded-for", b"192.0.2.1 192.0.2.2")],
        &[("x-forwarded-for", b"\xff\xfe192.0.2.1")],
        &[("x-forwarded-for", b"")],
        &[("forwarded", b"for=unknown")],
        &[("forwarded", b"for=_hidden;proto=https")],
        &[("forwarded", b"for=\"192.0.2.1")],
        // The two headers disagree (a proxy appending one passes the other through from
        // the client): neither is believed.
        &[("forwarded", b"for"), ("x-forwarded-for", b"192.0.2.3")],
        &[
            ("forwarded", b"for=192.0.2.9"),
            ("x-forwarded-for", b"192.0.2.3"),
        ],
    ];
    for headers in cases {
        assert_eq!(
            resolved_address(&app, headers).await,
            "127.0.0.1",
            "{headers:?}"
        );
    }
}

/// An app with an https issuer behind a proxy at 127.0.0.1, trusted or not.
async fn https_app(trusted: bool) -> TestApp {
    let trusted: Vec<&str> = if trusted { vec!["127.0.0.1"] } else { vec![] };
    spawn_app_with(move |f| {
        f.merge(("issuer", "https://id.example.test"))
            .merge(("server.allow_plain_http", true))
            .merge(("server.trusted_proxies", trusted))
    })
    .await
}

#[tokio::test]
async fn a_trusted_proxy_reporting_plain_http_gets_a_redirect_to_https() {
    let app = https_app(true).await;
    let http = browser_sending(&[("x-forwarded-proto", b"http")]);
    let resp = http.get(app.url("/login?x=1")).send().await.unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(
        resp.headers()["location"],
        "https://id.example.test/login?x=1"
    );
    assert!(resp.headers().get("strict-transport-security").is_none());
    let post = http
        .post(app.url("/login"))
        .form(&[("username", "alice")])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 400);
    let forwarded = browser_sending(&[("forwarded", b"for=192.0.2.1;proto=http")]);
    let resp = forwarded.get(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), 308);

    let probe = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(probe.status(), 200, "health checks are answered over http");

    let https = browser_sending(&[("x-forwarded-proto", b"https")]);
    let resp = https.get(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("strict-transport-security").is_some());
}

#[tokio::test]
async fn x_forwarded_proto_from_an_untrusted_peer_is_ignored() {
    let app = https_app(false).await;
    let http = browser_sending(&[("x-forwarded-proto", b"http")]);
    let resp = http.get(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("strict-transport-security").is_some());
}
