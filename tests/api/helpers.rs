//! The test harness: `spawn_app()` and friends.

use std::net::TcpListener;
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::Connection;
use figment::Figment;
use portcullis::accounts::{self, NewUser};
use portcullis::audit::Actor;
use portcullis::config::{self, Settings};
use portcullis::crypto::SecretString;
use portcullis::startup::{password_hasher, password_policy, Application};
use portcullis::store::{DbConn, Store, StoreError};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderMap;
use reqwest::Url;

pub const PASSWORD: &str = "correct horse battery staple";

/// A database for one test, removed when dropped.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another app's database (a second instance); the owner cleans up.
    Shared,
}

impl TestDb {
    /// A fresh, empty database and its URL.
    pub fn create() -> (Self, String) {
        portcullis::store::init_tls_library();
        if let Ok(base) = std::env::var("PORTCULLIS_TEST_POSTGRES_URL") {
            if !base.is_empty() {
                match Self::create_postgres(&base) {
                    Ok(created) => return created,
                    Err(e) if is_ci() => panic!(
                        "PORTCULLIS_TEST_POSTGRES_URL is set but Postgres is unreachable ({e}); \
                         with CI=true that fails the run"
                    ),
                    Err(e) => eprintln!("Postgres unreachable ({e}); this test runs on SQLite"),
                }
            }
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
        (TestDb::Sqlite(dir), url)
    }

    fn create_postgres(base: &str) -> Result<(Self, String), String> {
        let mut admin = PgConnection::establish(base).map_err(|e| e.to_string())?;
        let name = format!(
            "portcullis_test_{}",
            portcullis::crypto::random::identifier()
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| e.to_string())?;
        let mut url = Url::parse(base).map_err(|e| e.to_string())?;
        url.set_path(&name);
        Ok((
            TestDb::Postgres {
                admin_url: base.to_owned(),
                name,
            },
            url.to_string(),
        ))
    }

    /// Makes the database disappear under a running app.
    pub fn destroy(&self) {
        match self {
            TestDb::Sqlite(dir) => {
                for entry in std::fs::read_dir(dir.path()).expect("read temp dir") {
                    std::fs::remove_file(entry.expect("entry").path()).expect("remove db file");
                }
            }
            TestDb::Shared => panic!("destroy the database through the app that owns it"),
            TestDb::Postgres { admin_url, name } => {
                let mut admin = PgConnection::establish(admin_url).expect("connect to Postgres");
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .expect("drop test database");
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name } = self {
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// One key-encryption key for the whole test run (tests never touch data/portcullis.kek).
pub fn test_kek() -> String {
    static KEK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEK.get_or_init(|| portcullis::crypto::envelope::Kek::generate().to_base64())
        .clone()
}

pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub struct TestApp {
    pub address: String,
    pub settings: Settings,
    pub store: Store,
    pub setup_url: Option<String>,
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    /// The app's mail queue (see `SmtpSink::assert_no_more_mail`).
    pub mailer: portcullis::mail::Mailer,
    // Dropped last: the app's connections go before the database does.
    pub db: TestDb,
}

/// Builds settings for a test: defaults, then the test's own overrides.
fn settings(database_url: &str, port: u16, customize: impl FnOnce(Figment) -> Figment) -> Settings {
    let figment = config::figment(None)
        .expect("default config")
        .merge(("issuer", format!("http://127.0.0.1:{port}")))
        .merge(("server.listen", "127.0.0.1:0"))
        .merge(("server.workers", 1))
        .merge(("database.url", database_url))
        .merge(("database.max_connections", 4))
        .merge(("keys.encryption_key", test_kek()))
        // Tests that read mail point this at an SMTP sink; the rest keep it out of the tree.
        .merge((
            "mail.outbox_dir",
            std::env::temp_dir()
                .join("portcullis-test-outbox")
                .display()
                .to_string(),
        ));
    Settings::from_figment(customize(figment)).expect("valid test settings")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|f| f).await
}

/// Starts the app with settings adjusted by `customize`.
pub async fn spawn_app_with(customize: impl FnOnce(Figment) -> Figment) -> TestApp {
    let (db, url) = TestDb::create();
    spawn_app_on(db, url, customize).await
}

/// Starts the app on an existing database (to test restarts).
pub async fn spawn_app_on(
    db: TestDb,
    database_url: String,
    customize: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    spawn_app_at(db, database_url, |figment, _| customize(figment)).await
}

/// Starts the app with its issuer at `http://localhost:<port>` (requests still go to
/// 127.0.0.1): WebAuthn needs a domain name as relying-party id, never an IP address.
pub async fn spawn_app_on_localhost() -> TestApp {
    spawn_app_on_localhost_with(|f| f).await
}

/// Like [`spawn_app_on_localhost`], with settings adjusted by `customize`.
pub async fn spawn_app_on_localhost_with(customize: impl FnOnce(Figment) -> Figment) -> TestApp {
    let (db, url) = TestDb::create();
    spawn_app_at(db, url, |figment, port| {
        customize(figment.merge(("issuer", format!("http://localhost:{port}"))))
    })
    .await
}

/// Starts the app with settings adjusted by `customize`, which also gets the port.
async fn spawn_app_at(
    db: TestDb,
    database_url: String,
    customize: impl FnOnce(Figment, u16) -> Figment,
) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        portcullis::telemetry::init(&config::LogSettings {
            format: config::LogFormat::Text,
            level: "debug".into(),
        });
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let port = listener.local_addr().expect("local addr").port();
    let settings = settings(&database_url, port, |figment| customize(figment, port));
    let app = Application::build_with_listener(settings.clone(), listener)
        .await
        .expect("application starts");
    let store = app.store().clone();
    let setup_url = app.setup_url().map(str::to_owned);
    let mailer = app.mailer().clone();
    tokio::spawn(app.run_until_stopped());
    let (client, jar) = browser();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        settings,
        store,
        setup_url,
        client,
        jar,
        mailer,
        db,
    }
}

/// A second instance of the app on the same database as `first`, with its own settings
/// adjustments (as several instances behind a load balancer).
pub async fn spawn_instance_beside(
    first: &TestApp,
    customize: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    spawn_app_on(
        TestDb::Shared,
        first.settings.database.url.clone(),
        customize,
    )
    .await
}

impl TestApp {
    /// Runs the built `portcullis` binary (the operator's CLI) on this app's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("PORTCULLIS__DATABASE__URL", &self.settings.database.url)
            .env("PORTCULLIS__KEYS__ENCRYPTION_KEY", test_kek())
            .env_remove("RUST_LOG")
            .output()
            .expect("run portcullis")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GETs `target` exactly as written (HTTP clients resolve `..` and `%2e%2e` before
    /// sending; this does not); the status and the body.
    pub async fn raw_get(&self, target: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.address.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
        let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, body)| body.to_owned());
        (status, body)
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// The CSRF form token: the browser's cookie, or else the one the login page sets.
    pub async fn csrf_token(&self) -> String {
        if let Some(token) = self.cookie("portcullis_csrf") {
            return token;
        }
        page_csrf(&self.client, &self.url("/login")).await
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf_token().await;
        self.post_form(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Signs in with another browser: loads the login page for its CSRF token, then posts.
    pub async fn login_with(
        &self,
        browser: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let csrf = page_csrf(browser, &self.url("/login")).await;
        browser
            .post(self.url("/login"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .expect("POST /login")
    }

    /// Creates a user directly through the domain layer.
    pub async fn create_user(&self, username: &str, password: &str) -> String {
        let hasher = password_hasher(&self.settings).expect("hasher");
        let user = accounts::create(
            &self.store,
            &hasher,
            &password_policy(&self.settings),
            NewUser {
                username: username.into(),
                email: format!("{username}@example.com"),
                display_name: None,
                password: Some(SecretString::new(password)),
                admin: false,
            },
            Actor::Cli,
        )
        .await
        .expect("create user");
        user.id
    }

    /// The value of a cookie the client holds for this app.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = Url::parse(&self.address).expect("url");
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    /// Runs a query against the app's database.
    /// Gives an existing user a global role straight in the database.
    pub async fn grant_role(&self, username: &'static str, role: &'static str) {
        self.db(move |c| {
            let user = portcullis::store::users::find_by_username(c, username)?
                .ok_or(StoreError::NotFound)?;
            portcullis::store::roles::grant(c, &user.id, role, 0)
        })
        .await
    }

    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, StoreError> + Send + 'static,
    ) -> T {
        self.store.run(f).await.expect("database query")
    }

    /// A second, independent browser (own cookie jar) against the same app.
    pub fn new_browser(&self) -> (reqwest::Client, Arc<Jar>) {
        browser()
    }
}

/// A cookie-keeping HTTP client that does not follow redirects (so tests read `Location`).
pub fn browser() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(Arc::clone(&jar))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    (client, jar)
}

/// Loads a page with `client` and returns the CSRF token of its form.
pub async fn page_csrf(client: &reqwest::Client, url: &str) -> String {
    let html = client
        .get(url)
        .send()
        .await
        .expect("GET page")
        .text()
        .await
        .expect("page body");
    form_value(&html, "csrf_token").unwrap_or_else(|| panic!("{url} has no csrf_token"))
}

/// The `value` of the input named `name` in an HTML form.
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// All Set-Cookie headers of a response.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii cookie").to_owned())
        .collect()
}

/// The Set-Cookie header for `name`, if any.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .expect("Location header")
        .to_str()
        .expect("ascii")
        .to_owned()
}
