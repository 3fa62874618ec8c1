//! Token introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Invariants: introspection answers `{"active": false}` for anything not live (expired,
//! revoked, malformed, forged, unknown; access tokens are judged by
//! [`access_token::validate`], whatever their audience) and for tokens the calling client is not entitled to
//! see (another client's, unless it holds the introspect-any permission), so the answer
//! never tells an outsider more than "not active". Revocation answers success for unknown
//! tokens (RFC 7009 §2.2) and only revokes the caller's own tokens; revoking a refresh
//! token revokes its whole grant, access tokens included, and a revoked access token stays
//! on the denylist (`access_tokens.revoked_at`) until it would have expired.

use serde_json::{json, Map, Value};

use super::access_token::{self, AccessTokenError};
use super::error::{FlowError, OAuthError};
use super::{claims, Provider};
use crate::audit::{self, Actor, Event};
use crate::crypto::token;
use crate::store::clients::{self as client_rows, Client};
use crate::store::{self, grants, StoreError};

fn inactive() -> Value {
    json!({ "active": false })
}

fn entitled(caller: &Client, token_client: &str) -> bool {
    caller.client_id == token_client || caller.may_introspect_any
}

/// Whether the caller hinted at a refresh token (RFC 7009 §2.1 / RFC 7662 §2.1); the hint
/// only changes the order in which the token types are tried.
fn refresh_first(hint: Option<&str>) -> bool {
    hint == Some("refresh_token")
}

pub async fn introspect(
    provider: &Provider,
    caller: &Client,
    token: &str,
    hint: Option<&str>,
) -> Result<Value, FlowError> {
    // Only clients that can prove who they are may ask about tokens.
    if caller.is_public {
        return Err(OAuthError::invalid_client().into());
    }
    let answer = if refresh_first(hint) {
        match introspect_refresh(provider, caller, token).await? {
            Some(v) => Some(v),
            None => introspect_access(provider, caller, token).await?,
        }
    } else {
        match introspect_access(provider, caller, token).await? {
            Some(v) => Some(v),
            None => introspect_refresh(provider, caller, token).await?,
        }
    };
    Ok(answer.unwrap_or_else(inactive))
}

/// `Some` with the answer if `token` is an access token of ours (live and entitled, or
/// else inactive); `None` if it is not one at all, so the refresh tokens are tried.
async fn introspect_access(
    provider: &Provider,
    caller: &Client,
    token: &str,
) -> Result<Option<Value>, FlowError> {
    let valid = match access_token::validate(provider, token, None).await {
        Ok(valid) => valid,
        Err(AccessTokenError::Unrecognised) => return Ok(None),
        Err(AccessTokenError::Store(e)) => return Err(e.into()),
        Err(
            AccessTokenError::Malformed | AccessTokenError::Invalid | AccessTokenError::Revoked,
        ) => return Ok(Some(inactive())),
    };
    if !entitled(caller, &valid.client_id) {
        return Ok(Some(inactive()));
    }
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    out.insert("token_type".into(), json!("Bearer"));
    for claim in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "jti",
        "auth_time",
        "acr",
        "amr",
        "sid",
    ] {
        if let Some(v) = valid.claims.get(claim) {
            out.insert(claim.into(), v.clone());
        }
    }
    if let Some(user) = valid.user {
        out.insert("username".into(), json!(user.username));
    }
    Ok(Some(Value::Object(out)))
}

async fn introspect_refresh(
    provider: &Provider,
    caller: &Client,
    token: &str,
) -> Result<Option<Value>, FlowError> {
    if !token::is_well_formed(token) {
        return Ok(None);
    }
    let hash = token::hash(token);
    let salt = provider.pairwise_salt;
    let issuer = provider.issuer.clone();
    let caller = caller.clone();
    let answer = provider
        .store
        .run(move |c| {
            let now = crate::time::now();
            let Some(row) = grants::find_refresh_token(c, &hash)? else {
                return Ok::<_, StoreError>(None);
            };
            let grant = grants::find_grant(c, &row.grant_id)?;
            let live = row.used_at.is_none()
                && row.expires_at > now
                && grant
                    .as_ref()
                    .is_some_and(|g| g.revoked_at.is_none() && g.expires_at > now);
            let (Some(grant), true) = (grant, live) else {
                return Ok(Some(inactive()));
            };
            if !entitled(&caller, &grant.client_id) {
                return Ok(Some(inactive()));
            }
            let owner = client_rows::find(c, &grant.client_id)?;
            let sub = match (&grant.user_id, &owner) {
                (Some(user), Some(owner)) => claims::subject(owner, user, &salt),
                _ => grant.client_id.clone(),
            };
            Ok(Some(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": grant.scope,
                "client_id": grant.client_id,
                "sub": sub,
                "iss": issuer,
                "iat": row.created_at,
                "exp": row.expires_at,
            })))
        })
        .await?;
    Ok(answer)
}

/// Revokes `token` if it is the caller's; unknown and foreign tokens are silently ignored.
pub async fn revoke(
    provider: &Provider,
    caller: &Client,
    token: &str,
    hint: Option<&str>,
) -> Result<(), FlowError> {
    if refresh_first(hint) {
        if !revoke_refresh(provider, caller, token).await? {
            revoke_access(provider, caller, token).await?;
        }
    } else if !revoke_access(provider, caller, token).await? {
        revoke_refresh(provider, caller, token).await?;
    }
    Ok(())
}

/// True if `token` was one of our refresh tokens (whether or not it was revoked).
async fn revoke_refresh(
    provider: &Provider,
    caller: &Client,
    token: &str,
) -> Result<bool, FlowError> {
    if !token::is_well_formed(token) {
        return Ok(false);
    }
    let hash = token::hash(token);
    let caller_id = caller.client_id.clone();
    Ok(provider
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let Some(row) = grants::find_refresh_token(c, &hash)? else {
                    return Ok::<_, StoreError>(false);
                };
                let Some(grant) = grants::find_grant(c, &row.grant_id)? else {
                    return Ok(true);
                };
                if grant.client_id == caller_id && grant.revoked_at.is_none() {
                    super::grants::revoke_family(
                        c,
                        &grant.id,
                        &Actor::Client(caller_id.clone()),
                        "refresh token revoked by the client",
                    )?;
                }
                Ok(true)
            })
        })
        .await?)
}

/// True if `token` was one of our access tokens. Expired tokens verify here too: revoking
/// one is harmless and saying "unknown" would not be true.
async fn revoke_access(
    provider: &Provider,
    caller: &Client,
    token: &str,
) -> Result<bool, FlowError> {
    let Ok((claims_set, _)) = provider.keys.verify(token) else {
        return Ok(false);
    };
    let (Some(jti), Some(client_id)) = (
        claims_set
            .get("jti")
            .and_then(Value::as_str)
            .map(str::to_owned),
        claims_set.get("client_id").and_then(Value::as_str),
    ) else {
        return Ok(false);
    };
    if client_id != caller.client_id {
        return Ok(true);
    }
    let caller_id = caller.client_id.clone();
    provider
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if grants::revoke_access_token(c, &jti, crate::time::now())? {
                    audit::record(
                        c,
                        Event {
                            action: "access_token.revoked",
                            actor: &Actor::Client(caller_id.clone()),
                            target: Some(&jti),
                            ip: None,
                            detail: json!({}),
                        },
                    )?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await?;
    Ok(true)
}
