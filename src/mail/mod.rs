//! Outgoing mail, through a transactional outbox.
//!
//! Invariants:
//! - A notice is written to `mail_outbox` ([`outbox::raise`]) in the transaction of the
//!   change it announces, so the change and its mail commit (or vanish) together, whoever
//!   made it: a page, the console, the API or the CLI.
//! - The mail worker of every instance drains the outbox: it claims one row at a time (see
//!   `store::outbox`: never two workers on one row), sends it, and deletes it. A failed send
//!   is retried with exponential backoff ([`backoff_secs`]) and given up after
//!   [`MAX_ATTEMPTS`] claims; a given-up row loses its bodies at once and is purged after
//!   [`FAILED_RETENTION_SECS`].
//! - Bodies can hold one-time links: they are never logged, and neither is the recipient;
//!   the logs name a mail by its outbox id and subject.
//! - Mail goes out oldest first, so a mail queued after others is sent after them unless
//!   one of them is waiting for a retry.

pub mod notices;
pub mod outbox;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::mpsc;

use crate::config::{MailSettings, MailTransport, SmtpSecurity};
use crate::store::outbox::{Claim, OutboxRow};
use crate::store::{self, Store};

/// One message to send.
#[derive(Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
}

enum Transport {
    /// Development: `.eml` files in a directory instead of sending.
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// The mail worker's handle. Mail is raised inside transactions with [`outbox::raise`];
/// [`Mailer::send`] is for callers with no transaction of their own.
#[derive(Clone)]
pub struct Mailer {
    feed: mpsc::UnboundedSender<Mail>,
}

/// Claims a mail can take before the worker gives up: with [`backoff_secs`], about five hours
/// of retries.
pub const MAX_ATTEMPTS: i32 = 16;
/// How long a claim lasts: far longer than one send (the SMTP timeout is 15 s), so a live
/// worker never loses its row to another.
const LEASE_SECS: i64 = 300;
/// How often an idle worker looks for mail that another process (another instance, the
/// CLI) queued, or whose retry is due.
const POLL: Duration = Duration::from_secs(2);
/// How long a given-up row (recipient, subject, last error) stays for the operator.
pub const FAILED_RETENTION_SECS: i64 = 7 * 86_400;
const PURGE_EVERY_SECS: i64 = 3600;
/// At most this much of a transport error is stored and logged.
const ERROR_CHARS: usize = 300;

/// The wait before the next try of a mail that failed on its `attempts`-th claim: 2 s,
/// doubling, at most an hour.
pub fn backoff_secs(attempts: i32) -> i64 {
    let doublings = u32::try_from(attempts.clamp(1, 12)).unwrap_or(1);
    (1i64 << doublings).min(3600)
}

impl Mailer {
    /// Starts the worker that drains the outbox of `store`, and the task behind
    /// [`Mailer::send`].
    pub fn start(
        settings: &MailSettings,
        store: &Store,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("mail.from: {e}")))?;
        let transport = match settings.transport {
            MailTransport::Outbox => Transport::Outbox(PathBuf::from(&settings.outbox_dir)),
            MailTransport::Smtp => Transport::Smtp(smtp(settings)?),
        };
        let (feed, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            transport,
            from,
            store: store.clone(),
            id: crate::crypto::random::identifier(),
        };
        // One task for both, so that stopping it stops both.
        let store = store.clone();
        let task = tokio::spawn(async move {
            tokio::join!(feed_outbox(store, rx), worker.run());
        });
        Ok((Mailer { feed }, task))
    }

    /// Queues a mail outside any transaction: it is written to the outbox in the background,
    /// in the order of the calls, and returns at once. A change that announces itself uses
    /// [`outbox::raise`] in its own transaction instead, so the two cannot part.
    pub fn send(&self, mail: Mail) {
        if self.feed.send(mail).is_err() {
            tracing::error!("the mail queue is closed; a message was not queued");
        }
    }
}

/// Writes the mails given to [`Mailer::send`] to the outbox, one at a time (so in order).
async fn feed_outbox(store: Store, mut rx: mpsc::UnboundedReceiver<Mail>) {
    while let Some(mail) = rx.recv().await {
        let subject = mail.subject.clone();
        let queued = store.run(move |c| outbox::enqueue(c, &mail)).await;
        if let Err(e) = queued {
            tracing::error!(%subject, error = %e, "a mail could not be queued in the outbox");
        }
    }
}

fn smtp(s: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let config = |e: lettre::transport::smtp::Error| MailError::Config(e.to_string());
    let mut builder = match s.smtp_security {
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.smtp_host).map_err(config)?
        }
        SmtpSecurity::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&s.smtp_host).map_err(config)?
        }
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.smtp_host),
    }
    .port(s.smtp_port)
    .timeout(Some(Duration::from_secs(15)));
    if !s.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            s.smtp_username.clone(),
            s.smtp_password.expose().to_owned(),
        ));
    }
    Ok(builder.build())
}

struct Worker {
    transport: Transport,
    from: Mailbox,
    store: Store,
    /// This worker, in logs (claims themselves use a fresh token each).
    id: String,
}

impl Worker {
    async fn run(self) {
        let signal = self.store.mail_signal();
        let mut last_purge = 0;
        loop {
            let now = crate::time::now();
            if now - last_purge >= PURGE_EVERY_SECS {
                last_purge = now;
                self.purge(now).await;
            }
            let claim = Claim {
                token: crate::crypto::random::identifier(),
                until: now + LEASE_SECS,
            };
            let held = claim.clone();
            match self
                .store
                .run(move |c| store::outbox::claim_next(c, &held, now, MAX_ATTEMPTS))
                .await
            {
                Ok(Some(row)) => {
                    self.send(row, claim).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(worker = %self.id, error = %e, "the mail outbox cannot be read")
                }
            }
            tokio::select! {
                () = signal.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Sends one claimed row and records the outcome.
    async fn send(&self, row: OutboxRow, claim: Claim) {
        let (id, attempts, subject) = (row.id, row.attempts, row.subject.clone());
        let mail = Mail {
            to: row.recipient,
            subject: row.subject,
            text: row.text_body,
            html: row.html_body,
        };
        let sent = deliver(&self.transport, &self.from, &mail, &id.to_string()).await;
        let now = crate::time::now();
        let result = match sent {
            Ok(()) => {
                tracing::info!(mail_id = id, %subject, attempts, "mail sent");
                self.store
                    .run(move |c| store::outbox::delete_sent(c, id, &claim))
                    .await
            }
            Err(e) if attempts >= MAX_ATTEMPTS => {
                let error: String = e.chars().take(ERROR_CHARS).collect();
                tracing::error!(
                    mail_id = id, %subject, attempts, %error,
                    "mail could not be sent; giving up"
                );
                self.store
                    .run(move |c| store::outbox::give_up(c, id, &claim, now, &error))
                    .await
            }
            Err(e) => {
                let error: String = e.chars().take(ERROR_CHARS).collect();
                let retry_in = backoff_secs(attempts);
                tracing::warn!(
                    mail_id = id, %subject, attempts, retry_in, %error,
                    "mail not sent; will retry"
                );
                self.store
                    .run(move |c| store::outbox::reschedule(c, id, &claim, now + retry_in, &error))
                    .await
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                mail_id = id,
                "the claim on a mail was lost while sending it"
            ),
            Err(e) => {
                tracing::warn!(mail_id = id, error = %e, "the outcome of a mail could not be recorded")
            }
        }
    }

    /// Deletes the rows given up long ago.
    async fn purge(&self, now: i64) {
        let before = now - FAILED_RETENTION_SECS;
        match self
            .store
            .run(move |c| store::outbox::purge_failed(c, before))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged mail the worker had given up on"),
            Err(e) => tracing::warn!(error = %e, "could not purge given-up mail"),
        }
    }
}

async fn deliver(
    transport: &Transport,
    from: &Mailbox,
    mail: &Mail,
    id: &str,
) -> Result<(), String> {
    let to: Mailbox = mail.to.parse().map_err(|e| format!("bad recipient: {e}"))?;
    let message = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| e.to_string())?;
    match transport {
        Transport::Smtp(smtp) => smtp
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Transport::Outbox(dir) => {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| e.to_string())?;
            let path = dir.join(format!("{}-{id}.eml", crate::time::now()));
            tokio::fs::write(&path, message.formatted())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(path = %path.display(), "mail written to the outbox");
            Ok(())
        }
    }
}
