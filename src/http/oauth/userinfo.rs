//! `GET/POST /userinfo` (OIDC Core §5.3, RFC 6750).
//!
//! The access token comes in the Authorization header, or for POST in the form body
//! (RFC 6750 §2.2); never in the query string. It must be an RFC 9068 access token
//! (`typ: at+jwt`) from this issuer, for this issuer's resources, unexpired, and not
//! revoked (checked against the database, so revocation is immediate).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::response::{bearer_error, flow_error, json_error, json_no_store, Endpoint};
use super::token::form_params;
use crate::accounts::profile;
use crate::http::AppState;
use crate::oauth::error::{ErrorCode, FlowError, OAuthError};
use crate::oauth::{claims, scope};
use crate::store::{clients, grants, users};

fn invalid_token(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

/// The bearer token from the header or (POST only) the body; `Ok(None)` when there is none.
fn bearer(req: &HttpRequest, body: Option<&[u8]>) -> Result<Option<String>, OAuthError> {
    let from_header = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| invalid_token("malformed Authorization header"))?;
            match v.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim().to_owned())
                }
                _ => return Err(invalid_token("use the Bearer scheme")),
            }
        }
    };
    let from_body = match body.filter(|b| !b.is_empty()) {
        Some(body) => form_params(req, body)?
            .get("access_token")?
            .map(str::to_owned),
        None => None,
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the token one way only")),
        (token, None) | (None, token) => Ok(token),
    }
}

async fn userinfo(state: &AppState, token: &str) -> Result<Value, OAuthError> {
    let provider = &state.provider;
    let (claims_set, header) = provider
        .keys
        .verify(token)
        .map_err(|_| invalid_token("the access token is invalid"))?;
    let now = crate::time::now();
    let audience_ok = match claims_set.get("aud") {
        Some(Value::String(a)) => *a == provider.issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&provider.issuer)),
        _ => false,
    };
    if header.token_type() != Some("at+jwt")
        || claims_set.get("iss").and_then(Value::as_str) != Some(&provider.issuer)
        || !audience_ok
        || claims_set
            .get("exp")
            .and_then(Value::as_i64)
            .is_none_or(|exp| exp <= now)
    {
        return Err(invalid_token("the access token is invalid or expired"));
    }
    let jti = claims_set
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_token("the access token is invalid"))?
        .to_owned();
    let found = state
        .store
        .run(move |c| {
            let Some(grant) = grants::grant_of_live_access_token(c, &jti, now)? else {
                return Ok(None);
            };
            let user = match &grant.user_id {
                Some(id) => users::find_by_id(c, id)?.filter(|u| !u.disabled),
                None => None,
            };
            let Some(user) = user else {
                return Ok(None);
            };
            let profile = profile::load(c, &user.id)?.unwrap_or_default();
            let allowed = clients::find(c, &grant.client_id)?
                .map(|client| client.allowed_scopes)
                .unwrap_or_default();
            Ok(Some((grant, user, profile, allowed)))
        })
        .await
        .map_err(|e| flow_error(Endpoint::Userinfo, FlowError::Store(e)))?;
    let (grant, user, profile, allowed) =
        found.ok_or_else(|| invalid_token("the access token was revoked"))?;
    // The token's own scope: a refresh may have narrowed it below the grant's.
    let token_scope = claims_set
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let scopes = scope::parse(token_scope)?;
    if !scopes.iter().any(|s| s == scope::OPENID) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the openid scope is required",
        ));
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
        &allowed,
    );
    body.insert(
        "sub".into(),
        claims_set.get("sub").cloned().unwrap_or(json!(user.id)),
    );
    Ok(Value::Object(body))
}

async fn respond(req: &HttpRequest, state: &AppState, body: Option<&[u8]>) -> HttpResponse {
    let token = match bearer(req, body) {
        Ok(Some(token)) => token,
        Ok(None) => return bearer_error(None),
        Err(e) => return bearer_error(Some(&e)),
    };
    match userinfo(state, &token).await {
        Ok(claims) => json_no_store(&claims),
        // Our failures, not the token's: no Bearer challenge (RFC 6750 §3 is about the
        // request's credentials); the RFC 6749 body, with Retry-After on a 503.
        Err(e)
            if matches!(
                e.code,
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable
            ) =>
        {
            json_error(&e)
        }
        Err(e) => bearer_error(Some(&e)),
    }
}

pub async fn get_userinfo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    respond(&req, &state, None).await
}

pub async fn post_userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    respond(&req, &state, Some(&body)).await
}
