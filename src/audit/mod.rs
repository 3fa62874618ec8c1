//! The audit trail. Every state change that matters for security records an event in the
//! same transaction as the change, so an event exists exactly when the change happened.
//! Events never carry secrets: no passwords, tokens, hashes or typed usernames of failed
//! sign-ins (a password typed into the username field must not end up here).

use serde_json::Value;

use crate::store::audit::NewAuditRow;
use crate::store::{DbConn, StoreError};

/// Who caused an event.
#[derive(Debug, Clone)]
pub enum Actor {
    /// The command-line interface, run by an operator on the host.
    Cli,
    /// The holder of the one-time setup link.
    Setup,
    /// A signed-in or signing-in user, by id.
    User(String),
    /// An OAuth client, by client_id (e.g. revoking its tokens).
    Client(String),
    /// Portcullis itself (scheduled jobs, first start).
    System,
    /// Nobody identified (e.g. a failed sign-in for an unknown name).
    Anonymous,
}

impl Actor {
    pub(crate) fn as_column(&self) -> Option<String> {
        match self {
            Actor::Cli => Some("cli".into()),
            Actor::Setup => Some("setup".into()),
            Actor::System => Some("system".into()),
            Actor::User(id) => Some(format!("user:{id}")),
            Actor::Client(id) => Some(format!("client:{id}")),
            Actor::Anonymous => None,
        }
    }
}

pub struct Event<'a> {
    pub action: &'static str,
    pub actor: &'a Actor,
    pub target: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: Value,
}

pub fn record(conn: &mut DbConn, event: Event<'_>) -> Result<(), StoreError> {
    crate::store::audit::insert(
        conn,
        &NewAuditRow {
            id: crate::crypto::random::identifier(),
            occurred_at: crate::time::now(),
            actor: event.actor.as_column(),
            action: event.action.to_owned(),
            target: event.target.map(str::to_owned),
            ip: event.ip.map(str::to_owned),
            detail: event.detail.to_string(),
        },
    )
}
