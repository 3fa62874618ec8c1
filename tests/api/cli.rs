//! The command line, run as the built binary against a fresh database.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helpers::{TestDb, PASSWORD};

pub(crate) struct Cli {
    url: String,
    _db: TestDb,
}

impl Cli {
    pub(crate) fn new() -> Self {
        let (db, url) = TestDb::create();
        Cli { url, _db: db }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.args(args)
            .env("PORTCULLIS__DATABASE__URL", &self.url)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run portcullis")
    }

    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn portcullis");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
    }
}

/// The command exited with `code` and said something containing `needle` on stderr.
pub(crate) fn assert_exit(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(stderr(out).contains(needle), "{}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn users_are_added_listed_disabled_and_enabled() {
    let cli = Cli::new();
    let out = cli.run_with_stdin(
        &[
            "user",
            "add",
            "--username",
            "Alice",
            "--email",
            "alice@example.com",
            "--admin",
            "--password-stdin",
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["username"], "alice");
    assert_eq!(created["roles"], serde_json::json!(["super_admin"]));
    assert_eq!(created["has_password"], true);
    assert!(!stdout(&out).contains(PASSWORD) && !stderr(&out).contains(PASSWORD));

    let out = cli.run(&[
        "user",
        "add",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("created user bob (id "));

    let list = cli.json(&["user", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(list[1]["has_password"], false);
    assert_eq!(list[1]["disabled"], false);

    let out = cli.run(&["user", "disable", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(cli.json(&["user", "list", "--json"])[1]["disabled"], true);
    let table = stdout(&cli.run(&["user", "list"]));
    assert!(table.starts_with("USERNAME"), "{table}");
    assert!(table.contains("disabled"), "{table}");

    assert!(cli.run(&["user", "enable", "bob"]).status.success());
    assert_eq!(cli.json(&["user", "list", "--json"])[1]["disabled"], false);
}

#[test]
fn bad_user_arguments_exit_with_code_2_and_a_message() {
    let cli = Cli::new();
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["user", "add", "--email", "a@example.com"],
            None,
            "--username",
        ),
        (
            vec![
                "user",
                "add",
                "--username",
                "a b",
                "--email",
                "a@example.com",
            ],
            None,
            "invalid username",
        ),
        (
            vec![
                "user",
                "add",
                "--username",
                "carol",
                "--email",
                "not-an-email",
            ],
            None,
            "invalid email",
        ),
        (
            vec![
                "user",
                "add",
                "--username",
                "carol",
                "--email",
                "c@example.com",
                "--password-stdin",
            ],
            Some("short\n"),
            "at least 15",
        ),
        (
            vec![
                "user",
                "add",
                "--username",
                "carol",
                "--email",
                "c@example.com",
                "--password-stdin",
            ],
            Some(""),
            "no password",
        ),
        (vec!["user", "disable", "nobody"], None, "no such user"),
        (vec!["user", "frobnicate"], None, "unrecognized subcommand"),
        (
            vec!["client", "add", "--name", "x", "--grant-type", "implicit"],
            None,
            "invalid value",
        ),
    ];
    for (args, stdin, message) in cases {
        let out = match stdin {
            Some(input) => cli.run_with_stdin(&args, input),
            None => cli.run(&args),
        };
        assert_exit(&out, 2, message);
    }
    assert_eq!(cli.json(&["user", "list", "--json"]), serde_json::json!([]));

    let first = cli.run(&[
        "user",
        "add",
        "--username",
        "dave",
        "--email",
        "dave@example.com",
    ]);
    assert!(first.status.success());
    let dup = cli.run(&[
        "user",
        "add",
        "--username",
        "dave",
        "--email",
        "dave2@example.com",
    ]);
    assert_exit(&dup, 2, "already taken");
}

#[test]
fn clients_are_added_listed_and_removed() {
    let cli = Cli::new();
    let confidential = cli.json(&[
        "client",
        "add",
        "--name",
        "Web app",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--redirect-uri",
        "https://app.example.com/cb2",
        "--post-logout-redirect-uri",
        "https://app.example.com/bye",
        "--auth-method",
        "client_secret_post",
        "--skip-consent",
        "--json",
    ]);
    let id = confidential["client_id"].as_str().unwrap().to_owned();
    let secret = confidential["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(
        confidential["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert_eq!(confidential["skip_consent"], true);

    let public = cli.json(&[
        "client",
        "add",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "https://spa.example.com/cb",
        "--json",
    ]);
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");

    let service = cli.json(&[
        "client",
        "add",
        "--name",
        "Batch",
        "--grant-type",
        "client_credentials",
        "--json",
    ]);
    assert_eq!(
        service["grant_types"],
        serde_json::json!(["client_credentials"])
    );

    let human = cli.run(&[
        "client",
        "add",
        "--name",
        "Other",
        "--redirect-uri",
        "https://o.example.com/cb",
    ]);
    assert!(stdout(&human).contains("client_secret: "));
    assert!(stdout(&human).contains("not shown again"));

    let list = cli.run(&["client", "list", "--json"]);
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(!listed.contains(&secret), "the secret is never shown again");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Batch", "Other", "SPA", "Web app"]);
    assert_eq!(
        listed[3]["redirect_uris"],
        serde_json::json!(["https://app.example.com/cb", "https://app.example.com/cb2"])
    );
    assert!(stdout(&cli.run(&["client", "list"])).starts_with("CLIENT_ID"));

    let out = cli.run(&["client", "remove", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        cli.json(&["client", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let again = cli.run(&["client", "remove", &id]);
    assert_exit(&again, 2, "no client with id");
}

#[test]
fn bad_client_arguments_exit_with_code_2() {
    let cli = Cli::new();
    for (args, message) in [
        (
            vec!["client", "add", "--name", "x"],
            "at least one redirect URI",
        ),
        (
            vec![
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "http://app.example.com/cb",
            ],
            "loopback",
        ),
        (
            vec![
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.example/cb#f",
            ],
            "fragment",
        ),
        (
            vec![
                "client",
                "add",
                "--name",
                "x",
                "--redirect-uri",
                "https://a.example/cb",
                "--auth-method",
                "none",
            ],
            "--public",
        ),
        (
            vec![
                "client",
                "add",
                "--name",
                "x",
                "--public",
                "--grant-type",
                "client_credentials",
            ],
            "confidential",
        ),
        (
            vec![
                "client",
                "add",
                "--name",
                "",
                "--redirect-uri",
                "https://a.example/cb",
            ],
            "invalid client name",
        ),
        (
            vec!["client", "add", "--redirect-uri", "https://a.example/cb"],
            "--name",
        ),
    ] {
        let out = cli.run(&args);
        assert_exit(&out, 2, message);
    }
    assert_eq!(
        cli.json(&["client", "list", "--json"]),
        serde_json::json!([])
    );
}

#[test]
fn migrate_brings_the_database_up_to_date() {
    let cli = Cli::new();
    let out = cli.run(&["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "database is up to date");
    assert!(cli.run(&["migrate"]).status.success());
}

#[test]
fn bad_configuration_stops_with_a_message_naming_the_key() {
    let cli = Cli::new();
    let unknown = cli
        .command(&["migrate"])
        .env("PORTCULLIS__SERVER__LISTN", "x")
        .output()
        .unwrap();
    assert_exit(&unknown, 2, "listn");

    let invalid = cli
        .command(&["serve"])
        .env("PORTCULLIS__PASSWORD__MIN_LENGTH", "8")
        .output()
        .unwrap();
    assert_exit(&invalid, 2, "password.min_length");

    let exposed = cli
        .command(&["serve"])
        .env("PORTCULLIS__SERVER__LISTEN", "0.0.0.0:0")
        .output()
        .unwrap();
    assert_exit(&exposed, 2, "server.listen");
    assert!(
        stderr(&exposed).contains("allow_plain_http"),
        "{}",
        stderr(&exposed)
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "[session]\nidle_timeout_secs = -5\n").unwrap();
    let out = cli.run(&["--config", file.to_str().unwrap(), "migrate"]);
    assert_exit(&out, 2, "idle_timeout_secs");

    let missing = cli.run(&["--config", "/nonexistent.toml", "user", "list"]);
    assert_exit(&missing, 2, "/nonexistent.toml");
}

#[test]
fn an_unreachable_database_is_a_runtime_failure_with_code_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["user", "list"])
        .env(
            "PORTCULLIS__DATABASE__URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .env("PORTCULLIS__DATABASE__CONNECT_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    assert_exit(&out, 1, "cannot connect to the database");
}
