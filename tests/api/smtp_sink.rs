//! A minimal SMTP server for tests: speaks real SMTP over TCP on 127.0.0.1 and keeps every
//! message it is given, so tests can read the mail Portcullis sends and follow its links.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::TestApp;

/// The recipient of marker messages, which the sink counts apart from the app's mail.
const MARKER: &str = "marker@sink.test";

/// How long a test waits for mail the app should send.
const MAIL_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Received {
    messages: Vec<String>,
    markers: usize,
    /// Messages still to refuse (temporary failure, 451) before accepting any.
    to_refuse: usize,
    refused: usize,
}

pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Received>>,
}

fn session(stream: std::net::TcpStream, received: Arc<Mutex<Received>>) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink.test ESMTP\r\n")?;
    let mut line = String::new();
    let mut to_marker = false;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("MAIL") {
            to_marker = false;
        }
        if command.starts_with("RCPT") && command.contains(&MARKER.to_ascii_uppercase()) {
            to_marker = true;
        }
        if command.starts_with("EHLO") {
            writer.write_all(b"250-sink.test\r\n250 8BITMIME\r\n")?;
        } else if command.starts_with("HELO")
            || command.starts_with("MAIL")
            || command.starts_with("RCPT")
            || command.starts_with("RSET")
            || command.starts_with("NOOP")
        {
            writer.write_all(b"250 OK\r\n")?;
        } else if command == "DATA" {
            writer.write_all(b"354 go ahead\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            let mut received = received.lock().unwrap();
            if received.to_refuse > 0 {
                received.to_refuse -= 1;
                received.refused += 1;
                writer.write_all(b"451 4.3.0 try again later\r\n")?;
                continue;
            }
            if to_marker {
                received.markers += 1;
            } else {
                received.messages.push(data);
            }
            writer.write_all(b"250 queued\r\n")?;
        } else if command == "QUIT" {
            writer.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            writer.write_all(b"502 not implemented\r\n")?;
        }
    }
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_refusing(0)
    }

    /// A sink that answers the first `n` messages with a temporary failure (451), as a
    /// relay that is briefly down, and accepts the rest.
    pub fn start_refusing(n: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Received {
            to_refuse: n,
            ..Received::default()
        }));
        let store = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(50).flatten() {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let _ = session(stream, store);
                });
            }
        });
        SmtpSink { port, received }
    }

    /// How many messages (markers aside) arrived so far.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().messages.len()
    }

    /// How many messages were refused so far.
    pub fn refused(&self) -> usize {
        self.received.lock().unwrap().refused
    }

    fn markers(&self) -> usize {
        self.received.lock().unwrap().markers
    }

    /// Waits (at most 10 s) until `n` messages arrived and returns them, quoted-printable
    /// soft line breaks and `=3D` undone so links can be read.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        self.wait_for_mail(n, MAIL_DEADLINE).await
    }

    /// Waits until `n` messages arrived, failing after `deadline`, and returns them as
    /// [`SmtpSink::wait_for`] does.
    pub async fn wait_for_mail(&self, n: usize, deadline: Duration) -> Vec<String> {
        wait_until(
            deadline,
            || self.count() >= n,
            || format!("expected {n} messages, got {}", self.count()),
        )
        .await;
        self.received
            .lock()
            .unwrap()
            .messages
            .iter()
            .map(|m| m.replace("=\r\n", "").replace("=3D", "="))
            .collect()
    }

    /// Asserts that exactly `n` messages arrived and no further one is on its way: queues a
    /// marker behind everything `app` has queued so far (the outbox delivers oldest first)
    /// and waits for the marker, instead of sleeping and hoping.
    pub async fn assert_no_more_mail(&self, app: &TestApp, n: usize) {
        let before = self.markers();
        app.mailer.send(portcullis::mail::Mail {
            to: MARKER.into(),
            subject: "marker".into(),
            text: "marker".into(),
            html: "<p>marker</p>".into(),
        });
        wait_until(
            MAIL_DEADLINE,
            || self.markers() > before,
            || "the marker message did not arrive".into(),
        )
        .await;
        assert_eq!(self.count(), n, "messages sent before the marker");
    }
}

/// Polls `done` until it holds, panicking with `message()` after `deadline`.
async fn wait_until(deadline: Duration, done: impl Fn() -> bool, message: impl Fn() -> String) {
    let until = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < until, "{} within {deadline:?}", message());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Settings that send the app's mail to `sink`.
pub fn mail_to(sink: &SmtpSink) -> impl FnOnce(figment::Figment) -> figment::Figment {
    let port = sink.port;
    move |f| {
        f.merge(("mail.transport", "smtp"))
            .merge(("mail.smtp_host", "127.0.0.1"))
            .merge(("mail.smtp_port", port))
            .merge(("mail.smtp_security", "none"))
    }
}
