//! A hung, locked or full database: every endpoint answers within a bound and says so the
//! same way (503 with Retry-After; an RFC 6749 body from the OAuth JSON endpoints, a
//! redirect from the authorization endpoint once the client is known, a page elsewhere),
//! `/readyz` reports it from its background probe within a second, and everything
//! recovers by itself once the database does.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use figment::Figment;
use reqwest::Url;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::flow::{
    auth_params, authorize_path, confidential, exchange, param, redirect_params, register,
    sign_in_and_authorize, token_post, tokens_for, RpClient, REDIRECT, VERIFIER,
};
use crate::helpers::{is_ci, page_csrf, spawn_app_on, spawn_app_with, TestApp, TestDb, PASSWORD};
use crate::registration::INITIAL;

/// The upper bound asserted on any answer while the database hangs (the app's operation
/// deadline is 3 s in these tests; without it a request waits as long as the hang lasts).
const HANG_BOUND: Duration = Duration::from_secs(8);
/// `/readyz` answers within a second; a little slack for a loaded test machine.
const READYZ_BOUND: Duration = Duration::from_millis(1500);
const DESCRIPTION: &str = "the service is temporarily unavailable; try again shortly";

/// Runs `f`, failing the test if it takes `bound` or longer; returns its output.
async fn within<F: Future>(bound: Duration, what: &str, f: F) -> F::Output {
    let started = Instant::now();
    let out = tokio::time::timeout(bound, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {bound:?}"));
    eprintln!("{what}: answered in {:?}", started.elapsed());
    out
}

/// The RFC 6749 JSON answer of every OAuth endpoint during an outage.
async fn assert_temporarily_unavailable(resp: reqwest::Response) {
    assert_eq!(resp.status(), 503, "{}", resp.url());
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().get("www-authenticate").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "error": "temporarily_unavailable", "error_description": DESCRIPTION })
    );
}

/// The HTML answer of pages (and of /authorize before the client is known).
async fn assert_unavailable_page(resp: reqwest::Response) {
    assert_eq!(resp.status(), 503, "{}", resp.url());
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let html = resp.text().await.unwrap();
    assert!(html.contains("<h1>Temporarily unavailable</h1>"), "{html}");
    assert!(html.contains("Try again shortly."), "{html}");
}

/// `/readyz`, answered within [`READYZ_BOUND`]: its status and body.
async fn readyz(app: &TestApp) -> (u16, Value) {
    let resp = within(READYZ_BOUND, "/readyz", app.get("/readyz")).await;
    let status = resp.status().as_u16();
    if status == 503 {
        assert_eq!(resp.headers()["retry-after"], "5");
    }
    (status, resp.json().await.unwrap())
}

/// Polls `/readyz` (each answer within a second) until it says `want`; its body.
async fn readyz_until(app: &TestApp, want: u16, deadline: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = readyz(app).await;
        if status == want {
            return body;
        }
        assert!(
            started.elapsed() < deadline,
            "/readyz still {status} ({body}) after {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ready_body() -> Value {
    json!({ "status": "ready", "checks": { "database": "ok", "database_write": "ok" } })
}

/// A client allowed the client_credentials grant.
async fn service_client(app: &TestApp) -> RpClient {
    register(
        app,
        portcullis::clients::NewClient {
            name: "Service".into(),
            grant_types: vec!["client_credentials".into()],
            require_mfa: false,
            ..Default::default()
        },
    )
    .await
}

async fn client_credentials(app: &TestApp, client: &RpClient) -> reqwest::Response {
    token_post(app, client, &[("grant_type", "client_credentials")]).await
}

/// POSTs the login form from a browser of its own (its CSRF token fetched beforehand).
async fn post_login(app: &TestApp, browser: &reqwest::Client, csrf: &str) -> reqwest::Response {
    browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
}

/// A TCP forwarder between the app and Postgres that the test can stall: while stalled it
/// accepts and reads but forwards nothing, as a frozen host or a partition that still
/// acknowledges packets looks to the app. It runs on a thread of its own, since the app
/// blocks the test's runtime while it opens its first connection.
struct StallingProxy {
    addr: SocketAddr,
    stalled: watch::Sender<bool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StallingProxy {
    fn start(upstream: String) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stalled, watching) = watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    while let Ok((inbound, _)) = listener.accept().await {
                        let (upstream, watching) = (upstream.clone(), watching.clone());
                        tokio::spawn(async move {
                            let Ok(outbound) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            let (in_read, in_write) = inbound.into_split();
                            let (out_read, out_write) = outbound.into_split();
                            tokio::join!(
                                pump(in_read, out_write, watching.clone()),
                                pump(out_read, in_write, watching)
                            );
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        Self {
            addr,
            stalled,
            stop: Some(stop),
        }
    }

    fn stall(&self) {
        self.stalled.send_replace(true);
    }

    fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

/// Dropping the runtime closes every forwarded connection.
impl Drop for StallingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut stalled: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stalled.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Short bounds so an outage shows within seconds.
fn short_bounds(f: Figment) -> Figment {
    f.merge(("database.operation_timeout_secs", 3))
        .merge(("database.statement_timeout_ms", 1000))
        .merge(("database.connect_timeout_secs", 2))
        .merge(("database.sqlite_busy_timeout_ms", 200))
        .merge(("database.probe_interval_secs", 1))
        .merge(("database.probe_timeout_secs", 1))
        .merge(("registration.enabled", true))
        .merge(("registration.initial_access_token", INITIAL))
}

#[tokio::test]
async fn a_stalled_postgres_gets_bounded_503s_everywhere_and_recovers_by_itself() {
    // Arrange: the app reaches Postgres only through the proxy.
    let (db, url) = TestDb::create();
    if !matches!(db, TestDb::Postgres { .. }) {
        eprintln!("skipped: needs Postgres (PORTCULLIS_TEST_POSTGRES_URL)");
        return;
    }
    let mut proxied = Url::parse(&url).unwrap();
    let upstream = format!(
        "{}:{}",
        proxied.host_str().unwrap(),
        proxied.port().unwrap_or(5432)
    );
    let proxy = StallingProxy::start(upstream);
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.addr.port())).unwrap();
    let app = spawn_app_on(db, proxied.to_string(), short_bounds).await;
    app.create_user("alice", PASSWORD).await;
    let rp = confidential(&app).await;
    let service = service_client(&app).await;
    let tokens = tokens_for(&app, &rp, &[("scope", "openid profile")]).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let (browser, _) = app.new_browser();
    let csrf = page_csrf(&browser, &app.url("/login")).await;
    assert_eq!(readyz(&app).await, (200, ready_body()));

    // Act: Postgres stops answering.
    proxy.stall();

    // Assert: every endpoint answers within the bound, with the outage's shape.
    let resp = within(HANG_BOUND, "/token", client_credentials(&app, &service)).await;
    assert_temporarily_unavailable(resp).await;
    let introspect = app
        .client
        .post(app.url("/introspect"))
        .header("authorization", rp.basic_auth())
        .form(&[("token", access.as_str())]);
    let resp = within(HANG_BOUND, "/introspect", introspect.send()).await;
    assert_temporarily_unavailable(resp.unwrap()).await;
    let revoke = app
        .client
        .post(app.url("/revoke"))
        .header("authorization", rp.basic_auth())
        .form(&[("token", access.as_str())]);
    let resp = within(HANG_BOUND, "/revoke", revoke.send()).await;
    assert_temporarily_unavailable(resp.unwrap()).await;
    let userinfo = app.client.get(app.url("/userinfo")).bearer_auth(&access);
    let resp = within(HANG_BOUND, "/userinfo", userinfo.send()).await;
    assert_temporarily_unavailable(resp.unwrap()).await;
    let registration = app
        .client
        .post(app.url("/register"))
        .bearer_auth(INITIAL)
        .json(&json!({ "redirect_uris": [REDIRECT] }));
    let resp = within(HANG_BOUND, "/register", registration.send()).await;
    assert_temporarily_unavailable(resp.unwrap()).await;
    // The client cannot be looked up, so there is nowhere safe to redirect: a page.
    let authorize = browser.get(app.url(&authorize_path(&auth_params(&rp, &[]))));
    let resp = within(HANG_BOUND, "/authorize", authorize.send()).await;
    assert_unavailable_page(resp.unwrap()).await;
    let resp = within(HANG_BOUND, "/login", post_login(&app, &browser, &csrf)).await;
    assert_unavailable_page(resp).await;
    let body = readyz_until(&app, 503, Duration::from_secs(10)).await;
    assert_eq!(
        body,
        json!({
            "status": "unavailable",
            "checks": { "database": "unavailable", "database_write": "unavailable" },
        })
    );

    // Postgres answers again: readiness and requests come back without a restart.
    proxy.resume();
    assert_eq!(
        readyz_until(&app, 200, Duration::from_secs(20)).await,
        ready_body()
    );
    let resp = client_credentials(&app, &service).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let resp = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(post_login(&app, &browser, &csrf).await.status(), 303);
}

#[tokio::test]
async fn a_postgres_statement_or_lock_wait_past_its_timeout_is_an_outage() {
    let (db, url) = TestDb::create();
    if !matches!(db, TestDb::Postgres { .. }) {
        eprintln!("skipped: needs Postgres (PORTCULLIS_TEST_POSTGRES_URL)");
        return;
    }
    let app = spawn_app_on(db, url.clone(), |f| {
        f.merge(("database.statement_timeout_ms", 300))
    })
    .await;
    use portcullis::store::{Outage, StoreError};
    let outage_of = |r: Result<usize, StoreError>| match r {
        Err(StoreError::Unavailable { outage, .. }) => outage,
        other => panic!("expected an outage, got {other:?}"),
    };
    let slow = app
        .store
        .run(|c| {
            use diesel::RunQueryDsl;
            diesel::sql_query("SELECT pg_sleep(5)")
                .execute(c)
                .map_err(StoreError::from)
        })
        .await;
    assert_eq!(outage_of(slow), Outage::Timeout);
    // Migrations lift the bounds for their own work and leave the connection bounded.
    let setting = app
        .store
        .run_sync(|c| {
            use diesel::RunQueryDsl;
            portcullis::store::migrations::run_pending(c)?;
            #[derive(diesel::QueryableByName)]
            struct Setting {
                #[diesel(sql_type = diesel::sql_types::Text)]
                value: String,
            }
            diesel::sql_query("SELECT current_setting('statement_timeout') AS value")
                .get_result::<Setting>(c)
                .map_err(StoreError::from)
        })
        .unwrap();
    assert_eq!(setting.value, "300ms");

    // Another session holds the probe row's lock: the update waits past lock_timeout.
    let mut holder = diesel::PgConnection::establish(&url).unwrap();
    holder
        .batch_execute("BEGIN; SELECT * FROM readiness_probe FOR UPDATE;")
        .unwrap();
    let blocked = app
        .store
        .run(|c| {
            use diesel::RunQueryDsl;
            diesel::sql_query("UPDATE readiness_probe SET probed_at = 1")
                .execute(c)
                .map_err(StoreError::from)
        })
        .await;
    assert_eq!(outage_of(blocked), Outage::Timeout);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["database_write"], "unavailable");
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        readyz_until(&app, 200, Duration::from_secs(5)).await,
        ready_body()
    );
}

/// The path of the app's SQLite database.
fn sqlite_path(app: &TestApp) -> String {
    let url = &app.settings.database.url;
    url.strip_prefix("sqlite://")
        .expect("an SQLite URL")
        .to_owned()
}

#[tokio::test]
async fn a_locked_sqlite_database_gets_503s_and_readyz_reports_the_write_check() {
    // Arrange
    let (db, url) = TestDb::create();
    if !matches!(db, TestDb::Sqlite(_)) {
        eprintln!("skipped: SQLite only");
        return;
    }
    let app = spawn_app_on(db, url, short_bounds).await;
    let path = sqlite_path(&app);
    app.create_user("alice", PASSWORD).await;
    let rp = confidential(&app).await;
    let service = service_client(&app).await;
    let resp = sign_in_and_authorize(&app, &auth_params(&rp, &[]), "alice", PASSWORD).await;
    let code = param(&redirect_params(&resp), "code").unwrap().to_owned();
    let (browser, _) = app.new_browser();
    let csrf = page_csrf(&browser, &app.url("/login")).await;
    assert_eq!(readyz(&app).await, (200, ready_body()));

    // Act: another process's connection takes the write lock and keeps it.
    let mut holder = SqliteConnection::establish(&path).unwrap();
    holder.batch_execute("BEGIN EXCLUSIVE").unwrap();

    // Assert: writes answer 503, each endpoint in its own shape.
    assert_unavailable_page(post_login(&app, &browser, &csrf).await).await;
    assert_temporarily_unavailable(exchange(&app, &rp, &code, Some(VERIFIER)).await).await;
    assert_temporarily_unavailable(client_credentials(&app, &service).await).await;
    // The client and redirect URI are read and valid; storing the request fails: the
    // client hears about it at its redirect URI (RFC 6749 §4.1.2.1).
    let resp = browser
        .get(app.url(&authorize_path(&auth_params(&rp, &[]))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let params = redirect_params(&resp);
    assert_eq!(param(&params, "error"), Some("temporarily_unavailable"));
    assert_eq!(param(&params, "error_description"), Some(DESCRIPTION));
    assert_eq!(param(&params, "state"), Some("state-123"));
    assert_eq!(param(&params, "iss"), Some(app.address.as_str()));
    assert!(param(&params, "code").is_none());
    // Reads still work; writes do not.
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({
            "status": "unavailable",
            "checks": { "database": "ok", "database_write": "unavailable" },
        })
    );

    // The lock is released: everything works again, the unredeemed code included.
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(
        readyz_until(&app, 200, Duration::from_secs(5)).await,
        ready_body()
    );
    let resp = exchange(&app, &rp, &code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(client_credentials(&app, &service).await.status(), 200);
    assert_eq!(post_login(&app, &browser, &csrf).await.status(), 303);
}

/// A small tmpfs mounted for one test, unmounted (lazily: the app's connections may still
/// be open) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes zeros to `path` until the file system refuses with ENOSPC.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    for chunk in [1 << 20, 4096, 1] {
        let zeros = vec![0u8; chunk];
        loop {
            match file.write_all(&zeros) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    let _ = file.sync_all();
}

#[tokio::test]
async fn a_full_disk_under_sqlite_gets_503s_and_readyz_reports_the_write_check() {
    // Arrange: the database on a 16 MiB file system of its own.
    let tmpfs = match Tmpfs::mount("16m") {
        Ok(t) => t,
        Err(e) if is_ci() => panic!("cannot mount a tmpfs ({e}); with CI=true that fails"),
        Err(e) => {
            eprintln!("skipped: cannot mount a tmpfs ({e})");
            return;
        }
    };
    let db_path = tmpfs.path().join("portcullis.db");
    let url = format!("sqlite://{}", db_path.display());
    let app = spawn_app_on(TestDb::Shared, url, short_bounds).await;
    app.create_user("alice", PASSWORD).await;
    let (browser, _) = app.new_browser();
    let csrf = page_csrf(&browser, &app.url("/login")).await;
    assert_eq!(readyz(&app).await, (200, ready_body()));
    // SQLite reuses write-ahead-log space that a checkpoint has freed; truncating the log
    // makes the next commit need new disk space, as it does whenever the log grows.
    let mut admin = SqliteConnection::establish(db_path.to_str().unwrap()).unwrap();
    admin
        .batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();

    // Act
    let filler = tmpfs.path().join("filler");
    fill(&filler);

    // Assert
    assert_unavailable_page(post_login(&app, &browser, &csrf).await).await;
    let body = readyz_until(&app, 503, Duration::from_secs(5)).await;
    assert_eq!(
        body,
        json!({
            "status": "unavailable",
            "checks": { "database": "ok", "database_write": "unavailable" },
        })
    );

    // Space is freed: writes and readiness come back by themselves.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        readyz_until(&app, 200, Duration::from_secs(5)).await,
        ready_body()
    );
    assert_eq!(post_login(&app, &browser, &csrf).await.status(), 303);
}

#[tokio::test]
async fn a_database_error_that_is_no_outage_stays_a_500_with_an_error_id() {
    let app = spawn_app_with(short_bounds).await;
    let service = service_client(&app).await;
    // A schema the code does not expect (a bad migration, a hand edit) is a bug to fix,
    // not an outage to wait out.
    app.db(|c| {
        c.batch_execute("ALTER TABLE access_tokens RENAME TO access_tokens_gone")
            .map_err(portcullis::store::StoreError::from)
    })
    .await;

    let resp = client_credentials(&app, &service).await;

    assert_eq!(resp.status(), 500);
    assert!(resp.headers().get("retry-after").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "server_error");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("internal error (reference ") && description.len() > 40,
        "{description}"
    );
    assert!(!description.contains("access_tokens"), "{description}");
}
