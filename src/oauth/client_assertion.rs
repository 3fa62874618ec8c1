//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OIDC Core §9).
//!
//! Invariants: the assertion is signed by a key in the client's registered JWK Set with an
//! asymmetric algorithm (never HMAC, never `none`); `iss` and `sub` are the client id; `aud`
//! names this authorization server (issuer or endpoint URL); it has not expired and lives
//! at most ten minutes; its `jti` is single use (remembered until the assertion expires).

use josekit::jwk::JwkSet;
use josekit::jws::{JwsVerifier, ES256, PS256, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

use super::jwks_fetch::JwksFetcher;
use crate::crypto::token;
use crate::store::clients::Client;
use crate::store::{grants, Store, StoreError};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const SIGNING_ALGS: [&str; 3] = ["RS256", "PS256", "ES256"];
/// Longest accepted assertion lifetime.
const MAX_LIFETIME_SECS: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("the client assertion is invalid")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Part `index` of a compact JWS, decoded as a JSON object (unverified).
fn segment(assertion: &str, index: usize) -> Option<Map<String, Value>> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let part = assertion.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// The client id an assertion claims to come from (unverified: used to find the client).
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    segment(assertion, 1)?
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Verifiers for every registered signing key that could have made this signature: the
/// one named by `kid`, or without a `kid` all keys of the algorithm (during the client's own
/// key rotation it may publish several).
fn verifiers_for(header: &Map<String, Value>, keys: &JwkSet) -> Vec<Box<dyn JwsVerifier>> {
    let Some(alg) = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|a| SIGNING_ALGS.contains(a))
    else {
        return Vec::new();
    };
    let candidates = match header.get("kid").and_then(Value::as_str) {
        Some(kid) => keys.get(kid),
        None => keys.keys(),
    };
    candidates
        .into_iter()
        .filter(|jwk| jwk.algorithm().is_none_or(|a| a == alg))
        .filter(|jwk| jwk.key_use().is_none_or(|u| u == "sig"))
        .filter_map(|jwk| -> Option<Box<dyn JwsVerifier>> {
            match alg {
                "RS256" => RS256
                    .verifier_from_jwk(jwk)
                    .ok()
                    .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
                "PS256" => PS256
                    .verifier_from_jwk(jwk)
                    .ok()
                    .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
                "ES256" => ES256
                    .verifier_from_jwk(jwk)
                    .ok()
                    .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
                _ => None,
            }
        })
        .collect()
}

fn verify_with(jwks: &str, header: &Map<String, Value>, assertion: &str) -> Option<JwtPayload> {
    let keys = JwkSet::from_bytes(jwks.as_bytes()).ok()?;
    verifiers_for(header, &keys)
        .iter()
        .find_map(|v| jwt::decode_with_verifier(assertion, &**v).ok())
        .map(|(payload, _)| payload)
}

/// The assertion's verified claims, with the client's registered keys or those at its
/// jwks_uri (refetched once if none matches: the client may have rotated its keys).
async fn verified_payload(
    fetcher: &JwksFetcher,
    client: &Client,
    assertion: &str,
) -> Result<JwtPayload, AssertionError> {
    let header = segment(assertion, 0).ok_or(AssertionError::Invalid)?;
    if let Some(jwks) = &client.jwks {
        return verify_with(jwks, &header, assertion).ok_or(AssertionError::Invalid);
    }
    let uri = client.jwks_uri.as_deref().ok_or(AssertionError::Invalid)?;
    let fetch = |fresh| async move {
        fetcher.get(uri, fresh).await.map_err(|e| {
            tracing::warn!(client_id = %client.client_id, error = %e, "cannot use the client's jwks_uri");
            AssertionError::Invalid
        })
    };
    if let Some(payload) = verify_with(&fetch(false).await?, &header, assertion) {
        return Ok(payload);
    }
    verify_with(&fetch(true).await?, &header, assertion).ok_or(AssertionError::Invalid)
}

/// Verifies `assertion` for `client`. `audiences` are the URLs that may appear in `aud`.
pub async fn verify(
    store: &Store,
    fetcher: &JwksFetcher,
    client: &Client,
    assertion: &str,
    audiences: &[String],
) -> Result<(), AssertionError> {
    let payload = verified_payload(fetcher, client, assertion).await?;
    let claims = payload.claims_set();
    let now = crate::time::now();
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.contains(a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    let exp = number("exp").ok_or(AssertionError::Invalid)?;
    let valid = text("iss") == Some(client.client_id.as_str())
        && text("sub") == Some(client.client_id.as_str())
        && audience_ok
        && exp > now
        && exp <= now + MAX_LIFETIME_SECS
        && number("nbf").is_none_or(|nbf| nbf <= now + 5)
        && number("iat").is_none_or(|iat| iat <= now + 5);
    let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256);
    let (true, Some(jti)) = (valid, jti) else {
        return Err(AssertionError::Invalid);
    };
    let jti_hash = token::hash(&format!("{}\u{0}{jti}", client.client_id));
    let fresh = store
        .run(move |c| grants::remember_jti(c, &jti_hash, exp))
        .await?;
    if fresh {
        Ok(())
    } else {
        Err(AssertionError::Invalid)
    }
}
