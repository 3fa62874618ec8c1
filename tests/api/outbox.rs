//! The mail outbox: notices commit with their change, the worker sends and deletes them,
//! retries after a failure, never sends one row twice, and the CLI's notices go out through
//! the running server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use portcullis::mail::{self, Mail};
use portcullis::store::outbox::{self, OutboxRow};
use portcullis::store::{self, StoreError};

use crate::helpers::{spawn_app_with, spawn_instance_beside, TestApp};
use crate::mfa_support::{sign_out, user_with_totp};
use crate::smtp_sink::{mail_to, SmtpSink};

fn mail(n: usize) -> Mail {
    Mail {
        to: "bob@example.com".into(),
        subject: format!("message {n}"),
        text: format!("body {n}"),
        html: format!("<p>body {n}</p>"),
    }
}

async fn rows(app: &TestApp) -> Vec<OutboxRow> {
    app.db(outbox::all).await
}

/// Polls the outbox until `done` holds for its rows, failing after 10 s.
async fn outbox_until(app: &TestApp, what: &str, done: impl Fn(&[OutboxRow]) -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = rows(app).await;
        if done(&rows) {
            return;
        }
        assert!(Instant::now() < until, "{what}: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_change_that_fails_leaves_no_mail_behind() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    let failed: Result<(), StoreError> = app
        .store
        .run(|conn| {
            store::transaction(conn, |c| {
                mail::outbox::enqueue(c, &mail(1))?;
                Err(StoreError::NotFound)
            })
        })
        .await;
    assert!(matches!(failed, Err(StoreError::NotFound)));
    assert!(rows(&app).await.is_empty());
    sink.assert_no_more_mail(&app, 0).await;
}

#[tokio::test]
async fn a_refused_password_change_queues_no_notice() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    app.create_user("alice", crate::helpers::PASSWORD).await;
    assert_eq!(
        app.login("alice", crate::helpers::PASSWORD).await.status(),
        303
    );
    let csrf = app.csrf_token().await;
    let resp = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", csrf.as_str()),
                ("current_password", "not the password"),
                ("new_password", "a brand new long passphrase"),
                ("new_password_confirm", "a brand new long passphrase"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(rows(&app).await.is_empty());
    sink.assert_no_more_mail(&app, 0).await;
}

#[tokio::test]
async fn the_worker_sends_queued_mail_once_and_deletes_it() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    app.store
        .run(|c| store::transaction(c, |c| mail::outbox::enqueue(c, &mail(1))))
        .await
        .unwrap();
    let got = sink.wait_for(1).await;
    assert!(got[0].contains("Subject: message 1"), "{}", got[0]);
    assert!(got[0].contains("To: bob@example.com"), "{}", got[0]);
    outbox_until(&app, "the sent row is deleted", <[_]>::is_empty).await;
    sink.assert_no_more_mail(&app, 1).await;
}

#[tokio::test]
async fn a_refused_mail_is_retried_after_a_backoff_and_then_deleted() {
    let sink = SmtpSink::start_refusing(1);
    let app = spawn_app_with(mail_to(&sink)).await;
    let queued_at = portcullis::time::now();
    app.store
        .run(|c| mail::outbox::enqueue(c, &mail(1)))
        .await
        .unwrap();
    // The first try fails: the row waits, with the transport's complaint and no body in it.
    outbox_until(&app, "the first try is recorded", |rows| {
        rows.first().is_some_and(|r| r.last_error.is_some())
    })
    .await;
    let row = rows(&app).await.remove(0);
    assert_eq!(row.attempts, 1);
    assert!(row.failed_at.is_none());
    assert!(row.claimed_by.is_none());
    assert!(
        row.next_attempt_at >= queued_at + mail::backoff_secs(1),
        "{row:?}"
    );
    let error = row.last_error.unwrap();
    assert!(
        error.contains("451") || error.contains("try again"),
        "{error}"
    );
    assert!(!error.contains("body 1"), "{error}");
    assert_eq!(sink.count(), 0);
    // The second goes through, once.
    let got = sink.wait_for(1).await;
    assert!(got[0].contains("Subject: message 1"));
    assert_eq!(sink.refused(), 1);
    outbox_until(&app, "the sent row is deleted", <[_]>::is_empty).await;
    sink.assert_no_more_mail(&app, 1).await;
}

#[test]
fn the_backoff_doubles_up_to_an_hour() {
    let waits: Vec<i64> = (1..=mail::MAX_ATTEMPTS).map(mail::backoff_secs).collect();
    assert_eq!(&waits[..4], &[2, 4, 8, 16]);
    assert!(waits.windows(2).all(|w| w[1] >= w[0]));
    assert_eq!(*waits.last().unwrap(), 3600);
    let total: i64 = waits[..waits.len() - 1].iter().sum();
    assert!(total > 3 * 3600, "retries span {total} s");
}

/// Queues a mail holding a one-time link as if it had been claimed `attempts` times already,
/// the last claim (when `dead_claim`) by a worker that died and whose lease has run out.
async fn queue_worn_out_mail(app: &TestApp, attempts: i32, dead_claim: bool) {
    let mut last = mail(1);
    last.text = "secret link https://id.example/reset/confirm?token=abc".into();
    app.store
        .run(move |c| {
            use store::schema::mail_outbox as o;
            mail::outbox::enqueue(c, &last)?;
            diesel::update(o::table)
                .set(o::attempts.eq(attempts))
                .execute(c)?;
            if dead_claim {
                diesel::update(o::table)
                    .set((
                        o::claimed_by.eq(Some("a dead worker")),
                        o::claimed_until.eq(Some(1i64)),
                    ))
                    .execute(c)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// Waits until the only row is given up; it, with its bodies checked erased.
async fn given_up_row(app: &TestApp) -> OutboxRow {
    outbox_until(app, "the row is given up", |rows| {
        rows.first().is_some_and(|r| r.failed_at.is_some())
    })
    .await;
    let row = rows(app).await.remove(0);
    assert_eq!((row.text_body.as_str(), row.html_body.as_str()), ("", ""));
    assert_eq!(row.subject, "message 1");
    assert_eq!(row.claimed_by, None);
    assert!(row.last_error.is_some());
    row
}

#[tokio::test]
async fn a_mail_out_of_attempts_is_given_up_and_loses_its_bodies() {
    let sink = SmtpSink::start_refusing(usize::MAX);
    let app = spawn_app_with(mail_to(&sink)).await;
    // One claim left, as after hours of failures.
    queue_worn_out_mail(&app, mail::MAX_ATTEMPTS - 1, false).await;
    let row = given_up_row(&app).await;
    assert_eq!(row.attempts, mail::MAX_ATTEMPTS);
    // Never tried again.
    let refused = sink.refused();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.refused(), refused);
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn a_mail_whose_every_claim_went_unrecorded_is_given_up_and_never_sent_again() {
    // Each claim ended without a result (the worker died mid-send): past the last one, the
    // mail is not sent once more per lease but given up, its bodies erased.
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    queue_worn_out_mail(&app, mail::MAX_ATTEMPTS, true).await;
    let row = given_up_row(&app).await;
    assert_eq!(row.attempts, mail::MAX_ATTEMPTS, "not claimed again");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn two_instances_on_one_database_never_send_a_mail_twice() {
    let sink = SmtpSink::start();
    let a = spawn_app_with(mail_to(&sink)).await;
    let b = spawn_instance_beside(&a, mail_to(&sink)).await;
    const N: usize = 20;
    a.store
        .run(|c| {
            store::transaction(c, |c| {
                (0..N).try_for_each(|n| mail::outbox::enqueue(c, &mail(n)))
            })
        })
        .await
        .unwrap();
    // Both workers are woken or polling; each row goes to exactly one of them.
    let got = sink.wait_for(N).await;
    outbox_until(&a, "every row is sent", <[_]>::is_empty).await;
    sink.assert_no_more_mail(&a, N).await;
    sink.assert_no_more_mail(&b, N).await;
    let mut subjects: Vec<String> = got
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("Subject: "))
                .map(str::to_owned)
        })
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), N, "{subjects:?}");
}

#[tokio::test]
async fn resetting_the_second_factors_from_the_cli_tells_the_user() {
    let sink = SmtpSink::start();
    let app = spawn_app_with(mail_to(&sink)).await;
    user_with_totp(&app, "alice").await;
    sign_out(&app).await;
    // The set-up itself is announced. (Generous deadlines: the CLI is a process of its own,
    // and the worker finds what it queued at its next poll.)
    let deadline = Duration::from_secs(30);
    sink.wait_for_mail(1, deadline).await;
    let out = app.cli(&["user", "reset-mfa", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The CLI runs no worker: the server's worker sends what it queued.
    let got = sink.wait_for_mail(2, deadline).await;
    let notice = &got[1];
    assert!(notice.contains("To: alice@example.com"), "{notice}");
    assert!(
        notice.contains("Subject: The sign-in methods of your account changed"),
        "{notice}"
    );
    assert!(
        notice.contains("an administrator removed every second factor"),
        "{notice}"
    );
    // The audit event and the mail came from one transaction; nothing is left queued.
    outbox_until(&app, "the notice is sent", <[_]>::is_empty).await;
    // With nothing left to remove, nothing is announced.
    let out = app.cli(&["user", "reset-mfa", "alice"]);
    assert!(out.status.success());
    assert!(rows(&app).await.is_empty());
    sink.assert_no_more_mail(&app, 2).await;
    // An unknown user: refused, nothing queued.
    let out = app.cli(&["user", "reset-mfa", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    // (The sink's marker may still be in the outbox: received, not yet deleted.)
    assert!(rows(&app).await.iter().all(|r| r.subject == "marker"));
}

/// A log writer for one test: the worker runs on the test's (current-thread) runtime, so a
/// thread-default subscriber sees its events.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_logs_of_a_retried_reset_mail_hold_neither_its_link_nor_its_recipient() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sink = SmtpSink::start_refusing(1);
    let app = spawn_app_with(mail_to(&sink)).await;
    app.create_user("alice", crate::helpers::PASSWORD).await;
    let (status, _) = crate::reset::request_reset(&app, "alice").await;
    assert_eq!(status, 200);
    let got = sink.wait_for(1).await;
    let link = crate::reset::link_in(&got[0], &app.settings.issuer);
    let token = link.rsplit('=').next().unwrap().to_owned();
    assert!(token.len() >= 40, "{link}");
    // The worker logs "mail sent" once the relay has answered, which may be just after the
    // sink has the message.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        if text.contains("mail sent") || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(logs.contains("mail not sent; will retry"), "{logs}");
    assert!(logs.contains("mail sent"), "{logs}");
    assert!(!logs.contains(&token), "the reset token is in the logs");
    assert!(
        !logs.contains("alice@example.com"),
        "the recipient is in the logs"
    );
}
