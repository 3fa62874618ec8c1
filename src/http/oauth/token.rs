//! `POST /token` (RFC 6749 §3.2, §4.1.3, §5).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::response::{flow_error, json_error, json_no_store, Endpoint};
use crate::http::AppState;
use crate::oauth::client_auth::{self, AuthError};
use crate::oauth::error::{ErrorCode, FlowError, OAuthError};
use crate::oauth::grants::authorization_code::{self, Redemption};
use crate::oauth::grants::client_credentials;
use crate::oauth::grants::refresh_token::{self, Refresh};
use crate::oauth::request::Params;
use crate::store::clients::Client;

/// Parses an `application/x-www-form-urlencoded` body into parameters, or the RFC 6749
/// error for a body that is not one.
pub fn form_params(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = crate::http::extract::is_form(req);
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the body is not valid form data"))?;
    Ok(Params::new(pairs))
}

fn auth_error(endpoint: Endpoint, e: AuthError) -> OAuthError {
    match e {
        AuthError::Failed => OAuthError::invalid_client(),
        AuthError::Store(s) => flow_error(endpoint, FlowError::Store(s)),
    }
}

/// Authenticates the calling client (token, introspection and revocation endpoints).
pub async fn authenticate_client(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
    endpoint: Endpoint,
) -> Result<Client, OAuthError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| OAuthError::invalid_client()))
        .transpose()?;
    let presented = client_auth::presented(authorization, params)?;
    let p = &state.provider;
    // RFC 7523 §3: the authorization server, named by its issuer or token endpoint.
    let audiences = [p.issuer.clone(), p.endpoint("/token")];
    client_auth::authenticate(&state.store, &p.jwks_fetcher, presented, &audiences)
        .await
        .map_err(|e| auth_error(endpoint, e))
}

pub async fn post_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match token(&req, &state, &body).await {
        Ok(response) => response,
        Err(e) => json_error(&e),
    }
}

async fn token(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<HttpResponse, OAuthError> {
    let params = form_params(req, body)?;
    let client = authenticate_client(req, state, &params, Endpoint::Token).await?;
    let owned = |name: &str| -> Result<Option<String>, OAuthError> {
        Ok(params.get(name)?.map(str::to_owned))
    };
    let response = match params.get("grant_type")? {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("authorization_code") => {
            let redemption = Redemption {
                code: owned("code")?
                    .ok_or_else(|| OAuthError::invalid_request("code is required"))?,
                redirect_uri: owned("redirect_uri")?,
                code_verifier: owned("code_verifier")?,
            };
            authorization_code::redeem(&state.provider, &client, redemption)
                .await
                .map_err(|e| flow_error(Endpoint::Token, e))?
        }
        Some("refresh_token") => {
            let refresh = Refresh {
                refresh_token: owned("refresh_token")?
                    .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?,
                scope: owned("scope")?,
            };
            refresh_token::refresh(&state.provider, &client, refresh)
                .await
                .map_err(|e| flow_error(Endpoint::Token, e))?
        }
        Some("client_credentials") => {
            client_credentials::issue(&state.provider, &client, params.get("scope")?)
                .await
                .map_err(|e| flow_error(Endpoint::Token, e))?
        }
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            ))
        }
    };
    Ok(json_no_store(&response))
}
