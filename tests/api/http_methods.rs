//! HTTP method semantics (RFC 9110 §9): `HEAD` answers wherever `GET` does, with the same
//! status and headers and no body; any other method a path does not answer gets 405 with an
//! exact `Allow` header (a page for browsers, a problem document for API clients); unknown
//! paths stay 404 whatever the method, and so do the paths of features that are off. A GET
//! with side effects (`WITH_EFFECTS`) answers HEAD with 204 and does nothing.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp};
use crate::registration::INITIAL;

/// Every feature on, so every route is mounted.
async fn app_with_registration() -> TestApp {
    spawn_app_with(|f| {
        f.merge(("registration.enabled", true))
            .merge(("registration.initial_access_token", INITIAL))
            .merge(("signup.enabled", true))
    })
    .await
}

/// Every route and the `Allow` header it must send: kept by hand, so a route that gains or
/// loses a method shows up here.
const ROUTES: &[(&str, &str)] = &[
    ("/", "GET, HEAD"),
    ("/login", "GET, HEAD, POST"),
    ("/login/mfa", "GET, HEAD, POST"),
    ("/login/mfa/enroll", "POST"),
    ("/login/mfa/start", "GET, HEAD"),
    ("/login/mfa/passkey/begin", "POST"),
    ("/login/mfa/passkey/finish", "POST"),
    ("/login/passkey/begin", "POST"),
    ("/login/passkey/finish", "POST"),
    ("/logout", "POST"),
    ("/signup", "GET, HEAD, POST"),
    ("/signup/confirm", "GET, HEAD, POST"),
    ("/reset", "GET, HEAD, POST"),
    ("/reset/confirm", "GET, HEAD, POST"),
    ("/account", "GET, HEAD"),
    ("/account/password", "POST"),
    ("/account/email", "POST"),
    ("/account/profile", "GET, HEAD, POST"),
    ("/account/email/confirm", "GET, HEAD, POST"),
    ("/account/sessions/end", "POST"),
    ("/account/security", "GET, HEAD"),
    ("/account/totp/begin", "POST"),
    ("/account/totp/confirm", "POST"),
    ("/account/totp/remove", "POST"),
    ("/account/recovery", "POST"),
    ("/account/recovery/first", "POST"),
    ("/account/passkeys", "GET, HEAD"),
    ("/account/passkeys/register/begin", "POST"),
    ("/account/passkeys/register/finish", "POST"),
    ("/account/passkeys/remove", "POST"),
    ("/account/passkeys/remove/begin", "POST"),
    ("/account/passkeys/remove/finish", "POST"),
    ("/setup", "GET, HEAD, POST"),
    ("/healthz", "GET, HEAD"),
    ("/readyz", "GET, HEAD"),
    ("/static/portcullis.css", "GET, HEAD"),
    ("/.well-known/openid-configuration", "GET, HEAD"),
    ("/.well-known/oauth-authorization-server", "GET, HEAD"),
    ("/jwks.json", "GET, HEAD"),
    ("/authorize", "GET, HEAD, POST"),
    ("/authorize/continue", "GET, HEAD"),
    ("/consent", "GET, HEAD, POST"),
    ("/token", "POST"),
    ("/introspect", "POST"),
    ("/revoke", "POST"),
    ("/register", "POST"),
    ("/register/some-client-id", "GET, HEAD, PUT, DELETE"),
    ("/end_session", "GET, HEAD, POST"),
    ("/userinfo", "GET, HEAD, POST"),
];

/// Methods tried on every route; those it does not list in `Allow` must get 405.
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "TRACE",
    "FROBNICATE",
];

/// GET routes whose GET has side effects; their HEAD answers 204 without running it.
const WITH_EFFECTS: &[&str] = &[
    "/authorize",
    "/authorize/continue",
    "/login/mfa/start",
    "/end_session",
];

/// A HEAD request on a raw socket (reqwest never reads a body after HEAD, so it cannot
/// show one): the response's header block and the bytes that followed it before the server
/// closed the connection.
async fn raw_head(app: &TestApp, path: &str, accept: &str) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
    let request = format!(
        "HEAD {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut received),
    )
    .await
    .expect("the server closes the connection after the HEAD response")
    .unwrap();
    let end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block")
        + 4;
    let head = String::from_utf8(received[..end].to_vec()).unwrap();
    (head, received[end..].to_vec())
}

/// The value of header `name` in a raw response's header block.
fn raw_header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Headers that legitimately differ between two otherwise identical requests.
const VOLATILE: &[&str] = &["date", "x-request-id"];

/// A cookie-less client, so every request is a first visit and HEAD and GET see the same
/// state.
fn fresh() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn send(app: &TestApp, method: &str, path: &str, accept: &str) -> reqwest::Response {
    fresh()
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        )
        .header("accept", accept)
        .send()
        .await
        .unwrap()
}

/// The headers that must be equal, as sorted (name, value) pairs; for the volatile ones
/// only whether they are there, for cookies their names (their values are random).
fn comparable(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_owned();
            let value = if VOLATILE.contains(&name.as_str()) {
                "(present)".to_owned()
            } else if name == "set-cookie" {
                value
                    .to_str()
                    .unwrap()
                    .split('=')
                    .next()
                    .unwrap()
                    .to_owned()
            } else {
                value.to_str().unwrap().to_owned()
            };
            (name, value)
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

#[tokio::test]
async fn head_answers_like_get_on_every_get_route_without_a_body() {
    let app = app_with_registration().await;
    for (path, allow) in ROUTES.iter().filter(|(_, allow)| allow.contains("GET")) {
        for accept in ["text/html", "application/json"] {
            if WITH_EFFECTS.contains(path) {
                let head = send(&app, "HEAD", path, accept).await;
                assert_eq!(head.status(), 204, "HEAD {path} ({accept})");
                assert_eq!(head.headers()["cache-control"], "no-store", "HEAD {path}");
                continue;
            }
            let get = send(&app, "GET", path, accept).await;
            let head = send(&app, "HEAD", path, accept).await;
            assert_eq!(head.status(), get.status(), "HEAD {path} ({accept})");
            assert_ne!(head.status(), 405, "HEAD {path} is listed in {allow}");
            assert_eq!(
                comparable(head.headers()),
                comparable(get.headers()),
                "HEAD {path} ({accept})"
            );
            let (raw, body) = raw_head(&app, path, accept).await;
            assert!(body.is_empty(), "HEAD {path} sent a body: {raw}");
        }
    }
}

#[tokio::test]
async fn probes_and_public_documents_answer_head_with_their_get_headers() {
    let app = app_with_registration().await;
    for (path, content_type) in [
        ("/healthz", None),
        ("/readyz", None),
        (
            "/.well-known/openid-configuration",
            Some("application/json"),
        ),
        (
            "/.well-known/oauth-authorization-server",
            Some("application/json"),
        ),
        ("/jwks.json", None),
        ("/static/portcullis.css", Some("text/css; charset=utf-8")),
        ("/login", Some("text/html; charset=utf-8")),
    ] {
        let get = send(&app, "GET", path, "*/*").await;
        let get_headers = get.headers().clone();
        let length = get.bytes().await.unwrap().len();
        let head = send(&app, "HEAD", path, "*/*").await;
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(
            head.headers()["content-length"],
            length.to_string().as_str(),
            "HEAD {path} announces the GET body's length"
        );
        for name in ["content-type", "cache-control"] {
            assert_eq!(
                head.headers().get(name),
                get_headers.get(name),
                "HEAD {path}: {name}"
            );
        }
        if let Some(expected) = content_type {
            assert_eq!(head.headers()["content-type"], expected, "HEAD {path}");
        }
        let (raw, body) = raw_head(&app, path, "*/*").await;
        assert!(body.is_empty(), "HEAD {path} sent a body: {raw}");
        let expected = length.to_string();
        assert_eq!(
            raw_header(&raw, "content-length"),
            Some(expected.as_str()),
            "HEAD {path} on the wire: {raw}"
        );
    }
    let static_head = send(&app, "HEAD", "/static/portcullis.css", "*/*").await;
    assert_eq!(
        static_head.headers()["cache-control"],
        "public, max-age=3600"
    );
}

/// 405 as a problem document (API clients) or a page (browsers), with the exact `Allow`.
async fn assert_method_not_allowed(app: &TestApp, method: &str, path: &str, allow: &str) {
    let api = send(app, method, path, "application/json").await;
    assert_eq!(api.status(), 405, "{method} {path}");
    assert_eq!(api.headers()["allow"], allow, "{method} {path}");
    if method == "HEAD" {
        assert!(api.bytes().await.unwrap().is_empty(), "{method} {path}");
    } else {
        assert_eq!(
            api.headers()["content-type"],
            "application/problem+json",
            "{method} {path}"
        );
        let problem: Value = api.json().await.unwrap();
        assert_eq!(problem["status"], 405, "{method} {path}");
        assert_eq!(problem["title"], "Method not allowed", "{method} {path}");
        assert!(
            problem["detail"].as_str().unwrap().contains(allow),
            "{method} {path}: {problem}"
        );
    }
    let page = send(app, method, path, "text/html,application/xhtml+xml").await;
    assert_eq!(page.status(), 405, "{method} {path}");
    assert_eq!(page.headers()["allow"], allow, "{method} {path}");
    if method != "HEAD" {
        assert_eq!(
            page.headers()["content-type"],
            "text/html; charset=utf-8",
            "{method} {path}"
        );
        let html = page.text().await.unwrap();
        assert!(html.contains("Method not allowed"), "{method} {path}");
    }
}

#[tokio::test]
async fn every_method_a_route_does_not_answer_gets_405_with_the_exact_allow_header() {
    let app = app_with_registration().await;
    for (path, allow) in ROUTES {
        let allowed: Vec<&str> = allow.split(", ").collect();
        for method in METHODS.iter().filter(|m| !allowed.contains(m)) {
            assert_method_not_allowed(&app, method, path, allow).await;
        }
    }
}

#[tokio::test]
async fn get_on_the_token_endpoint_is_405_allow_post() {
    let app = app_with_registration().await;
    let resp = app.get("/token").await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = send(&app, "PUT", "/register/abc", "application/json").await;
    assert_eq!(
        resp.status(),
        401,
        "PUT is a method of the client configuration endpoint"
    );
    let resp = send(&app, "POST", "/register/abc", "application/json").await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD, PUT, DELETE");
}

#[tokio::test]
async fn unknown_paths_stay_404_whatever_the_method() {
    let app = app_with_registration().await;
    for path in [
        "/nothing-here",
        "/token/",
        "/register/a/b",
        "/static",
        "/.well-known/nothing",
    ] {
        for method in METHODS {
            let resp = send(&app, method, path, "application/json").await;
            assert_eq!(resp.status(), 404, "{method} {path}");
            assert!(resp.headers().get("allow").is_none(), "{method} {path}");
        }
    }
    // Features that are off are not mounted: their paths are unknown paths.
    let off = crate::helpers::spawn_app().await;
    for path in ["/register", "/register/abc", "/signup", "/signup/confirm"] {
        for method in METHODS {
            let resp = send(&off, method, path, "application/json").await;
            assert_eq!(resp.status(), 404, "{method} {path} (feature off)");
            assert!(resp.headers().get("allow").is_none(), "{method} {path}");
        }
    }
    // A path parameter that names nothing is a 404 from the handler, not a 405.
    let resp = send(&app, "HEAD", "/static/nothing.css", "*/*").await;
    assert_eq!(resp.status(), 404);
}

/// Rows a GET of /authorize may create: pending requests and authorization codes.
async fn authorization_rows(app: &TestApp) -> (i64, i64) {
    app.db(|c| {
        use diesel::prelude::*;
        use portcullis::store::schema::{authorization_codes, authorization_requests};
        Ok((
            authorization_requests::table.count().get_result(c)?,
            authorization_codes::table.count().get_result(c)?,
        ))
    })
    .await
}

/// A HEAD of /authorize (a link preview, a scanner) creates no pending request and issues no
/// code, even with prompt=none for a signed-in user, where GET redirects with a code.
#[tokio::test]
async fn head_of_authorize_creates_nothing_and_issues_no_code() {
    use crate::flow::{auth_params, authorize_path, confidential};
    let app = crate::helpers::spawn_app().await;
    app.create_user("alice", crate::helpers::PASSWORD).await;
    let client = confidential(&app).await;
    let before = authorization_rows(&app).await;
    // Signed out: GET would store the request and send the user to /login.
    let path = authorize_path(&auth_params(&client, &[]));
    let head = app.client.head(app.url(&path)).send().await.unwrap();
    assert_eq!(head.status(), 204);
    assert!(head.headers().get("location").is_none());
    assert_eq!(authorization_rows(&app).await, before);

    app.login("alice", crate::helpers::PASSWORD).await;
    // A first GET with consent given leaves a grant the prompt=none HEAD could use.
    let granted = crate::flow::authorize(&app, &auth_params(&client, &[]), "allow").await;
    assert_eq!(granted.status(), 303);
    let after_grant = authorization_rows(&app).await;
    let silent = authorize_path(&auth_params(&client, &[("prompt", "none")]));
    let head = app.client.head(app.url(&silent)).send().await.unwrap();
    assert_eq!(head.status(), 204);
    assert!(head.headers().get("location").is_none());
    assert_eq!(authorization_rows(&app).await, after_grant);
    // The same request as GET does issue a code: HEAD was the only difference.
    let get = app.get(&silent).await;
    assert_eq!(get.status(), 303);
    assert!(crate::helpers::location(&get).contains("code="));
}

/// A HEAD of /end_session with a valid id_token_hint leaves the session alone.
#[tokio::test]
async fn head_of_end_session_does_not_sign_out() {
    use crate::flow::{confidential, tokens_for};
    let app = crate::helpers::spawn_app().await;
    let user = app.create_user("alice", crate::helpers::PASSWORD).await;
    let client = confidential(&app).await;
    let tokens = tokens_for(&app, &client, &[]).await;
    let count = user.clone();
    let sessions = move || {
        let user = count.clone();
        move |c: &mut portcullis::store::DbConn| {
            portcullis::store::sessions::count_for_user(c, &user)
        }
    };
    assert_eq!(app.db(sessions()).await, 1);
    let path = format!(
        "/end_session?{}",
        serde_urlencoded::to_string([("id_token_hint", tokens["id_token"].as_str().unwrap())])
            .unwrap()
    );
    let head = app.client.head(app.url(&path)).send().await.unwrap();
    assert_eq!(head.status(), 204);
    assert!(head.headers().get("set-cookie").is_none());
    assert_eq!(app.db(sessions()).await, 1);
    assert_eq!(app.get("/account").await.status(), 200);
}
