//! `kill -9` under load against the real binary: every acknowledged write survives, the
//! SQLite file stays intact, the signing keys stay the same, and the server is ready again.
//! A refresh in flight at the kill either never happened or counts as used (README "What a
//! crash costs").

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::clients::NewClient;
use serde_json::{json, Value};

use crate::flow::{confidential, register, tokens_for, RpClient, REDIRECT};
use crate::helpers::{spawn_app, test_kek, PASSWORD};

const INITIAL: &str = "initial-access-token-crash-0123456789abcdef";
const ROUNDS: usize = 3;
/// Acknowledged registrations and grants per round before the kill...
const ACKS_BEFORE_KILL: usize = 40;
/// ...and acknowledged refresh rotations.
const ROTATIONS_BEFORE_KILL: usize = 8;

struct Binary {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Binary {
    fn start(database_url: &str, port: u16) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            .env("PORTCULLIS__DATABASE__URL", database_url)
            .env("PORTCULLIS__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS__ISSUER", format!("http://127.0.0.1:{port}"))
            .env("PORTCULLIS__SERVER__WORKERS", "2")
            .env("PORTCULLIS__KEYS__ENCRYPTION_KEY", test_kek())
            .env("PORTCULLIS__REGISTRATION__ENABLED", "true")
            .env("PORTCULLIS__REGISTRATION__INITIAL_ACCESS_TOKEN", INITIAL)
            .env("PORTCULLIS__LOG__LEVEL", "warn")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("start portcullis serve");
        Binary { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything the server acknowledged (answered 2xx) during the load.
#[derive(Default)]
struct Acknowledged {
    registered: Vec<Registered>,
    /// Access tokens and the client that may introspect them.
    access_tokens: Vec<(RpClient, String)>,
}

/// A dynamically registered client as its owner holds it.
struct Registered {
    client: RpClient,
    /// RFC 7592 client configuration endpoint and its token.
    uri: String,
    access_token: String,
}

/// A refresh token family rotated by one task; `latest` is the last refresh token the server
/// handed out and the client received.
#[derive(Clone)]
struct Chain {
    client: RpClient,
    grace: bool,
    latest: String,
    /// The last access token the binary issued in this family (the seed's has another
    /// issuer).
    access: Option<String>,
}

async fn wait_ready(http: &reqwest::Client, base: &str, server: &mut Binary) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("server exited with {status}: {}", server.log());
        }
        if let Ok(resp) = http.get(format!("{base}/readyz")).send().await {
            if resp.status() == 200 {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not ready within 30 s: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn jwks(http: &reqwest::Client, base: &str) -> Value {
    let resp = http.get(format!("{base}/jwks.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let set: Value = resp.json().await.unwrap();
    assert!(!set["keys"].as_array().unwrap().is_empty());
    set
}

async fn token(
    http: &reqwest::Client,
    base: &str,
    client: &RpClient,
    form: &[(&str, &str)],
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base}/token"))
        .header("authorization", client.basic_auth())
        .form(form)
        .send()
        .await
}

async fn introspect(http: &reqwest::Client, base: &str, caller: &RpClient, token: &str) -> Value {
    let resp = http
        .post(format!("{base}/introspect"))
        .header("authorization", caller.basic_auth())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Registers web clients until the server goes away.
async fn registrations(
    http: reqwest::Client,
    base: String,
    acks: Arc<AtomicUsize>,
) -> Acknowledged {
    let mut done = Acknowledged::default();
    for i in 0..10_000 {
        let sent = http
            .post(format!("{base}/register"))
            .bearer_auth(INITIAL)
            .json(&json!({
                "client_name": format!("Dynamic app {i}"),
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
            }))
            .send()
            .await;
        let Ok(resp) = sent else { break };
        let status = resp.status();
        // The body is part of the acknowledgement: a reply cut off by the kill is not one.
        let Ok(body) = resp.json::<Value>().await else {
            break;
        };
        if status != 201 {
            assert_eq!(status, 503, "{body}");
            continue;
        }
        let text = |name: &str| body[name].as_str().unwrap().to_owned();
        done.registered.push(Registered {
            client: RpClient {
                id: text("client_id"),
                secret: Some(text("client_secret")),
            },
            uri: text("registration_client_uri"),
            access_token: text("registration_access_token"),
        });
        acks.fetch_add(1, Ordering::Relaxed);
    }
    done
}

/// Runs the client_credentials grant until the server goes away.
async fn grants(
    http: reqwest::Client,
    base: String,
    service: RpClient,
    acks: Arc<AtomicUsize>,
) -> Acknowledged {
    let mut done = Acknowledged::default();
    for _ in 0..10_000 {
        let Ok(resp) = token(
            &http,
            &base,
            &service,
            &[("grant_type", "client_credentials")],
        )
        .await
        else {
            break;
        };
        let status = resp.status();
        let Ok(body) = resp.json::<Value>().await else {
            break;
        };
        if status != 200 {
            assert_eq!(status, 503, "{body}");
            continue;
        }
        let access = body["access_token"].as_str().unwrap().to_owned();
        done.access_tokens.push((service.clone(), access));
        acks.fetch_add(1, Ordering::Relaxed);
    }
    done
}

/// Rotates one refresh token family until the server goes away.
async fn rotations(
    http: reqwest::Client,
    base: String,
    mut chain: Chain,
    acks: Arc<AtomicUsize>,
) -> Chain {
    for _ in 0..10_000 {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", &chain.latest),
        ];
        let Ok(resp) = token(&http, &base, &chain.client, &form).await else {
            break;
        };
        let status = resp.status();
        let Ok(body) = resp.json::<Value>().await else {
            break;
        };
        // Only an unavailable database may refuse a refresh under load; never the token.
        if status != 200 {
            assert_eq!(status, 503, "{body}");
            continue;
        }
        chain.latest = body["refresh_token"].as_str().unwrap().to_owned();
        chain.access = Some(body["access_token"].as_str().unwrap().to_owned());
        acks.fetch_add(1, Ordering::Relaxed);
    }
    chain
}

fn sqlite_integrity(database_url: &str) -> String {
    use diesel::{Connection as _, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let path = database_url.trim_start_matches("sqlite://");
    let mut conn = diesel::SqliteConnection::establish(path).unwrap();
    let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .unwrap();
    rows.into_iter()
        .map(|r| r.integrity_check)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged_and_keeps_the_keys() {
    // Arrange: users, clients and refresh token families made by an in-process instance on
    // the database the binary then uses (with the same key-encryption key).
    let seed = spawn_app().await;
    seed.create_user("alice", PASSWORD).await;
    let plain = confidential(&seed).await;
    let graceful = register(
        &seed,
        NewClient {
            name: "Retrying app".into(),
            redirect_uris: vec![REDIRECT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            refresh_grace_secs: 60,
            ..NewClient::default()
        },
    )
    .await;
    let service = register(
        &seed,
        NewClient {
            name: "Batch job".into(),
            grant_types: vec!["client_credentials".into()],
            ..NewClient::default()
        },
    )
    .await;
    let mut chains = Vec::new();
    for (client, grace) in [
        (&plain, false),
        (&plain, false),
        (&graceful, true),
        (&graceful, true),
    ] {
        let first = tokens_for(&seed, client, &[("scope", "openid offline_access")]).await;
        chains.push(Chain {
            client: client.clone(),
            grace,
            latest: first["refresh_token"].as_str().unwrap().to_owned(),
            access: None,
        });
    }
    let url = seed.settings.database.url.clone();
    let sqlite = url.starts_with("sqlite://");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let mut server = Binary::start(&url, port);
    wait_ready(&http, &base, &mut server).await;
    let keys = jwks(&http, &base).await;
    let mut acknowledged = Acknowledged::default();
    let mut reused_in_flight = 0;

    for round in 0..ROUNDS {
        // Act: load from several tasks, then SIGKILL in the middle of it.
        let acks = Arc::new(AtomicUsize::new(0));
        let rotated = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for _ in 0..3 {
            writers.push(tokio::spawn(registrations(
                http.clone(),
                base.clone(),
                Arc::clone(&acks),
            )));
            writers.push(tokio::spawn(grants(
                http.clone(),
                base.clone(),
                service.clone(),
                Arc::clone(&acks),
            )));
        }
        let rotators: Vec<_> = chains
            .drain(..)
            .map(|chain| {
                tokio::spawn(rotations(
                    http.clone(),
                    base.clone(),
                    chain,
                    Arc::clone(&rotated),
                ))
            })
            .collect();
        let started = Instant::now();
        while acks.load(Ordering::Relaxed) < ACKS_BEFORE_KILL
            || rotated.load(Ordering::Relaxed) < ROTATIONS_BEFORE_KILL
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: only {} writes and {} rotations acknowledged in 60 s: {}",
                acks.load(Ordering::Relaxed),
                rotated.load(Ordering::Relaxed),
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        for writer in writers {
            let done = writer.await.unwrap();
            acknowledged.registered.extend(done.registered);
            acknowledged.access_tokens.extend(done.access_tokens);
        }
        for rotator in rotators {
            chains.push(rotator.await.unwrap());
        }

        // Assert: the file is intact, and the restarted server has the same keys and
        // everything it ever acknowledged.
        if sqlite {
            assert_eq!(sqlite_integrity(&url), "ok", "round {round}");
        }
        server = Binary::start(&url, port);
        let ready_in = wait_ready(&http, &base, &mut server).await;
        assert!(ready_in < Duration::from_secs(10), "{ready_in:?}");
        assert_eq!(
            jwks(&http, &base).await,
            keys,
            "round {round}: keys changed"
        );

        for registered in &acknowledged.registered {
            let id = &registered.client.id;
            let resp = http
                .get(&registered.uri)
                .bearer_auth(&registered.access_token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                200,
                "round {round}: registered client {id} lost"
            );
            let config: Value = resp.json().await.unwrap();
            assert_eq!(config["client_id"], id.as_str());
            // Its secret still authenticates it.
            let seen = introspect(&http, &base, &registered.client, "not-a-token").await;
            assert_eq!(seen["active"], false);
        }
        for (caller, access) in &acknowledged.access_tokens {
            let seen = introspect(&http, &base, caller, access).await;
            assert_eq!(seen["active"], true, "round {round}: {seen}");
        }
        let mut survivors = Vec::new();
        for mut chain in chains.drain(..) {
            if let Some(access) = &chain.access {
                let seen = introspect(&http, &base, &chain.client, access).await;
                assert_eq!(seen["active"], true, "round {round}: {seen}");
            }
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", &chain.latest),
            ];
            let resp = token(&http, &base, &chain.client, &form).await.unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap();
            if status == 200 {
                chain.latest = body["refresh_token"].as_str().unwrap().to_owned();
                chain.access = Some(body["access_token"].as_str().unwrap().to_owned());
                survivors.push(chain);
                continue;
            }
            // The refresh in flight at the kill committed but its answer was lost: the last
            // token the client holds is used, and without a grace period that is reuse.
            // A token that is simply unknown would be a lost write.
            assert!(!chain.grace, "round {round}: grace client refused: {body}");
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_grant", "{body}");
            assert_eq!(
                body["error_description"], "refresh token reuse detected; the grant is revoked",
                "round {round}"
            );
            reused_in_flight += 1;
        }
        chains = survivors;
        assert!(
            chains.iter().any(|c| c.grace),
            "the grace clients' families always survive"
        );
    }
    assert!(acknowledged.registered.len() >= ROUNDS);
    assert!(acknowledged.access_tokens.len() >= ROUNDS);
    eprintln!(
        "{} registrations and {} access tokens survived {ROUNDS} kills; \
         {reused_in_flight} refresh families revoked by a refresh in flight",
        acknowledged.registered.len(),
        acknowledged.access_tokens.len()
    );
}
