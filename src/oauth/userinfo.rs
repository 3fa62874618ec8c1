//! The UserInfo response (OIDC Core §5.3): the claims an access token entitles its client
//! to about its user.
//!
//! Invariants: the token passes [`access_token::validate`] for this issuer's audience; it
//! belongs to a user (a client_credentials token has none to describe) and carries the
//! `openid` scope; every claim released is one the token's scope and the client's
//! currently allowed scopes permit (checked again in [`claims::for_user`]). Failures are
//! RFC 6750 `invalid_token` / `insufficient_scope` errors.

use serde_json::{json, Map, Value};

use super::access_token::{self, AccessTokenError};
use super::error::{ErrorCode, FlowError, OAuthError};
use super::{claims, scope, Provider};
use crate::accounts::profile;

fn invalid_token(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

/// What a token that failed validation is reported as, at a protected resource.
pub fn bearer_failure(e: AccessTokenError) -> FlowError {
    match e {
        AccessTokenError::Unrecognised | AccessTokenError::Malformed => {
            invalid_token("the access token is invalid").into()
        }
        AccessTokenError::Invalid => invalid_token("the access token is invalid or expired").into(),
        AccessTokenError::Revoked => invalid_token("the access token was revoked").into(),
        AccessTokenError::Store(s) => FlowError::Store(s),
    }
}

/// The claims about the token's user, `sub` included.
pub async fn userinfo(provider: &Provider, token: &str) -> Result<Map<String, Value>, FlowError> {
    let valid = access_token::validate(provider, token, Some(&provider.issuer))
        .await
        .map_err(bearer_failure)?;
    let Some(user) = valid.user.clone() else {
        return Err(invalid_token("the access token was revoked").into());
    };
    let user_id = user.id.clone();
    let profile = provider
        .store
        .run(move |c| profile::load(c, &user_id))
        .await?
        .unwrap_or_default();
    let allowed = &valid.client.allowed_scopes;
    let grant = &valid.grant;
    let token_scope = valid.scope.as_str();
    let scopes = scope::parse(token_scope)?;
    if !scopes.iter().any(|s| s == scope::OPENID) {
        return Err(
            OAuthError::new(ErrorCode::InsufficientScope, "the openid scope is required").into(),
        );
    }
    // The claims parameter holds while the token has the grant's whole scope, or all of it
    // the client is still allowed (a refresh after an operator narrowed the client); a
    // token the client narrowed itself leaves it behind. Every claim is checked against the
    // client's allowed scopes again in claims::for_user.
    let grant_scope_still_allowed = scope::join(
        &scope::parse(&grant.scope)?
            .into_iter()
            .filter(|s| allowed.contains(s))
            .collect::<Vec<_>>(),
    );
    let requested = grant
        .claims
        .as_deref()
        .filter(|_| token_scope == grant.scope || token_scope == grant_scope_still_allowed)
        .and_then(|c| serde_json::from_str::<Value>(c).ok());
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let mut body = claims::for_user(
        &user,
        &profile,
        &scopes,
        requested.as_ref().and_then(|c| c.get("userinfo")),
        allowed,
    );
    body.insert("sub".into(), json!(valid.sub));
    Ok(body)
}
