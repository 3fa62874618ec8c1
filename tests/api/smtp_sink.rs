//! A minimal SMTP server for tests: speaks real SMTP over TCP on 127.0.0.1 and keeps every
//! message it is given, so tests can read the mail Portcullis sends and follow its links.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

fn session(stream: std::net::TcpStream, messages: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink.test ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
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
            messages.lock().unwrap().push(data);
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&messages);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(50).flatten() {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let _ = session(stream, store);
                });
            }
        });
        SmtpSink { port, messages }
    }

    pub fn count(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    /// Waits (at most 10 s) until `n` messages arrived and returns them, quoted-printable
    /// soft line breaks and `=3D` undone so links can be read.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "expected {n} messages, got {}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.replace("=\r\n", "").replace("=3D", "="))
            .collect()
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
