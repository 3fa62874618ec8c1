//! The refresh token grant (RFC 6749 §6, RFC 9700 §4.14, OIDC Core §12).
//!
//! Invariants: a refresh token is single use (rotated on every use); presenting a used one
//! again revokes the whole grant, i.e. every refresh and access token descended from the
//! same authorization (RFC 9700 §4.14.2), except within the client's configured retry grace
//! period (confidential clients only; off by default); the scope can only narrow, and
//! drops whatever the client is no longer allowed (`allowed_scopes` as of now); the
//! original auth_time, amr and acr are kept; idle and absolute lifetimes both apply.

use crate::audit::Actor;
use crate::crypto::token;
use crate::oauth::error::{ErrorCode, FlowError, OAuthError};
use crate::oauth::tokens::{self, TokenResponse};
use crate::oauth::{scope, Provider};
use crate::store;
use crate::store::clients::Client;
use crate::store::grants::{self, GrantRow};

pub struct Refresh {
    pub refresh_token: String,
    pub scope: Option<String>,
}

/// The scope the client asks for: the requested subset of what was granted, or all of it.
fn narrowed(grant: &GrantRow, requested: Option<&str>) -> Result<String, OAuthError> {
    let granted = scope::parse(&grant.scope)?;
    let Some(requested) = requested else {
        return Ok(grant.scope.clone());
    };
    let requested = scope::parse(requested)?;
    if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("scope {extra} was not granted"),
        ));
    }
    Ok(scope::join(&requested))
}

/// The scope of the new tokens: `asked` less what the client is no longer allowed (an
/// operator narrowed `allowed_scopes` after the grant); never wider than either.
fn still_allowed(asked: &str, client: &Client) -> Result<String, OAuthError> {
    let kept: Vec<String> = scope::parse(asked)?
        .into_iter()
        .filter(|s| client.allowed_scopes.contains(s))
        .collect();
    Ok(scope::join(&kept))
}

pub async fn refresh(
    provider: &Provider,
    client: &Client,
    r: Refresh,
) -> Result<TokenResponse, FlowError> {
    super::require_grant(client, "refresh_token")?;
    if !token::is_well_formed(&r.refresh_token) {
        return Err(OAuthError::invalid_grant("invalid refresh token").into());
    }
    let hash = token::hash(&r.refresh_token);
    let provider2 = provider.clone();
    let client = client.clone();
    // Reuse detection must commit even though the request fails, so failures are returned
    // inside Ok and only internal errors roll back.
    let outcome = provider
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                let invalid = || Ok(Err(OAuthError::invalid_grant("invalid refresh token")));
                let Some(row) = grants::find_refresh_token(c, &hash)? else {
                    return invalid();
                };
                let Some(grant) = grants::find_grant(c, &row.grant_id)? else {
                    return invalid();
                };
                if grant.client_id != client.client_id {
                    return invalid();
                }
                if grant.revoked_at.is_some() || grant.expires_at <= now {
                    return Ok(Err(OAuthError::invalid_grant(
                        "the grant was revoked or has expired",
                    )));
                }
                let first_use = row.used_at.is_none() && grants::use_refresh_token(c, &hash, now)?;
                if !first_use {
                    let used_at = row.used_at.unwrap_or(now);
                    let in_grace = !client.is_public
                        && client.refresh_grace_secs > 0
                        && now - used_at <= client.refresh_grace_secs;
                    if !in_grace {
                        super::revoke_family(c, &grant.id, &Actor::System, "refresh token reused")?;
                        return Ok(Err(OAuthError::invalid_grant(
                            "refresh token reuse detected; the grant is revoked",
                        )));
                    }
                } else if row.expires_at <= now {
                    return Ok(Err(OAuthError::invalid_grant(
                        "the refresh token has expired",
                    )));
                }
                let asked = match narrowed(&grant, r.scope.as_deref()) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e)),
                };
                // A scope the client narrows also drops the claims asked for by name with
                // the original request, which the narrower grant no longer covers. Scopes the
                // operator took away keep them: claims::for_user re-checks each claim's scope
                // against the client's allowed scopes.
                let claims = if asked == grant.scope {
                    grant.claims.clone()
                } else {
                    None
                };
                let scope = match still_allowed(&asked, &client) {
                    Ok(s) => s,
                    Err(e) => return Ok(Err(e)),
                };
                let issued_for = GrantRow {
                    scope,
                    claims,
                    ..grant
                };
                tokens::mint(c, &provider2, &client, &issued_for, None, true)
                    .map(Ok)
                    .or_else(super::authorization_code::refusal)
            })
        })
        .await?;
    Ok(outcome?)
}
