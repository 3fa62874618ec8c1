//! The one validation of our access tokens (RFC 9068 JWTs), for every resource that
//! accepts them: userinfo, introspection and the admin API.
//!
//! Invariants: a token is valid only if its signature verifies with a published key of
//! ours, its header says `typ: at+jwt` (RFC 9068 §2.1, so an ID token is never taken for
//! an access token), `iss` is this issuer, `aud` names the audience the caller expects
//! (RFC 9068 §4; introspection expects none, see [`validate`]), it has not expired, and the
//! database still holds it: the token and its grant not revoked, its user (if any) present
//! and enabled, its client present and enabled. Revocation is therefore immediate. Nothing
//! here says why a token failed beyond the [`AccessTokenError`] kind, and the kinds never
//! reach a client verbatim.

use serde_json::{Map, Value};

use super::Provider;
use crate::store::clients::{self as client_rows, Client};
use crate::store::grants::{self, GrantRow};
use crate::store::users::{self, UserRow};
use crate::store::StoreError;

/// An access token that passed every check, with what it stands for.
#[derive(Debug, Clone)]
pub struct ValidAccessToken {
    /// The token's `sub`: the user's (possibly pairwise) identifier, or the client's for
    /// client_credentials.
    pub sub: String,
    pub client_id: String,
    /// The token's own scope: a refresh may have narrowed it below the grant's.
    pub scope: String,
    pub grant_id: String,
    pub jti: String,
    pub exp: i64,
    /// The organization the token was issued for, when it names one.
    pub org_id: Option<String>,
    /// Every claim of the token, for introspection to report.
    pub claims: Map<String, Value>,
    pub grant: GrantRow,
    /// The signed-in user; `None` for client_credentials tokens.
    pub user: Option<UserRow>,
    pub client: Client,
}

impl ValidAccessToken {
    /// The scope values of the token.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// Not a JWT signed by one of our published keys: maybe not an access token at all.
    #[error("not a token of this issuer")]
    Unrecognised,
    /// Ours, but lacking a claim every access token of ours has (`jti`, `sub`).
    #[error("the access token is malformed")]
    Malformed,
    /// Ours, but of another type or issuer, for another audience, or expired.
    #[error("the access token is invalid or expired")]
    Invalid,
    /// Revoked, or its grant, user or client is gone or disabled.
    #[error("the access token was revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn names_audience(aud: Option<&Value>, expected: &str) -> bool {
    match aud {
        Some(Value::String(a)) => a == expected,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected)),
        _ => false,
    }
}

/// Validates `token` (see the module's invariants). `expected_audience` is the resource
/// the caller serves (userinfo: the issuer; the admin API its own); `None` accepts any
/// audience, which only introspection may do: RFC 7662 answers about every token this
/// server issued, whoever it was meant for.
pub async fn validate(
    provider: &Provider,
    token: &str,
    expected_audience: Option<&str>,
) -> Result<ValidAccessToken, AccessTokenError> {
    let (claims, header) = provider
        .keys
        .verify(token)
        .map_err(|_| AccessTokenError::Unrecognised)?;
    let now = crate::time::now();
    let exp = claims.get("exp").and_then(Value::as_i64);
    if header.token_type() != Some("at+jwt")
        || claims.get("iss").and_then(Value::as_str) != Some(provider.issuer.as_str())
        || expected_audience.is_some_and(|a| !names_audience(claims.get("aud"), a))
        || exp.is_none_or(|exp| exp <= now)
    {
        return Err(AccessTokenError::Invalid);
    }
    let exp = exp.unwrap_or_default();
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(jti), Some(sub)) = (text("jti"), text("sub")) else {
        return Err(AccessTokenError::Malformed);
    };
    let lookup = jti.clone();
    let live = provider
        .store
        .run(move |c| {
            let Some(grant) = grants::grant_of_live_access_token(c, &lookup, now)? else {
                return Ok::<_, StoreError>(None);
            };
            let user = match &grant.user_id {
                Some(id) => match users::find_by_id(c, id)? {
                    Some(u) if !u.disabled => Some(u),
                    _ => return Ok(None),
                },
                None => None,
            };
            let Some(client) = client_rows::find_enabled(c, &grant.client_id)? else {
                return Ok(None);
            };
            Ok(Some((grant, user, client)))
        })
        .await?;
    let (grant, user, client) = live.ok_or(AccessTokenError::Revoked)?;
    Ok(ValidAccessToken {
        sub,
        client_id: grant.client_id.clone(),
        scope: text("scope").unwrap_or_default(),
        grant_id: grant.id.clone(),
        jti,
        exp,
        org_id: text("org_id"),
        claims,
        grant,
        user,
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_may_be_a_string_or_a_list() {
        let a = "https://id.example";
        assert!(names_audience(Some(&Value::from(a)), a));
        assert!(names_audience(
            Some(&serde_json::json!(["https://api.example", a])),
            a
        ));
        assert!(!names_audience(
            Some(&Value::from("https://id.example/")),
            a
        ));
        assert!(!names_audience(Some(&serde_json::json!([])), a));
        assert!(!names_audience(Some(&serde_json::json!(7)), a));
        assert!(!names_audience(None, a));
    }
}
