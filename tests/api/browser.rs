//! End to end in a real browser: headless Chromium, driven over WebDriver by chromedriver.
//!
//! Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them). Without
//! chromedriver these tests print a note and pass locally, and fail under CI=true.
//! Everything stays on 127.0.0.1: the app, chromedriver, and the pages Chromium loads.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thirtyfour::prelude::*;
use thirtyfour::{BrowserLogEntry, LoggingPrefsLogLevel};

use crate::flow::{self, RpClient};
use crate::helpers::{is_ci, spawn_app, TestApp, PASSWORD};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
];
const SESSION_COOKIE: &str = "portcullis_session";
/// How long one step (a page to appear, chromedriver to listen) may take.
const STEP: Duration = Duration::from_secs(10);
/// How long a whole browser test may take once the browser is up.
const WHOLE_TEST: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// One browser at a time in this test binary: two cores do not start several Chromiums
/// at once quickly, and the waits here are bounded.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A chromedriver process on a free loopback port, killed when dropped.
struct ChromeDriver {
    child: Child,
    port: u16,
    log: PathBuf,
    // Removed after the process is gone and its log has been read.
    _log_dir: tempfile::TempDir,
}

impl ChromeDriver {
    async fn start() -> Self {
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log = log_dir.path().join("chromedriver.log");
        // The free port is found by binding and releasing it; another process may take it
        // in between, so a chromedriver that exits at once is retried on a new port.
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER}: {e}"));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + STEP;
            loop {
                if TcpStream::connect_timeout(&addr, POLL).is_ok() {
                    return ChromeDriver {
                        child,
                        port,
                        log,
                        _log_dir: log_dir,
                    };
                }
                if child.try_wait().expect("chromedriver status").is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "chromedriver did not listen on {addr} within {STEP:?}\n{}",
                        log_tail(&log)
                    );
                }
                tokio::time::sleep(POLL).await;
            }
        }
        panic!(
            "chromedriver exited at start three times\n{}",
            log_tail(&log)
        );
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", log_tail(&self.log));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The last lines of chromedriver's log, to explain a failure.
fn log_tail(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(log) {
        let _ = file.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(30);
    format!(
        "--- chromedriver log (last lines) ---\n{}",
        lines[start..].join("\n")
    )
}

/// Whether the browser can run here. Without Chromium or chromedriver, CI fails and a
/// local run skips.
fn browser_available() -> bool {
    let Some(missing) = [CHROMEDRIVER, CHROMIUM]
        .into_iter()
        .find(|path| !Path::new(path).exists())
    else {
        return true;
    };
    if is_ci() {
        panic!(
            "{missing} is missing: the browser tests need Debian's chromium and \
             chromium-driver packages (.ci/run installs them)"
        );
    }
    eprintln!("skipped: {missing} is missing (apt-get install chromium chromium-driver)");
    false
}

/// A WebDriver session in a fresh headless Chromium with its own profile directory.
struct Browser {
    driver: WebDriver,
    _chromedriver: ChromeDriver,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and Chromium, or returns None (after saying so) to skip.
    async fn launch() -> Option<Self> {
        if !browser_available() {
            return None;
        }
        let turn = ONE_BROWSER.lock().await;
        let profile = tempfile::tempdir().expect("temp dir");
        let chromedriver = ChromeDriver::start().await;

        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).expect("binary capability");
        for arg in CHROMIUM_ARGS {
            caps.add_arg(arg).expect("chromium argument");
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .expect("chromium argument");
        caps.set_browser_log_level(LoggingPrefsLogLevel::All)
            .expect("logging capability");

        let driver = WebDriver::builder(chromedriver.url(), caps)
            .request_timeout(Duration::from_secs(60))
            .await
            // Dropping chromedriver on this panic prints its log.
            .unwrap_or_else(|e| panic!("no WebDriver session with {CHROMIUM}: {e}"));
        let browser = Browser {
            driver,
            _chromedriver: chromedriver,
            _profile: profile,
            _turn: turn,
        };
        let timeouts = TimeoutConfiguration::new(Some(STEP), Some(STEP), Some(Duration::ZERO));
        if let Err(e) = browser.driver.update_timeouts(timeouts).await {
            browser.driver.clone().quit().await.ok();
            panic!("cannot set WebDriver timeouts: {e}");
        }
        Some(browser)
    }

    /// Runs `test` within a time limit, then closes the browser: on success, on error and
    /// on panic (the panic goes on after the browser is closed).
    async fn run<F, Fut>(self, test: F)
    where
        F: FnOnce(WebDriver) -> Fut,
        Fut: Future<Output = WebDriverResult<()>>,
    {
        // Fields drop in order after this: the quit session, chromedriver, the profile
        // directory, and last the turn of the next browser test.
        let outcome = self
            .driver
            .clone()
            .run_and_quit(|driver| async move {
                match tokio::time::timeout(WHOLE_TEST, test(driver)).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("the browser test took longer than {WHOLE_TEST:?}")),
                }
            })
            .await;
        // Dropping chromedriver on this panic prints its log.
        if let Err(e) = outcome {
            panic!("{e}");
        }
    }
}

/// Waits until the browser shows `url` with `text` in the page, or fails saying what it
/// shows instead.
async fn wait_for_page(driver: &WebDriver, url: &str, text: &str) {
    let deadline = Instant::now() + STEP;
    let (mut seen_url, mut seen_text) = (String::new(), String::new());
    loop {
        // Mid-navigation the page may be gone; that is "not yet", not a failure.
        if let Ok(current) = driver.current_url().await {
            seen_url = current.to_string();
        }
        if let Ok(body) = page_text(driver).await {
            seen_text = body;
        }
        if seen_url == url && seen_text.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {STEP:?} the browser shows {seen_url}, not {url} with {text:?}; \
             page text: {seen_text:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn page_text(driver: &WebDriver) -> WebDriverResult<String> {
    driver.find(By::Tag("body")).await?.text().await
}

async fn cookie_names(driver: &WebDriver) -> WebDriverResult<Vec<String>> {
    Ok(driver
        .get_all_cookies()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect())
}

/// Types the credentials into the sign-in form and presses its button, as a person would.
async fn sign_in(driver: &WebDriver, username: &str, password: &str) -> WebDriverResult<()> {
    driver
        .find(By::Name("username"))
        .await?
        .send_keys(username)
        .await?;
    driver
        .find(By::Name("password"))
        .await?
        .send_keys(password)
        .await?;
    driver
        .find(By::Css("form[action='/login'] button[type='submit']"))
        .await?
        .click()
        .await
}

/// Console messages at error level (failed loads, CSP refusals, script errors), except
/// the 404 for the /favicon.ico that Chromium asks every site for on its own.
fn errors(log: &[BrowserLogEntry]) -> Vec<&str> {
    log.iter()
        .filter(|entry| entry.level == "SEVERE" && !entry.message.contains("/favicon.ico "))
        .map(|entry| entry.message.as_str())
        .collect()
}

#[tokio::test]
async fn a_person_signs_in_and_out_in_a_real_browser() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;

    browser
        .run(|driver| async move {
            driver.goto(app.url("/login")).await?;
            sign_in(&driver, "alice", PASSWORD).await?;

            wait_for_page(&driver, &app.url("/"), "You are signed in as alice").await;
            let session = driver
                .get_named_cookie(SESSION_COOKIE)
                .await
                .unwrap_or_else(|e| panic!("no {SESSION_COOKIE} cookie after signing in: {e}"));
            assert_eq!(session.http_only, Some(true), "{session:?}");
            assert!(!session.value.is_empty(), "{session:?}");

            driver
                .find(By::XPath("//button[normalize-space()='Sign out']"))
                .await?
                .click()
                .await?;

            wait_for_page(&driver, &app.url("/login"), "Sign in").await;
            let names = cookie_names(&driver).await?;
            assert!(
                !names.iter().any(|n| n == SESSION_COOKIE),
                "the session cookie outlived signing out: {names:?}"
            );
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn a_wrong_password_shows_the_generic_error_in_the_browser() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;

    browser
        .run(|driver| async move {
            driver.goto(app.url("/login")).await?;
            sign_in(&driver, "alice", "not the password at all").await?;

            wait_for_page(&driver, &app.url("/login"), "Invalid username or password.").await;
            let alert = driver.find(By::Css("[role='alert']")).await?.text().await?;
            assert_eq!(alert, "Invalid username or password.");
            let username = driver.find(By::Name("username")).await?.value().await?;
            assert_eq!(username.as_deref(), Some("alice"));
            let names = cookie_names(&driver).await?;
            assert!(
                !names.iter().any(|n| n == SESSION_COOKIE),
                "a wrong password got a session cookie: {names:?}"
            );
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn the_login_page_runs_no_inline_script_and_the_stylesheet_loads() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = spawn_app().await;

    browser
        .run(|driver| async move {
            driver.goto(app.url("/login")).await?;
            wait_for_page(&driver, &app.url("/login"), "Sign in").await;

            let page: serde_json::Value = driver
                .execute(
                    r#"
                    const button = document.querySelector("button[type='submit']");
                    return {
                        styleSheets: document.styleSheets.length,
                        scripts: document.scripts.length,
                        styleAttributes: document.querySelectorAll("[style]").length,
                        handlerAttributes: [...document.querySelectorAll("*")]
                            .flatMap(e => [...e.attributes])
                            .filter(a => a.name.startsWith("on"))
                            .map(a => a.name),
                        buttonBackground: getComputedStyle(button).backgroundColor,
                    };
                    "#,
                    Vec::new(),
                )
                .await?
                .convert()?;

            assert!(page["styleSheets"].as_u64().unwrap_or(0) >= 1, "{page}");
            assert_eq!(page["scripts"], 0, "the page has script elements: {page}");
            assert_eq!(
                page["styleAttributes"], 0,
                "inline style attributes: {page}"
            );
            assert_eq!(page["handlerAttributes"], serde_json::json!([]), "{page}");
            // --accent from static/portcullis.css: light scheme, or dark if the browser
            // prefers it. The browser default would be a light grey.
            let background = page["buttonBackground"].as_str().unwrap_or_default();
            assert!(
                ["rgb(31, 95, 191)", "rgb(76, 142, 230)"].contains(&background),
                "the stylesheet did not style the button: {page}"
            );

            let log = driver.browser_log().await?;
            let errors = errors(&log);
            assert!(errors.is_empty(), "the console shows errors: {errors:#?}");
            Ok(())
        })
        .await;
}

/// One request the stand-in relying party received.
#[derive(Clone, Debug)]
struct RpRequest {
    method: String,
    /// Path and query, as sent on the request line.
    target: String,
    body: String,
}

/// A tiny relying party on a free loopback port: `GET /cb?…` and `POST /cb` get a small
/// "callback received" page, anything else a 404; every request is recorded. Stopped when
/// dropped.
struct StandInRp {
    port: u16,
    requests: Arc<Mutex<Vec<RpRequest>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

const RP_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Browser RP</title></head><body><p>callback received</p></body></html>";

impl StandInRp {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stand-in RP");
        let port = listener.local_addr().expect("local addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = Arc::clone(&requests);
                    // One thread per connection: Chromium opens spare connections that may
                    // never carry a request.
                    std::thread::spawn(move || serve_rp_connection(stream, &requests));
                }
            })
        };
        StandInRp {
            port,
            requests,
            stop,
            acceptor: Some(acceptor),
        }
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/cb", self.port)
    }

    fn requests(&self) -> Vec<RpRequest> {
        self.requests.lock().expect("RP request log").clone()
    }
}

impl Drop for StandInRp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], self.port)), STEP);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Reads one HTTP/1.1 request from `stream`, records it and answers with `Connection: close`.
fn serve_rp_connection(mut stream: TcpStream, requests: &Mutex<Vec<RpRequest>>) {
    const LIMIT: usize = 64 * 1024;
    let _ = stream.set_read_timeout(Some(STEP));
    let _ = stream.set_write_timeout(Some(STEP));
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
        if data.len() > LIMIT {
            return;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(LIMIT);
    while data.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let body_end = data.len().min(head_end + length);
    let body = String::from_utf8_lossy(&data[head_end..body_end]).into_owned();
    let is_callback =
        (method == "GET" || method == "POST") && (target == "/cb" || target.starts_with("/cb?"));
    requests.lock().expect("RP request log").push(RpRequest {
        method,
        target,
        body,
    });
    let (status, page) = if is_callback {
        ("200 OK", RP_PAGE)
    } else {
        ("404 Not Found", "not found")
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// Waits until the browser's URL starts with `prefix` and the page shows `text`; returns
/// the URL. Fails with what the browser shows instead and its console errors (a CSP
/// refusal of a form's redirect leaves the browser on the previous page and says so there).
async fn wait_for_url_prefix(driver: &WebDriver, prefix: &str, text: &str) -> String {
    let deadline = Instant::now() + STEP;
    let (mut seen_url, mut seen_text) = (String::new(), String::new());
    loop {
        if let Ok(current) = driver.current_url().await {
            seen_url = current.to_string();
        }
        if let Ok(body) = page_text(driver).await {
            seen_text = body;
        }
        if seen_url.starts_with(prefix) && seen_text.contains(text) {
            return seen_url;
        }
        if Instant::now() >= deadline {
            let log = driver.browser_log().await.unwrap_or_default();
            let messages: Vec<String> = log
                .iter()
                .map(|entry| format!("[{}] {}", entry.level, entry.message))
                .collect();
            panic!(
                "after {STEP:?} the browser shows {seen_url}, not {prefix}… with {text:?}; \
                 page text: {seen_text:?}; console: {messages:#?}"
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Registers "Browser RP", a confidential client whose only redirect URI is `rp`'s.
async fn register_browser_rp(app: &TestApp, rp: &StandInRp) -> RpClient {
    flow::register(
        app,
        portcullis::clients::NewClient {
            name: "Browser RP".into(),
            redirect_uris: vec![rp.redirect_uri()],
            ..Default::default()
        },
    )
    .await
}

/// The authorization URL the relying party sends the browser to (PKCE S256, state `xyz`,
/// nonce `n1`), with `extra` parameters added.
fn browser_rp_authorization_url(
    app: &TestApp,
    client: &RpClient,
    rp: &StandInRp,
    extra: &[(&str, &str)],
) -> String {
    let redirect_uri = rp.redirect_uri();
    let mut params = vec![
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", "openid email"),
        ("state", "xyz"),
        ("nonce", "n1"),
    ];
    params.extend_from_slice(extra);
    app.url(&flow::authorize_path(&flow::auth_params(client, &params)))
}

/// Signs alice in on the login page the authorization URL leads to and allows access on
/// the consent page, as a person would.
async fn sign_in_and_allow(driver: &WebDriver, app: &TestApp) -> WebDriverResult<()> {
    wait_for_url_prefix(
        driver,
        &app.url("/login?request="),
        "to continue to Browser RP",
    )
    .await;
    let title = driver.title().await?;
    assert!(title.contains("Sign in"), "login page title: {title:?}");
    sign_in(driver, "alice", PASSWORD).await?;

    wait_for_url_prefix(
        driver,
        &app.url("/consent?request="),
        "Browser RP wants to access your account",
    )
    .await;
    driver
        .find(By::Css("button[name='decision'][value='allow']"))
        .await?
        .click()
        .await
}

/// Redeems `code` at the token endpoint as the relying party would (client_secret_basic,
/// PKCE verifier) and checks the tokens, including the nonce in the ID token.
async fn redeem_as_browser_rp(app: &TestApp, client: &RpClient, rp: &StandInRp, code: &str) {
    let redirect_uri = rp.redirect_uri();
    let resp = app
        .client
        .post(app.url("/token"))
        .header("authorization", client.basic_auth())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", flow::VERIFIER),
        ])
        .send()
        .await
        .expect("POST /token");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.expect("a JSON token response");
    assert_eq!(status, 200, "{body}");
    assert!(
        body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    let id_token = body["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    let (_, claims) = flow::verify_jwt(app, id_token).await;
    assert_eq!(claims["nonce"], "n1", "{claims:?}");
    assert_eq!(claims["iss"], app.address.as_str(), "{claims:?}");
}

#[tokio::test]
async fn a_browser_goes_from_an_authorization_url_through_login_and_consent_to_the_client() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let rp = StandInRp::start();
    let client = register_browser_rp(&app, &rp).await;
    let authorization_url = browser_rp_authorization_url(&app, &client, &rp, &[]);

    browser
        .run(|driver| async move {
            driver.goto(&authorization_url).await?;
            sign_in_and_allow(&driver, &app).await?;

            let callback = format!("{}?", rp.redirect_uri());
            let landed = wait_for_url_prefix(&driver, &callback, "callback received").await;
            let params: Vec<(String, String)> = reqwest::Url::parse(&landed)
                .expect("a URL")
                .query_pairs()
                .into_owned()
                .collect();
            assert_eq!(flow::param(&params, "state"), Some("xyz"), "{landed}");
            assert_eq!(
                flow::param(&params, "iss"),
                Some(app.address.as_str()),
                "{landed}"
            );
            let code = flow::param(&params, "code")
                .unwrap_or_else(|| panic!("no code in {landed}"))
                .to_owned();

            let callbacks: Vec<RpRequest> = rp
                .requests()
                .into_iter()
                .filter(|r| r.target.starts_with("/cb"))
                .collect();
            assert_eq!(callbacks.len(), 1, "{callbacks:#?}");
            assert_eq!(callbacks[0].method, "GET", "{callbacks:#?}");
            assert_eq!(
                landed.strip_prefix(&format!("http://127.0.0.1:{}", rp.port)),
                Some(callbacks[0].target.as_str()),
                "{callbacks:#?}"
            );

            redeem_as_browser_rp(&app, &client, &rp, &code).await;

            let log = driver.browser_log().await?;
            let errors = errors(&log);
            assert!(errors.is_empty(), "the console shows errors: {errors:#?}");
            Ok(())
        })
        .await;
}

#[tokio::test]
async fn the_form_post_response_mode_reaches_the_client_in_a_real_browser() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = spawn_app().await;
    app.create_user("alice", PASSWORD).await;
    let rp = StandInRp::start();
    let client = register_browser_rp(&app, &rp).await;
    let authorization_url =
        browser_rp_authorization_url(&app, &client, &rp, &[("response_mode", "form_post")]);

    browser
        .run(|driver| async move {
            driver.goto(&authorization_url).await?;
            sign_in_and_allow(&driver, &app).await?;

            // /static/form_post.js submits the page's form to the client on its own.
            let landed =
                wait_for_url_prefix(&driver, &rp.redirect_uri(), "callback received").await;
            assert_eq!(landed, rp.redirect_uri(), "no query in form_post mode");

            let callbacks: Vec<RpRequest> = rp
                .requests()
                .into_iter()
                .filter(|r| r.target.starts_with("/cb"))
                .collect();
            assert_eq!(callbacks.len(), 1, "{callbacks:#?}");
            let callback = &callbacks[0];
            assert_eq!(callback.method, "POST", "{callback:?}");
            assert_eq!(callback.target, "/cb", "{callback:?}");
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_str(&callback.body).expect("a form body");
            assert_eq!(flow::param(&fields, "state"), Some("xyz"), "{callback:?}");
            assert_eq!(
                flow::param(&fields, "iss"),
                Some(app.address.as_str()),
                "{callback:?}"
            );
            let code = flow::param(&fields, "code")
                .unwrap_or_else(|| panic!("no code in {callback:?}"))
                .to_owned();

            redeem_as_browser_rp(&app, &client, &rp, &code).await;

            let log = driver.browser_log().await?;
            let errors = errors(&log);
            assert!(errors.is_empty(), "the console shows errors: {errors:#?}");
            Ok(())
        })
        .await;
}

/// static/webauthn.js in a real browser with Chromium's virtual authenticator (a platform
/// authenticator with resident keys and user verification): adding a passkey on the
/// account page, then removing it with the "authenticate" flow, as an account without a
/// password must. The issuer is `localhost`, since WebAuthn refuses IP addresses.
#[tokio::test]
async fn a_passkey_is_added_signs_in_alone_and_is_removed_in_a_real_browser() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = crate::helpers::spawn_app_on_localhost().await;
    let user = portcullis::accounts::create(
        &app.store,
        &portcullis::startup::password_hasher(&app.settings).expect("hasher"),
        &portcullis::startup::password_policy(&app.settings),
        portcullis::accounts::NewUser {
            username: "carol".into(),
            email: "carol@example.com".into(),
            display_name: None,
            password: None,
            admin: false,
        },
        portcullis::audit::Actor::Cli,
    )
    .await
    .expect("create a user without a password");
    let policy = portcullis::sessions::SessionPolicy {
        idle_secs: 3600,
        absolute_secs: 3600,
    };
    let session = portcullis::sessions::NewSession {
        user_id: user.id.clone(),
        amr: vec!["hwk".into()],
        ip: None,
        user_agent: None,
        replaces: None,
    };
    let (token, _) = portcullis::sessions::start(&app.store, policy, session)
        .await
        .expect("a session");
    let at = |path: &str| format!("{}{path}", app.settings.issuer);

    browser
        .run(|driver| async move {
            driver.goto(at("/login")).await?;
            let mut cookie = Cookie::new(SESSION_COOKIE, token.expose().to_owned());
            cookie.set_path("/");
            driver.add_cookie(cookie).await?;
            let cdp = driver.cdp();
            cdp.send_raw("WebAuthn.enable", serde_json::json!({}))
                .await?;
            cdp.send_raw(
                "WebAuthn.addVirtualAuthenticator",
                serde_json::json!({ "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true,
                    "automaticPresenceSimulation": true,
                }}),
            )
            .await?;

            driver.goto(at("/account/passkeys")).await?;
            wait_for_page(
                &driver,
                &at("/account/passkeys"),
                "You have no passkeys yet",
            )
            .await;
            driver
                .find(By::Id("passkey-name"))
                .await?
                .send_keys("Chromium")
                .await?;
            driver
                .find(By::XPath("//button[normalize-space()='Add a passkey']"))
                .await?
                .click()
                .await?;
            wait_for_page(
                &driver,
                &at("/account/security?done=passkey"),
                "Get your recovery codes",
            )
            .await;
            // Signed out, the passkey alone signs in from the login page.
            driver.delete_cookie(SESSION_COOKIE).await?;
            driver
                .goto(at("/login?return_to=/account/passkeys"))
                .await?;
            wait_for_page(
                &driver,
                &at("/login?return_to=/account/passkeys"),
                "Sign in",
            )
            .await;
            driver
                .find(By::XPath(
                    "//button[normalize-space()='Sign in with a passkey']",
                ))
                .await?
                .click()
                .await?;
            wait_for_page(&driver, &at("/account/passkeys"), "Chromium").await;

            driver
                .find(By::XPath(
                    "//button[normalize-space()='Remove (confirm with a passkey)']",
                ))
                .await?
                .click()
                .await?;
            wait_for_page(
                &driver,
                &at("/account/passkeys?removed=1"),
                "The passkey was removed.",
            )
            .await;

            let log = driver.browser_log().await?;
            let errors = errors(&log);
            assert!(errors.is_empty(), "the console shows errors: {errors:#?}");
            Ok(())
        })
        .await;

    let actions: Vec<String> = app
        .db(|c| portcullis::store::audit::recent(c, 20))
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"passkey.added".to_owned()), "{actions:?}");
    assert!(
        actions.contains(&"passkey.removed".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn password_and_authenticator_code_lead_a_browser_through_to_the_client() {
    let Some(browser) = Browser::launch().await else {
        return;
    };
    let app = spawn_app().await;
    // Alice set up an authenticator app earlier (through the account page).
    let (secret, _) = crate::mfa_support::user_with_totp(&app, "alice").await;
    let rp = StandInRp::start();
    let client = register_browser_rp(&app, &rp).await;
    let authorization_url = browser_rp_authorization_url(&app, &client, &rp, &[]);

    browser
        .run(|driver| async move {
            driver.goto(&authorization_url).await?;
            wait_for_url_prefix(&driver, &app.url("/login?request="), "Browser RP").await;
            sign_in(&driver, "alice", PASSWORD).await?;

            wait_for_url_prefix(&driver, &app.url("/login/mfa"), "Confirm it's you").await;
            assert!(
                !cookie_names(&driver)
                    .await?
                    .iter()
                    .any(|n| n == "portcullis_session"),
                "no session after the password alone"
            );
            // The set-up spent the current step; the next one is within the skew.
            let code = crate::mfa_support::code_at(&secret, crate::mfa_support::now() + 30);
            driver
                .find(By::Name("code"))
                .await?
                .send_keys(&code)
                .await?;
            driver
                .find(By::Css("form[action='/login/mfa'] button[type='submit']"))
                .await?
                .click()
                .await?;

            wait_for_url_prefix(
                &driver,
                &app.url("/consent?request="),
                "Browser RP wants to access your account",
            )
            .await;
            driver
                .find(By::Css("button[name='decision'][value='allow']"))
                .await?
                .click()
                .await?;

            let callback = format!("{}?", rp.redirect_uri());
            let landed = wait_for_url_prefix(&driver, &callback, "callback received").await;
            let params: Vec<(String, String)> = reqwest::Url::parse(&landed)
                .expect("a URL")
                .query_pairs()
                .into_owned()
                .collect();
            assert_eq!(flow::param(&params, "state"), Some("xyz"), "{landed}");
            let code = flow::param(&params, "code")
                .unwrap_or_else(|| panic!("no code in {landed}"))
                .to_owned();
            redeem_as_browser_rp(&app, &client, &rp, &code).await;

            let log = driver.browser_log().await?;
            let errors = errors(&log);
            assert!(errors.is_empty(), "the console shows errors: {errors:#?}");
            Ok(())
        })
        .await;
}
