//! One error id per unexpected failure: the id a page, an OAuth endpoint and a
//! problem+json route show is the id of the log line that holds the cause, inside the
//! request's span, and the cause itself never reaches the client.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use diesel::connection::SimpleConnection;
use portcullis::store::StoreError;
use serde_json::{json, Value};

use crate::flow::{register, token_post};
use crate::helpers::{spawn_app_on_localhost, TestApp, PASSWORD};

#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test process (info and up, so the request spans are recorded),
/// as JSON, from a global subscriber installed once
/// (before any app starts: `TEST_LOG` would otherwise install its own first).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured(Arc::default());
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber (run this test without TEST_LOG)");
        captured
    })
}

/// The one log line naming `id`: an error, with its cause, in the span of the request to
/// `path`.
fn assert_logged(id: &str, path: &str, cause: &str) {
    let text = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.contains(id))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "one log line for {id}: {text}");
    let line = &lines[0];
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["fields"]["error_id"], id, "{line}");
    assert_eq!(line["fields"]["message"], "unexpected error", "{line}");
    assert!(
        line["fields"]["error"].as_str().unwrap().contains(cause),
        "{line}"
    );
    assert_eq!(line["span"]["path"], path, "{line}");
}

/// An error id as the generator makes them: 22 base64url characters.
fn assert_id_format(id: &str) {
    assert_eq!(id.len(), 22, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{id}"
    );
}

/// Renames `table`: a schema the code does not expect is a bug (500), not an outage.
async fn break_table(app: &TestApp, table: &'static str) {
    app.db(move |c| {
        c.batch_execute(&format!("ALTER TABLE {table} RENAME TO {table}_gone"))
            .map_err(StoreError::from)
    })
    .await;
}

#[tokio::test]
async fn a_500_at_an_oauth_endpoint_names_the_id_of_its_log_line() {
    logs();
    let app = spawn_app_on_localhost().await;
    let service = register(
        &app,
        portcullis::clients::NewClient {
            name: "Service".into(),
            grant_types: vec!["client_credentials".into()],
            require_mfa: false,
            ..Default::default()
        },
    )
    .await;
    break_table(&app, "access_tokens").await;

    let resp = token_post(&app, &service, &[("grant_type", "client_credentials")]).await;

    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "server_error");
    let description = body["error_description"].as_str().unwrap();
    let id = description
        .strip_prefix("internal error (reference ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{description}"));
    assert_id_format(id);
    assert!(!description.contains("access_tokens"), "{description}");
    assert_logged(id, "/token", "access_tokens");
}

#[tokio::test]
async fn a_500_on_a_page_names_the_id_of_its_log_line() {
    logs();
    let app = spawn_app_on_localhost().await;
    app.create_user("alice", PASSWORD).await;
    let csrf = app.csrf_token().await;
    break_table(&app, "users").await;

    let resp = app
        .post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;

    assert_eq!(resp.status(), 500);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = resp.text().await.unwrap();
    let id = page
        .split("Error reference: <code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap_or_else(|| panic!("{page}"));
    assert_id_format(id);
    assert!(
        !page.contains("users_gone") && !page.contains("no such"),
        "{page}"
    );
    assert_logged(id, "/login", "users");
}

#[tokio::test]
async fn a_500_as_a_problem_document_names_the_id_of_its_log_line() {
    logs();
    let app = spawn_app_on_localhost().await;
    let csrf = app.csrf_token().await;
    break_table(&app, "webauthn_ceremonies").await;

    let resp = app
        .client
        .post(app.url("/login/passkey/begin"))
        .header("X-CSRF-Token", csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: Value = resp.json().await.unwrap();
    let id = problem["error_id"].as_str().unwrap().to_owned();
    assert_id_format(&id);
    assert_eq!(
        problem,
        json!({
            "type": "about:blank",
            "title": "Something went wrong",
            "status": 500,
            "detail": "An unexpected error occurred. It has been logged.",
            "code": "internal_error",
            "error_id": id,
        })
    );
    assert_logged(&id, "/login/passkey/begin", "webauthn_ceremonies");
}
