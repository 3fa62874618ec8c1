//! Probes, headers common to every response, and errors for unknown routes.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_says_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
}

#[tokio::test]
async fn readyz_is_ready_with_a_migrated_database() {
    let app = spawn_app().await;
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone_while_healthz_stays_200() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.db.destroy();

    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let resp = app.get("/login").await;
    let h = resp.headers();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain http"
    );
    let id = h["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 22);
    // Never taken from the client.
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "forged-request-id")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "forged-request-id");
    assert_ne!(resp.headers()["x-request-id"].to_str().unwrap(), id);
}

#[tokio::test]
async fn the_page_html_has_no_inline_script_or_style() {
    let app = spawn_app().await;
    let html = app.get("/login").await.text().await.unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("style="), "{html}");
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/portcullis.css\">"));
    let css = app.get("/static/portcullis.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(app.get("/static/nope.css").await.status(), 404);
}

#[tokio::test]
async fn static_paths_cannot_climb_out_of_the_assets() {
    let app = spawn_app().await;
    // Sent byte for byte: a URL library would resolve the dots before the server saw them.
    for target in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/..%2F..%2FCargo.toml",
        "/static/%2e%2e%2fsrc%2fmain.rs",
        "/static/..\\Cargo.toml",
        "/static/portcullis.css/../../Cargo.toml",
    ] {
        let (status, body) = app.raw_get(target).await;
        assert_eq!(status, 404, "{target}: {body}");
        assert!(
            !body.contains("[package]") && !body.contains("fn main"),
            "{target}"
        );
    }
    let (status, body) = app.raw_get("/static/portcullis.css").await;
    assert_eq!(status, 200, "the raw request itself works");
    assert!(!body.is_empty());
}

#[tokio::test]
async fn unknown_routes_are_404_as_a_page_or_a_problem_document() {
    let app = spawn_app().await;
    let api = app.get("/no/such/thing").await;
    assert_eq!(api.status(), 404);
    assert_eq!(api.headers()["content-type"], "application/problem+json");
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["title"], "Not found");

    let page = app
        .client
        .get(app.url("/no/such/thing"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("<h1>Not found</h1>"));
}

#[tokio::test]
async fn a_signed_out_visitor_is_sent_to_the_login_page() {
    let app = spawn_app().await;
    let resp = app.get("/").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(crate::helpers::location(&resp), "/login");
}
