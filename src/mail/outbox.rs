//! Raising mail inside a transaction: the domain's way to notify someone of a change it makes.
//!
//! Invariant: call these inside the `store::transaction` that makes the change (and writes its
//! audit event), so that the mail is queued exactly when the change commits. The mail
//! worker of any instance sends it (see [`super`]); a process without a worker (the CLI)
//! leaves it to the running server.

use super::Mail;
use crate::store::outbox::{self, NewOutboxRow};
use crate::store::{DbConn, StoreError};

/// Queues `mail` in the outbox.
pub fn enqueue(conn: &mut DbConn, mail: &Mail) -> Result<(), StoreError> {
    let now = crate::time::now();
    outbox::insert(
        conn,
        &NewOutboxRow {
            recipient: &mail.to,
            subject: &mail.subject,
            text_body: &mail.text,
            html_body: &mail.html,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
        },
    )
}

/// Queues a rendered notice (`notices::*`). A template that fails to render is a bug: the
/// transaction fails with it rather than commit a change that was to be announced silently.
pub fn raise(conn: &mut DbConn, notice: Result<Mail, askama::Error>) -> Result<(), StoreError> {
    let mail = notice.map_err(|e| StoreError::Task(format!("rendering a notice: {e}")))?;
    enqueue(conn, &mail)
}
