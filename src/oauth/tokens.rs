//! Minting tokens for a grant: JWT access tokens (RFC 9068), ID tokens (OIDC Core §2,
//! §3.1.3.6) and opaque refresh tokens (stored as SHA-256).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::error::{FlowError, OAuthError};
use super::{claims, scope, Provider};
use crate::accounts::profile;
use crate::crypto::{random, token};
use crate::keys::Alg;
use crate::store::clients::Client;
use crate::store::grants::{self, GrantRow};
use crate::store::{users, DbConn};

/// The token endpoint's success response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// OIDC Core §3.1.3.6: left half of the SHA-256 of the ASCII token, base64url.
pub fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Whether a grant to this client gets a refresh token: the client must be allowed the
/// refresh_token grant, and for OpenID requests the user must have granted offline_access
/// (OIDC Core §11); plain OAuth 2.0 requests get one whenever the client may refresh.
pub fn wants_refresh_token(client: &Client, scopes: &[String]) -> bool {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    client.grant_types.iter().any(|g| g == "refresh_token")
        && (has(scope::OFFLINE_ACCESS) || !has(scope::OPENID))
}

/// Issues an access token (and, as applicable, an ID token and a refresh token) for
/// `grant`. Runs on a blocking thread inside the caller's transaction.
pub fn mint(
    conn: &mut DbConn,
    provider: &Provider,
    client: &Client,
    grant: &GrantRow,
    nonce: Option<&str>,
    with_refresh: bool,
) -> Result<TokenResponse, FlowError> {
    let now = crate::time::now();
    let scopes = scope::parse(&grant.scope)?;
    let user = match &grant.user_id {
        Some(id) => Some(
            users::find_by_id(conn, id)?
                .filter(|u| !u.disabled)
                .ok_or_else(|| {
                    OAuthError::invalid_grant("the user no longer exists or is disabled")
                })?,
        ),
        None => None,
    };
    let sub = match &user {
        Some(u) => claims::subject(client, &u.id, &provider.pairwise_salt),
        None => client.client_id.clone(),
    };
    let amr: Value = serde_json::from_str(&grant.amr).unwrap_or_else(|_| json!([]));

    let jti = random::identifier();
    let expires_at = now + provider.lifetimes.access_token;
    let mut at = object(json!({
        "iss": provider.issuer,
        "sub": sub,
        "aud": [provider.issuer],
        "client_id": client.client_id,
        "scope": grant.scope,
        "iat": now,
        "exp": expires_at,
        "jti": jti,
    }));
    if user.is_some() {
        at.insert("auth_time".into(), json!(grant.auth_time));
        at.insert("acr".into(), json!(grant.acr));
        at.insert("amr".into(), amr.clone());
        if let Some(sid) = &grant.sid {
            at.insert("sid".into(), json!(sid));
        }
    }
    let access_token = provider.keys.sign(Alg::Rs256, "at+jwt", at)?;
    grants::insert_access_token(conn, &jti, &grant.id, &client.client_id, expires_at)?;

    let id_token = match &user {
        Some(user) if scopes.iter().any(|s| s == scope::OPENID) => {
            let requested = grant
                .claims
                .as_deref()
                .and_then(|c| serde_json::from_str::<Value>(c).ok());
            // Scope claims go to userinfo; into the ID token only those of the scopes the
            // client chose (default: email), plus what the claims parameter asks for there.
            let in_id_token = claims::id_token_scopes(client);
            let released: Vec<&str> = scopes
                .iter()
                .map(String::as_str)
                .filter(|s| in_id_token.contains(s))
                .collect();
            let profile = profile::load(conn, &user.id)?.unwrap_or_default();
            let mut id = claims::for_user(
                user,
                &profile,
                &released,
                requested.as_ref().and_then(|c| c.get("id_token")),
                &client.allowed_scopes,
            );
            id.extend(object(json!({
                "iss": provider.issuer,
                "sub": sub,
                "aud": client.client_id,
                "azp": client.client_id,
                "iat": now,
                "exp": now + provider.lifetimes.id_token,
                "auth_time": grant.auth_time,
                "acr": grant.acr,
                "amr": amr,
                "at_hash": half_hash(&access_token),
            })));
            if let Some(nonce) = nonce {
                id.insert("nonce".into(), json!(nonce));
            }
            if let Some(sid) = &grant.sid {
                id.insert("sid".into(), json!(sid));
            }
            let alg = Alg::parse(&client.id_token_signed_response_alg).unwrap_or(Alg::Rs256);
            Some(provider.keys.sign(alg, "JWT", id)?)
        }
        _ => None,
    };

    let refresh_token = if with_refresh {
        let rt = random::secret_token();
        let expires = (now + provider.lifetimes.refresh_idle).min(grant.expires_at);
        grants::insert_refresh_token(conn, &token::hash(&rt), &grant.id, now, expires)?;
        Some(rt)
    } else {
        None
    };

    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: provider.lifetimes.access_token,
        scope: grant.scope.clone(),
        refresh_token,
        id_token,
    })
}
