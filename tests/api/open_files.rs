//! Connection settings at start-up: out-of-range values are refused naming the key, and
//! `portcullis serve` raises its open-file limit and fits `server.max_connections` to it
//! (the real binary under `prlimit`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{test_kek, TestDb};

#[test]
fn out_of_range_connection_settings_are_refused_naming_the_key() {
    let load = |key: &str, value: i64| {
        portcullis::config::Settings::from_figment(
            portcullis::config::figment(None)
                .unwrap()
                .merge((key, value)),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    for (key, value) in [
        ("server.request_timeout_secs", 0),
        ("server.request_timeout_secs", 3601),
        ("server.max_connections", 0),
        ("server.max_connections", 1_000_001),
        ("server.max_connections_per_ip", 0),
        // Above the default max_connections (4096).
        ("server.max_connections_per_ip", 4097),
    ] {
        let err = load(key, value).unwrap_err();
        assert!(err.contains(key), "{key} = {value}: {err}");
    }
    assert!(load("server.request_timeout_secs", 1).is_ok());
    assert!(load("server.max_connections_per_ip", 4096).is_ok());
}

/// `portcullis serve` started under `prlimit --nofile=SOFT:HARD`; its JSON log lines up to
/// "portcullis is serving". It listens on port 0 (the kernel picks a free one, so parallel
/// tests cannot race for a port); no request is sent, so the issuer's port does not matter.
fn serve_under_nofile(soft: u64, hard: u64, customize: impl FnOnce(&mut Command)) -> Vec<Value> {
    let (_db, url) = TestDb::create();
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--nofile={soft}:{hard}"))
        .arg(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env("PORTCULLIS__DATABASE__URL", &url)
        .env("PORTCULLIS__SERVER__LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS__ISSUER", "http://127.0.0.1:8080")
        .env("PORTCULLIS__SERVER__WORKERS", "1")
        .env("PORTCULLIS__KEYS__ENCRYPTION_KEY", test_kek())
        .env("PORTCULLIS__LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    customize(&mut command);
    let mut child = command
        .spawn()
        .expect("prlimit (util-linux) runs portcullis");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let serving = loop {
        let done = lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("portcullis is serving"));
        if done || Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break done;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.lock().unwrap().clone();
    assert!(serving, "the server did not start: {lines:?}");
    lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn find<'a>(logs: &'a [Value], message: &str) -> &'a Value {
    logs.iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains(message)))
        .unwrap_or_else(|| panic!("no log line {message:?} in {logs:?}"))
}

#[test]
fn serve_raises_the_open_file_soft_limit_to_the_hard_limit_and_logs_it() {
    let logs = serve_under_nofile(512, 8192, |_| {});
    let line = find(&logs, "open-file limit (RLIMIT_NOFILE) raised");
    assert_eq!(line["soft_before"], 512);
    assert_eq!(line["soft_after"], 8192);
    assert_eq!(line["hard"], 8192);
    assert!(
        !logs.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("max_connections")),
        "the default cap fits 8192 open files: {logs:?}"
    );
}

#[test]
fn serve_lowers_max_connections_that_cannot_fit_the_open_file_limit() {
    let logs = serve_under_nofile(256, 256, |c| {
        c.env("PORTCULLIS__SERVER__MAX_CONNECTIONS", "1000");
    });
    let unchanged = find(
        &logs,
        "open-file limit (RLIMIT_NOFILE) already at the hard limit",
    );
    assert_eq!(unchanged["soft"], 256);
    assert!(
        !logs.iter().any(|l| l["message"]
            .as_str()
            .unwrap_or("")
            .contains("limit (RLIMIT_NOFILE) raised")),
        "nothing was raised: {logs:?}"
    );
    let lowered = find(&logs, "server.max_connections does not fit");
    assert_eq!(lowered["configured"], 1000);
    assert_eq!(lowered["open_file_limit"], 256);
    assert_eq!(lowered["workers"], 1);
    // 256 - 64 reserved - 4 for the worker - 8 pooled database connections * 3 = 164 files
    // for connections: a cap of 131 and its margin (max(131 / 4, 16) = 32) take 163; 132
    // would take 132 + 33 = 165.
    assert_eq!(lowered["lowered_to"], 131, "{lowered}");
}

#[test]
fn serve_says_so_when_not_even_one_connection_fits_the_open_file_limit() {
    // 64 + 4 + 8 * 3 = 92 files reserved; one connection and its margin of 16 need 17 more.
    let logs = serve_under_nofile(100, 100, |_| {});
    let line = find(&logs, "cannot hold even one client connection");
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["open_file_limit"], 100);
    assert_eq!(line["needed_for_one_connection"], 109);
    assert_eq!(line["used"], 1);
}
