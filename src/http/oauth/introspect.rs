//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009): authenticated clients only.

use actix_web::{web, HttpResponse};

use super::response::json_no_store;
use crate::http::error::oauth::{flow_error, Endpoint, OAuthJson};
use crate::http::extract::ClientAuth;
use crate::http::AppState;
use crate::oauth::error::OAuthError;
use crate::oauth::introspect;
use crate::oauth::request::Params;

/// The token a request asks about, and its type hint.
fn token_and_hint(params: &Params) -> Result<(&str, Option<&str>), OAuthError> {
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((token, params.get("token_type_hint")?))
}

pub async fn post_introspect(
    state: web::Data<AppState>,
    ClientAuth { client, params }: ClientAuth,
) -> Result<HttpResponse, OAuthJson> {
    let (token, hint) = token_and_hint(&params)?;
    let answer = introspect::introspect(&state.provider, &client, token, hint)
        .await
        .map_err(|e| flow_error(Endpoint::Introspection, e))?;
    Ok(json_no_store(&answer))
}

pub async fn post_revoke(
    state: web::Data<AppState>,
    ClientAuth { client, params }: ClientAuth,
) -> Result<HttpResponse, OAuthJson> {
    let (token, hint) = token_and_hint(&params)?;
    introspect::revoke(&state.provider, &client, token, hint)
        .await
        .map_err(|e| flow_error(Endpoint::Revocation, e))?;
    Ok(json_no_store(&serde_json::json!({})))
}
