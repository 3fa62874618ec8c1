//! The real binary as an operator runs it: `portcullis serve`, its console output, its
//! logs, and its shutdown on signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{browser, page_csrf, TestDb, PASSWORD};

struct Server {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    _db: TestDb,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Server {
    /// Starts `portcullis serve` on a free port with JSON debug logs.
    fn start() -> (Self, u16) {
        Self::start_with(&[])
    }

    /// As `start`, with extra environment (which overrides the defaults above).
    fn start_with(extra: &[(&str, &str)]) -> (Self, u16) {
        let (db, url) = TestDb::create();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            .env("PORTCULLIS__DATABASE__URL", &url)
            .env("PORTCULLIS__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS__ISSUER", format!("http://127.0.0.1:{port}"))
            .env("PORTCULLIS__SERVER__WORKERS", "1")
            .env("PORTCULLIS__SERVER__SHUTDOWN_TIMEOUT_SECS", "5")
            .env(
                "PORTCULLIS__KEYS__ENCRYPTION_KEY",
                crate::helpers::test_kek(),
            )
            .env("PORTCULLIS__LOG__FORMAT", "json")
            .env("PORTCULLIS__LOG__LEVEL", "debug")
            .env_remove("RUST_LOG")
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portcullis serve");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let server = Server {
            child,
            stdout,
            stderr,
            _db: db,
        };
        server.wait_for_log("portcullis is serving");
        (server, port)
    }

    fn wait_for_log(&self, message: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(message))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "server never logged {message:?}: {:?}",
            self.stderr.lock().unwrap()
        );
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns whether it exited successfully.
    fn wait(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("server did not stop");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn serve_prints_the_setup_link_logs_requests_without_secrets_and_stops_on_sigterm() {
    let (mut server, port) = Server::start();
    let base = format!("http://127.0.0.1:{port}");

    let console = server.stdout.lock().unwrap().join("\n");
    let setup_url = console
        .split_whitespace()
        .find(|w| w.contains("/setup?token="))
        .expect("setup URL on stdout")
        .to_owned();
    assert!(setup_url.starts_with(&format!("{base}/setup?token=")));
    let setup_token = setup_url.split("token=").nth(1).unwrap().to_owned();

    // Create the admin through the link, sign out, sign in again.
    let (client, _) = browser();
    let csrf = page_csrf(&client, &setup_url).await;
    let resp = client
        .post(format!("{base}/setup"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("token", &setup_token),
            ("username", "root"),
            ("email", "root@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let session_cookie = crate::helpers::set_cookie(resp.headers(), "portcullis_session").unwrap();
    let session_token = session_cookie
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();
    let csrf = page_csrf(&client, &format!("{base}/")).await;
    client
        .post(format!("{base}/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let csrf = page_csrf(&client, &format!("{base}/login")).await;
    let resp = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "root"),
            ("password", "wrong but long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    server.signal("TERM");
    assert!(server.wait(), "a clean exit after SIGTERM");

    let logs = server.stderr.lock().unwrap().clone();
    let all = logs.join("\n");
    for secret in [
        PASSWORD,
        "wrong but long password",
        setup_token.as_str(),
        session_token.as_str(),
        csrf.as_str(),
    ] {
        assert!(
            !all.contains(secret),
            "a secret leaked into the logs: {secret}"
        );
    }
    // Every request is logged as a JSON line with method, path, status, latency and id.
    let requests: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request completed")
        .collect();
    assert!(requests.len() >= 6, "{requests:?}");
    let login = requests
        .iter()
        .find(|r| r["status"] == 401)
        .expect("the failed login is logged");
    assert_eq!(login["span"]["method"], "POST");
    assert_eq!(login["span"]["path"], "/login");
    assert!(login["latency_ms"].is_number());
    assert_eq!(login["span"]["request_id"].as_str().unwrap().len(), 22);
    assert!(requests
        .iter()
        .all(|r| !r["span"]["path"].as_str().unwrap().contains('?')));
}

#[test]
fn sigint_stops_the_server_cleanly_too() {
    let (mut server, port) = Server::start();
    let health = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(health.is_ok());
    server.signal("INT");
    assert!(server.wait(), "a clean exit after SIGINT");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// The development switches for private hosts also open anonymous dynamic registration;
/// on an https (production) issuer the operator is warned at start-up, per switch.
#[test]
fn private_host_switches_are_warned_about_on_an_https_issuer() {
    let (server, _) = Server::start_with(&[
        ("PORTCULLIS__ISSUER", "https://id.example.com"),
        ("PORTCULLIS__OAUTH__ALLOW_PRIVATE_REDIRECT_URIS", "true"),
    ]);
    server.wait_for_log("oauth.allow_private_redirect_uris is on with an https issuer");
    let logs = server.stderr.lock().unwrap().clone();
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("oauth.allow_private_jwks_uri is on")),
        "{logs:?}"
    );
    drop(server);
    let (server, _) = Server::start_with(&[("PORTCULLIS__OAUTH__ALLOW_PRIVATE_JWKS_URI", "true")]);
    let logs = server.stderr.lock().unwrap().clone();
    assert!(
        !logs.iter().any(|l| l.contains("with an https issuer")),
        "a plain-HTTP (development) issuer is not warned about: {logs:?}"
    );
}
