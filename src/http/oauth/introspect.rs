//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009): authenticated clients only.

use actix_web::{web, HttpRequest, HttpResponse};

use super::response::{flow_error, json_error, json_no_store, Endpoint};
use super::token::{authenticate_client, form_params};
use crate::http::AppState;
use crate::oauth::error::OAuthError;
use crate::oauth::introspect;

/// A request to one of these endpoints: the authenticated client, the token and its hint.
struct TokenQuestion {
    client: crate::store::clients::Client,
    token: String,
    hint: Option<String>,
}

async fn read_question(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
    endpoint: Endpoint,
) -> Result<TokenQuestion, OAuthError> {
    let params = form_params(req, body)?;
    let client = authenticate_client(req, state, &params, endpoint).await?;
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    let hint = params.get("token_type_hint")?.map(str::to_owned);
    Ok(TokenQuestion {
        client,
        token,
        hint,
    })
}

async fn introspection(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    let q = read_question(req, state, body, Endpoint::Introspection).await?;
    // Only clients that can prove who they are may ask about tokens.
    if q.client.is_public {
        return Err(OAuthError::invalid_client());
    }
    let answer = introspect::introspect(&state.provider, &q.client, &q.token, q.hint.as_deref())
        .await
        .map_err(|e| flow_error(Endpoint::Introspection, e))?;
    Ok(json_no_store(&answer))
}

pub async fn post_introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    introspection(&req, &state, &body)
        .await
        .unwrap_or_else(|e| json_error(&e))
}

async fn revocation(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    let q = read_question(req, state, body, Endpoint::Revocation).await?;
    introspect::revoke(&state.provider, &q.client, &q.token, q.hint.as_deref())
        .await
        .map_err(|e| flow_error(Endpoint::Revocation, e))?;
    Ok(json_no_store(&serde_json::json!({})))
}

pub async fn post_revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    revocation(&req, &state, &body)
        .await
        .unwrap_or_else(|e| json_error(&e))
}
