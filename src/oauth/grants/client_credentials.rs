//! The client credentials grant (RFC 6749 §4.4): a confidential client acting on its own
//! behalf. No user, so no ID token, no refresh token (§4.4.3), and no user scopes.

use crate::crypto::random;
use crate::oauth::error::{ErrorCode, FlowError, OAuthError};
use crate::oauth::tokens::{self, TokenResponse};
use crate::oauth::{scope, Provider};
use crate::store;
use crate::store::clients::Client;
use crate::store::grants::{self, GrantRow};

/// Scopes that only make sense with a user.
const USER_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

pub async fn issue(
    provider: &Provider,
    client: &Client,
    requested: Option<&str>,
) -> Result<TokenResponse, FlowError> {
    super::require_grant(client, "client_credentials")?;
    if client.is_public {
        // Registration never allows this; a client that cannot authenticate must not act
        // on its own behalf even if the record were edited by hand.
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        )
        .into());
    }
    let scopes = scope::parse(requested.unwrap_or(""))?;
    if let Some(s) = scopes.iter().find(|s| USER_SCOPES.contains(&s.as_str())) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope {s} needs a user; client_credentials has none"),
        )
        .into());
    }
    scope::check_allowed(&scopes, &client.allowed_scopes)?;
    let now = crate::time::now();
    let grant = GrantRow {
        id: random::identifier(),
        client_id: client.client_id.clone(),
        user_id: None,
        scope: scope::join(&scopes),
        claims: None,
        auth_time: None,
        amr: "[]".into(),
        acr: None,
        sid: None,
        created_at: now,
        expires_at: now + provider.lifetimes.access_token,
        revoked_at: None,
    };
    let provider2 = provider.clone();
    let client = client.clone();
    provider
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                grants::insert_grant(c, &grant)?;
                tokens::mint(c, &provider2, &client, &grant, None, false)
            })
        })
        .await
}
