//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3, OIDC Core §9).
//!
//! Invariants: a request uses exactly one method (RFC 6749 §2.3: "MUST NOT use more than one
//! authentication method in each request"); a client authenticates only with the method it
//! registered; a disabled client never authenticates; secrets are compared in constant
//! time against a SHA-256; every failure is the same `invalid_client` whatever went wrong.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::percent_decode_str;

use super::client_assertion::{self, claimed_client_id, AssertionError, ASSERTION_TYPE};
use super::error::OAuthError;
use super::jwks_fetch::JwksFetcher;
use super::request::Params;
use crate::clients::secret_matches;
use crate::store::clients::{self as rows, Client};
use crate::store::{Store, StoreError};

/// The credentials a request presented.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    None {
        client_id: String,
    },
    /// private_key_jwt: the client id comes from the assertion (or the form, which must agree).
    Assertion {
        client_id: String,
        assertion: String,
    },
}

impl Presented {
    fn client_id(&self) -> &str {
        match self {
            Presented::Basic { client_id, .. }
            | Presented::Post { client_id, .. }
            | Presented::None { client_id }
            | Presented::Assertion { client_id, .. } => client_id,
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Presented::Basic { .. } => "client_secret_basic",
            Presented::Post { .. } => "client_secret_post",
            Presented::None { .. } => "none",
            Presented::Assertion { .. } => "private_key_jwt",
        }
    }
}

/// RFC 6749 §2.3.1: the id and secret are form-urlencoded before base64.
fn form_decode(s: &str) -> Option<String> {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Works out which method a request used. `authorization` is the Authorization header.
pub fn presented(authorization: Option<&str>, params: &Params) -> Result<Presented, OAuthError> {
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    let assertion = params.get("client_assertion")?;
    let assertion_type = params.get("client_assertion_type")?;
    if assertion.is_some() || assertion_type.is_some() {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method per request",
            ));
        }
        let (Some(assertion), Some(ASSERTION_TYPE)) = (assertion, assertion_type) else {
            return Err(OAuthError::invalid_client());
        };
        let client_id = claimed_client_id(assertion).ok_or_else(OAuthError::invalid_client)?;
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_client());
        }
        return Ok(Presented::Assertion {
            client_id,
            assertion: assertion.to_owned(),
        });
    }
    match authorization {
        Some(header) => {
            let (client_id, secret) = parse_basic(header).ok_or_else(OAuthError::invalid_client)?;
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method per request",
                ));
            }
            if body_id.is_some_and(|id| id != client_id) {
                return Err(OAuthError::invalid_client());
            }
            Ok(Presented::Basic { client_id, secret })
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Presented::Post {
                client_id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            (Some(id), None) => Ok(Presented::None {
                client_id: id.to_owned(),
            }),
            _ => Err(OAuthError::invalid_client()),
        },
    }
}

/// Authenticates the presented credentials; returns the client. `audiences` are the values
/// a private_key_jwt assertion may name in `aud` (the issuer and the endpoint URLs).
pub async fn authenticate(
    store: &Store,
    fetcher: &JwksFetcher,
    presented: Presented,
    audiences: &[String],
) -> Result<Client, AuthError> {
    let id = presented.client_id().to_owned();
    if id.is_empty() || id.len() > 256 {
        return Err(AuthError::Failed);
    }
    // A client an operator disabled authenticates no more (its tokens stop working too,
    // see `access_token::validate`).
    let client = store
        .run(move |c| rows::find_enabled(c, &id))
        .await?
        .ok_or(AuthError::Failed)?;
    if client.token_endpoint_auth_method != presented.method() {
        return Err(AuthError::Failed);
    }
    let ok = match &presented {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
            !client.is_public && secret_matches(&client, secret)
        }
        Presented::None { .. } => client.is_public,
        Presented::Assertion { assertion, .. } => {
            match client_assertion::verify(store, fetcher, &client, assertion, audiences).await {
                Ok(()) => true,
                Err(AssertionError::Invalid) => false,
                Err(AssertionError::Store(e)) => return Err(AuthError::Store(e)),
            }
        }
    };
    if ok {
        Ok(client)
    } else {
        Err(AuthError::Failed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("client authentication failed")]
    Failed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret+x"));
        assert_eq!(
            presented(Some(&header), &params(&[])).unwrap(),
            Presented::Basic {
                client_id: "my client".into(),
                secret: "s:cret x".into()
            }
        );
    }

    #[test]
    fn two_methods_in_one_request_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("c:s"));
        let err = presented(Some(&header), &params(&[("client_secret", "s")])).unwrap_err();
        assert_eq!(err.code, crate::oauth::ErrorCode::InvalidRequest);
        let err = presented(Some(&header), &params(&[("client_id", "other")])).unwrap_err();
        assert_eq!(err.code, crate::oauth::ErrorCode::InvalidClient);
    }

    #[test]
    fn body_methods_and_garbage() {
        assert!(matches!(
            presented(None, &params(&[("client_id", "c"), ("client_secret", "s")])).unwrap(),
            Presented::Post { .. }
        ));
        assert!(matches!(
            presented(None, &params(&[("client_id", "c")])).unwrap(),
            Presented::None { .. }
        ));
        assert!(presented(None, &params(&[])).is_err());
        assert!(presented(Some("Bearer abc"), &params(&[])).is_err());
        assert!(presented(Some("Basic !!!"), &params(&[])).is_err());
    }
}
