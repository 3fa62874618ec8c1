//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009): authenticated clients only.

use actix_web::{web, HttpRequest, HttpResponse};

use super::response::{json_error, json_no_store};
use super::token::{authenticate_client, flow_error, form_params};
use crate::http::AppState;
use crate::oauth::error::OAuthError;
use crate::oauth::introspect;

async fn introspection(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    let params = form_params(req, body)?;
    let client = authenticate_client(req, state, &params).await?;
    // Only clients that can prove who they are may ask about tokens.
    if client.is_public {
        return Err(OAuthError::invalid_client());
    }
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let answer = introspect::introspect(
        &state.provider,
        &client,
        token,
        params.get("token_type_hint")?,
    )
    .await
    .map_err(flow_error)?;
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
    let params = form_params(req, body)?;
    let client = authenticate_client(req, state, &params).await?;
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    introspect::revoke(
        &state.provider,
        &client,
        token,
        params.get("token_type_hint")?,
    )
    .await
    .map_err(flow_error)?;
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
