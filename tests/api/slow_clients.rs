//! Slow and numerous clients: the request deadline (`server.request_timeout_secs`) and the
//! connection caps (`server.max_connections`, `server.max_connections_per_ip`), tested with
//! real sockets; start-up settings and the open-file limit are in `open_files.rs`. Attackers
//! connect from other loopback addresses (127.0.0.2, ...; Linux routes all of 127/8 to lo)
//! while the normal client stays on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{browser, spawn_app_with, TestApp};

/// Generous bound on anything that should happen at once or at a short deadline.
const PROMPTLY: Duration = Duration::from_secs(15);

fn server_addr(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to the app from the loopback address `from`.
async fn connect_from(app: &TestApp, from: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    socket.connect(server_addr(app)).await.unwrap()
}

/// A request head announcing a body of 1,000 bytes, and the first few bytes of that body.
fn head_of_slow_post(path: &str, accept: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n\
         grant_type="
    )
}

/// Reads until the server closes the connection (a reset after the response counts as
/// closed: the server may close with our drip unread) and returns the text received. It
/// returns only once the connection is closed, so a caller bounds it with [`closed_within`].
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read failed: {e}"),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// The text the server sent before closing the connection, which it must do within
/// `within` (`why` says what the closing proves).
async fn closed_within(
    stream: &mut (impl AsyncReadExt + Unpin),
    within: Duration,
    why: &str,
) -> String {
    tokio::time::timeout(within, read_until_closed(stream))
        .await
        .unwrap_or_else(|_| panic!("{why}"))
}

/// A raw HTTP response, split into status, lower-cased headers and body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn parse(text: &str) -> Raw {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete response in {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Raw {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A refused connection's answer, written at accept before any request is read: 503,
    /// Retry-After, Connection: close, plain text, and the headers every response gets.
    fn assert_shed(&self) {
        assert_eq!(self.status, 503, "{}", self.body);
        assert_eq!(self.header("retry-after"), Some("5"));
        assert_eq!(self.header("connection"), Some("close"));
        assert_eq!(
            self.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(
            self.header("content-length"),
            Some(self.body.len().to_string().as_str())
        );
        assert!(self.body.contains("Too many connections"), "{}", self.body);
    }

    /// The headers the middleware adds to every response that passes through it.
    fn assert_from_the_middleware(&self) {
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("x-frame-options"), Some("DENY"));
        let id = self.header("x-request-id").expect("an X-Request-Id");
        assert!(!id.is_empty());
    }
}

/// Reads one response on a kept-alive connection: its head, then `Content-Length` bytes
/// (a response may arrive in several reads).
async fn read_one_response(stream: &mut TcpStream) -> Raw {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap())
                .expect("a Content-Length");
            if body.len() >= length {
                return Raw::parse(&text);
            }
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a whole response: {text:?}");
        received.extend_from_slice(&buf[..n]);
    }
}

/// Sends one byte every 500 ms until the server stops taking them.
fn drip(mut writer: tokio::net::tcp::OwnedWriteHalf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(b"x").await.is_err() {
                return;
            }
        }
    })
}

/// Connections beyond the caps need open files in this process too (client and server
/// side); nextest runs each test in its own process, so this stays local to the test.
fn allow_many_open_files() {
    rlimit::increase_nofile_limit(8192).unwrap();
}

/// What the normal client must keep getting while others are shed: the health check, an
/// OAuth error from a real endpoint, and the sign-in page.
async fn assert_normal_client_is_served(app: &TestApp) {
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let token = app
        .post_form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "wrong"),
            ],
        )
        .await;
    assert_eq!(token.status(), 401);
    let body: Value = token.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let login = app.get("/login").await;
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("csrf_token"));
}

#[tokio::test]
async fn hundreds_of_slow_bodies_from_one_address_are_shed_beyond_its_cap_while_others_are_served()
{
    allow_many_open_files();
    let app = spawn_app_with(|f| {
        f.merge(("server.max_connections_per_ip", 50))
            .merge(("server.request_timeout_secs", 120))
    })
    .await;
    assert_normal_client_is_served(&app).await;

    // 300 connections from 127.0.0.2, each sending a head and the start of a body that
    // never comes; each one's answer, if any, is reported on the channel.
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for i in 0..300 {
        let mut stream = connect_from(&app, attacker).await;
        stream
            .write_all(head_of_slow_post("/token", "application/json").as_bytes())
            .await
            .unwrap();
        let (mut reader, writer) = stream.into_split();
        writers.push(writer);
        let answers = answers.clone();
        tokio::spawn(async move {
            let text = read_until_closed(&mut reader).await;
            let _ = answers.send((i, text));
        });
    }

    // The 250 beyond the cap are answered at once...
    let mut shed = Vec::new();
    while shed.len() < 250 {
        let (i, text) = tokio::time::timeout(PROMPTLY, answered.recv())
            .await
            .expect("connections beyond the per-address cap are answered promptly")
            .unwrap();
        Raw::parse(&text).assert_shed();
        shed.push(i);
    }
    // ...while the normal client is served as before...
    assert_normal_client_is_served(&app).await;
    // ...and the 50 admitted ones are still waiting for their bodies, unanswered.
    assert!(
        matches!(
            answered.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Empty)
        ),
        "only the connections beyond the cap are answered"
    );

    // Another attacker address has its own budget.
    let mut other = connect_from(&app, Ipv4Addr::new(127, 0, 0, 3)).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = closed_within(
        &mut other,
        PROMPTLY,
        "the other address is answered and its connection closed",
    )
    .await;
    assert_eq!(Raw::parse(&text).status, 200);
    drop(writers);
}

#[tokio::test]
async fn the_overall_cap_sheds_every_source_until_connections_close() {
    let app = spawn_app_with(|f| {
        f.merge(("server.max_connections", 10))
            .merge(("server.max_connections_per_ip", 10))
            .merge(("server.request_timeout_secs", 120))
    })
    .await;
    // Ten slow connections from ten addresses fill the server.
    let mut slow = Vec::new();
    for last in 2..12 {
        let mut stream = connect_from(&app, Ipv4Addr::new(127, 0, 0, last)).await;
        stream
            .write_all(head_of_slow_post("/token", "application/json").as_bytes())
            .await
            .unwrap();
        slow.push(stream);
    }

    // A new address is refused, and so is a browser on the normal client's address.
    for from in [Ipv4Addr::new(127, 0, 0, 12), Ipv4Addr::LOCALHOST] {
        let mut newcomer = connect_from(&app, from).await;
        newcomer
            .write_all(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n")
            .await
            .unwrap();
        let text = closed_within(
            &mut newcomer,
            PROMPTLY,
            "a connection beyond the overall cap is answered and closed",
        )
        .await;
        Raw::parse(&text).assert_shed();
    }

    // Once the slow connections are gone, everyone is served again.
    drop(slow);
    let deadline = Instant::now() + PROMPTLY;
    loop {
        let (fresh, _) = browser();
        // A refusal written at accept may reach the client before it has sent its request,
        // which it may then report as an error instead of the 503.
        let outcome = fresh
            .get(app.url("/healthz"))
            .send()
            .await
            .map(|r| r.status());
        if matches!(outcome, Ok(status) if status == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {outcome:?} after the slow connections closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn connections_from_a_trusted_proxy_count_only_toward_the_overall_cap() {
    let app = spawn_app_with(|f| {
        f.merge(("server.max_connections_per_ip", 2))
            .merge(("server.trusted_proxies", vec!["127.0.0.5"]))
            .merge(("server.request_timeout_secs", 120))
    })
    .await;
    let healthz = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut held = Vec::new();
    // Four connections from the proxy (twice the per-address cap), two from a client.
    for (last, holding) in [(5, 4), (6, 2)] {
        let from = Ipv4Addr::new(127, 0, 0, last);
        for _ in 0..holding {
            let mut stream = connect_from(&app, from).await;
            stream
                .write_all(head_of_slow_post("/token", "application/json").as_bytes())
                .await
                .unwrap();
            held.push(stream);
        }
        let mut probe = connect_from(&app, from).await;
        probe.write_all(healthz).await.unwrap();
        let text = closed_within(
            &mut probe,
            PROMPTLY,
            "the probe is answered and its connection closed",
        )
        .await;
        let response = Raw::parse(&text);
        if last == 5 {
            assert_eq!(response.status, 200, "the proxy has no per-address cap");
        } else {
            response.assert_shed();
        }
    }
}

/// Dripping a body to `path` with `accept`: the response after the deadline, once the
/// server has closed the connection.
async fn drip_body(app: &TestApp, path: &str, accept: &str) -> Raw {
    let started = Instant::now();
    let mut stream = connect_from(app, Ipv4Addr::new(127, 0, 0, 7)).await;
    stream
        .write_all(head_of_slow_post(path, accept).as_bytes())
        .await
        .unwrap();
    let (mut reader, writer) = stream.into_split();
    let dripping = drip(writer);
    let text = closed_within(
        &mut reader,
        PROMPTLY,
        "a dripped body is cut at the deadline",
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "answered before the deadline: {text}"
    );
    dripping.abort();
    Raw::parse(&text)
}

#[tokio::test]
async fn a_dripped_body_gets_408_and_a_closed_connection_after_the_deadline() {
    let app = spawn_app_with(|f| f.merge(("server.request_timeout_secs", 2))).await;

    let api = drip_body(&app, "/token", "application/json").await;
    assert_eq!(api.status, 408);
    assert_eq!(api.header("connection"), Some("close"));
    assert_eq!(api.header("content-type"), Some("application/problem+json"));
    let body: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "type": "about:blank",
            "title": "Request timed out",
            "status": 408,
            "detail": "The request took too long to arrive. Try again.",
            "code": "request_timeout",
        })
    );
    api.assert_from_the_middleware();

    let page = drip_body(&app, "/login", "text/html").await;
    assert_eq!(page.status, 408);
    assert_eq!(page.header("connection"), Some("close"));
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("Request timed out"), "{}", page.body);
    page.assert_from_the_middleware();

    // A request that arrives in time is unaffected.
    assert_normal_client_is_served(&app).await;
}

#[tokio::test]
async fn a_slow_head_is_cut_with_408_and_the_connection_closed() {
    let app = spawn_app_with(|f| f.merge(("server.request_timeout_secs", 2))).await;
    let started = Instant::now();
    let mut stream = connect_from(&app, Ipv4Addr::new(127, 0, 0, 8)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (mut reader, writer) = stream.into_split();
    let dripping = drip(writer);
    let text = closed_within(&mut reader, PROMPTLY, "a slow head is cut at the deadline").await;
    dripping.abort();
    assert!(started.elapsed() >= Duration::from_secs(2), "{text}");
    assert_eq!(Raw::parse(&text).status, 408);
}

#[tokio::test]
async fn a_chunked_body_the_handler_never_reads_does_not_keep_the_connection() {
    let app = spawn_app_with(|f| f.merge(("server.request_timeout_secs", 120))).await;
    let mut stream = connect_from(&app, Ipv4Addr::new(127, 0, 0, 9)).await;
    stream
        .write_all(
            b"POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n400\r\nabc",
        )
        .await
        .unwrap();
    let (mut reader, writer) = stream.into_split();
    let dripping = drip(writer);
    let text = closed_within(
        &mut reader,
        PROMPTLY,
        "the connection is answered and closed, not drained for ever",
    )
    .await;
    dripping.abort();
    let response = Raw::parse(&text);
    assert_eq!(response.status, 404);
    assert_eq!(response.header("connection"), Some("close"));
}

/// actix bounds the head of a connection's first request only, so a client could send a
/// quick request and then drip the next head for ever: only trusted proxies keep their
/// connections.
#[tokio::test]
async fn only_connections_from_trusted_proxies_are_kept_alive() {
    let app = spawn_app_with(|f| {
        f.merge(("server.trusted_proxies", vec!["127.0.0.5"]))
            .merge(("server.request_timeout_secs", 2))
    })
    .await;
    let healthz = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    let mut client = connect_from(&app, Ipv4Addr::new(127, 0, 0, 8)).await;
    client.write_all(healthz).await.unwrap();
    let text = closed_within(
        &mut client,
        PROMPTLY,
        "a client's connection closes after one response",
    )
    .await;
    let response = Raw::parse(&text);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));

    let mut proxy = connect_from(&app, Ipv4Addr::new(127, 0, 0, 5)).await;
    for _ in 0..2 {
        proxy.write_all(healthz).await.unwrap();
        let response = tokio::time::timeout(PROMPTLY, read_one_response(&mut proxy))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("connection"), None);
    }
    // A later request's body on the proxy's connection has its own deadline, counted from
    // the arrival of its head.
    let head_sent = Instant::now();
    proxy
        .write_all(head_of_slow_post("/token", "application/json").as_bytes())
        .await
        .unwrap();
    let (mut reader, writer) = proxy.into_split();
    let dripping = drip(writer);
    let text = closed_within(
        &mut reader,
        PROMPTLY,
        "a dripped body on a kept-alive connection is cut too",
    )
    .await;
    dripping.abort();
    assert!(head_sent.elapsed() >= Duration::from_secs(2), "{text}");
    let response = Raw::parse(&text);
    assert_eq!(response.status, 408);
    assert_eq!(response.header("connection"), Some("close"));
}

/// Refused connections are answered and closed at accept, whatever the client sends or
/// does not send: they hold no slot, timer or worker while a client idles or drips.
#[tokio::test]
async fn connections_beyond_a_cap_are_answered_and_closed_at_accept() {
    let app = spawn_app_with(|f| {
        f.merge(("server.max_connections_per_ip", 1))
            .merge(("server.request_timeout_secs", 120))
    })
    .await;
    let attacker = Ipv4Addr::new(127, 0, 0, 20);
    // The one admitted connection, waiting for a body (its deadline is two minutes away).
    let mut admitted = connect_from(&app, attacker).await;
    admitted
        .write_all(head_of_slow_post("/token", "application/json").as_bytes())
        .await
        .unwrap();

    // An idle connection that sends nothing at all.
    let mut idle = connect_from(&app, attacker).await;
    let text = closed_within(
        &mut idle,
        PROMPTLY,
        "an idle connection beyond the cap is answered without sending anything",
    )
    .await;
    Raw::parse(&text).assert_shed();

    // A chunked body that would never end, asking for 100-continue first.
    let mut chunked = connect_from(&app, attacker).await;
    chunked
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\
              Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let (mut reader, mut writer) = chunked.into_split();
    // The body is sent whatever the answer, as a client that ignores it would.
    let dripping = tokio::spawn(async move {
        if writer.write_all(b"400\r\nabc").await.is_ok() {
            drip(writer).await.unwrap();
        }
    });
    let text = closed_within(
        &mut reader,
        PROMPTLY,
        "a refused chunked request is closed, not drained for ever",
    )
    .await;
    dripping.abort();
    assert!(!text.contains("100 Continue"), "{text}");
    Raw::parse(&text).assert_shed();

    // The admitted connection is still waiting, and other addresses are served.
    let mut buf = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(200), admitted.read(&mut buf))
            .await
            .is_err(),
        "the admitted connection is not answered"
    );
    assert_normal_client_is_served(&app).await;
}

/// A client's connection carries one request: requests pipelined behind the first (which
/// actix would serve, `Connection: close` or not) are answered 400 with no handler run,
/// and the connection closes.
#[tokio::test]
async fn requests_pipelined_behind_a_clients_first_one_are_refused() {
    let app = spawn_app_with(|f| f.merge(("server.request_timeout_secs", 120))).await;
    let mut stream = connect_from(&app, Ipv4Addr::new(127, 0, 0, 21)).await;
    let form = "grant_type=client_credentials&client_id=nobody&client_secret=wrong";
    stream
        .write_all(
            format!(
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\
                 POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{form}\
                 GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                form.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let text = closed_within(&mut stream, PROMPTLY, "the connection closes").await;
    let responses: Vec<&str> = text.split("HTTP/1.1 ").filter(|r| !r.is_empty()).collect();
    assert!(responses[0].starts_with("200 "), "{text}");
    assert!(!text.contains("invalid_client"), "no handler ran: {text}");
    for later in &responses[1..] {
        let response = Raw::parse(&format!("HTTP/1.1 {later}"));
        assert_eq!(response.status, 400, "{text}");
        assert_eq!(response.header("connection"), Some("close"));
        response.assert_from_the_middleware();
    }
    // actix answers every request it had already read (sent in one write: all of them).
    assert_eq!(responses.len(), 3, "{text}");
}

/// actix's head timer is at most 10 s however long `server.request_timeout_secs` is: a
/// head is a few hundred bytes, sent at once.
#[tokio::test]
async fn a_slow_head_is_cut_after_ten_seconds_even_with_a_longer_request_timeout() {
    let app = spawn_app_with(|f| f.merge(("server.request_timeout_secs", 120))).await;
    let mut stream = connect_from(&app, Ipv4Addr::new(127, 0, 0, 22)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let (mut reader, writer) = stream.into_split();
    let dripping = drip(writer);
    let text = closed_within(
        &mut reader,
        Duration::from_secs(25),
        "a slow head is cut at 10 s, long before the two-minute request timeout",
    )
    .await;
    dripping.abort();
    assert_eq!(Raw::parse(&text).status, 408);
}
