//! Token endpoint grants, one module each, and what they share.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::store::clients::Client;
use crate::store::{grants, DbConn, StoreError};

/// RFC 6749 §5.2 `unauthorized_client` unless the client registered `grant`.
pub fn require_grant(client: &Client, grant: &str) -> Result<(), OAuthError> {
    if client.grant_types.iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {grant} grant"),
        ))
    }
}

/// Revokes a grant and every token issued under it, with an audit event saying why.
pub fn revoke_family(
    c: &mut DbConn,
    grant_id: &str,
    actor: &Actor,
    reason: &str,
) -> Result<(), StoreError> {
    grants::revoke_grant(c, grant_id, crate::time::now())?;
    audit::record(
        c,
        Event {
            action: "grant.revoked",
            actor,
            target: Some(grant_id),
            ip: None,
            detail: json!({ "reason": reason }),
        },
    )
}
