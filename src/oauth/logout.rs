//! RP-Initiated Logout 1.0: validating an end-session request.
//!
//! Invariants: `post_logout_redirect_uri` is used only if it exactly matches one registered
//! for the client identified by `id_token_hint` or `client_id` (otherwise no redirect at
//! all); an `id_token_hint` must carry our signature (it may have expired: RPs keep ID
//! tokens for this); `state` is echoed only with a redirect.

use serde_json::Value;

use super::error::OAuthError;
use super::request::Params;
use super::Provider;
use crate::store::clients::{self as client_rows, Client};
use crate::store::StoreError;

/// Who the hint says is logging out.
#[derive(Debug, Clone)]
pub struct Hint {
    pub sub: String,
    pub client_id: String,
    pub sid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct LogoutRequest {
    pub hint: Option<Hint>,
    pub client: Option<Client>,
    /// Validated against the client's registered post-logout redirect URIs.
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies an ID token used as a hint (expired is fine) and reads who it names.
pub fn parse_hint(provider: &Provider, token: &str) -> Result<Hint, LogoutError> {
    let bad = || LogoutError::Invalid("The id_token_hint is not an ID token issued here.");
    let (claims, header) = provider.keys.verify(token).map_err(|_| bad())?;
    if header.token_type() == Some("at+jwt")
        || claims.get("iss").and_then(Value::as_str) != Some(provider.issuer.as_str())
    {
        return Err(bad());
    }
    let client_id = match claims.get("aud") {
        Some(Value::String(a)) => a.clone(),
        Some(Value::Array(list)) => list
            .first()
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_owned(),
        _ => return Err(bad()),
    };
    Ok(Hint {
        sub: claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_owned(),
        client_id,
        sid: claims.get("sid").and_then(Value::as_str).map(str::to_owned),
    })
}

pub async fn parse(provider: &Provider, params: &Params) -> Result<LogoutRequest, LogoutError> {
    let hint = match params.get("id_token_hint")? {
        Some(token) if !token.is_empty() => Some(parse_hint(provider, token)?),
        _ => None,
    };
    let client_id = match (params.get("client_id")?, &hint) {
        (Some(id), Some(h)) if id != h.client_id => {
            return Err(LogoutError::Invalid(
                "client_id does not match the id_token_hint.",
            ))
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(h)) => Some(h.client_id.clone()),
        (None, None) => None,
    };
    let client = match client_id {
        Some(id) => {
            let found = provider
                .store
                .run(move |c| client_rows::find(c, &id))
                .await?;
            Some(found.ok_or(LogoutError::Invalid("The client is not registered."))?)
        }
        None => None,
    };
    let redirect_uri = match params.get("post_logout_redirect_uri")? {
        None | Some("") => None,
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return Err(LogoutError::Invalid(
                    "The post_logout_redirect_uri is not registered for this client.",
                ));
            }
            Some(uri.to_owned())
        }
    };
    let state = params.get("state")?.map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > 4096) {
        return Err(OAuthError::invalid_request("state is too long").into());
    }
    Ok(LogoutRequest {
        hint,
        client,
        redirect_uri,
        state,
    })
}
