//! Outgoing mail. Messages are queued and sent by a background task, outside the request
//! that caused them; a failed send is retried (three attempts) and then logged, never
//! dropped silently. Development writes `.eml` files to an outbox directory instead.
//! Message bodies can hold one-time links: they are never logged.

pub mod notices;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::mpsc;

use crate::config::{MailSettings, MailTransport, SmtpSecurity};

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
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// A handle to the mail queue; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::UnboundedSender<Mail>,
}

impl Mailer {
    /// Starts the sending task.
    pub fn start(
        settings: &MailSettings,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("mail.from: {e}")))?;
        let transport = match settings.transport {
            MailTransport::Outbox => Transport::Outbox(PathBuf::from(&settings.outbox_dir)),
            MailTransport::Smtp => Transport::Smtp(smtp(settings)?),
        };
        let (queue, rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(run(transport, from, rx));
        Ok((Mailer { queue }, worker))
    }

    /// Queues a message; returns at once.
    pub fn send(&self, mail: Mail) {
        if self.queue.send(mail).is_err() {
            tracing::error!("the mail queue is closed; a message was not sent");
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

async fn run(transport: Transport, from: Mailbox, mut rx: mpsc::UnboundedReceiver<Mail>) {
    while let Some(mail) = rx.recv().await {
        let id = crate::crypto::random::identifier();
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=3 {
            match deliver(&transport, &from, &mail, &id).await {
                Ok(()) => {
                    tracing::info!(mail_id = %id, subject = %mail.subject, "mail sent");
                    break;
                }
                Err(e) if attempt < 3 => {
                    tracing::warn!(mail_id = %id, attempt, error = %e, "mail not sent; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 5;
                }
                Err(e) => {
                    tracing::error!(mail_id = %id, error = %e, "mail could not be sent; giving up")
                }
            }
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
