//! `ClientAuth`: the client calling the token, introspection or revocation endpoint,
//! authenticated (RFC 6749 §2.3, OIDC Core §9: client_secret_basic, client_secret_post,
//! private_key_jwt, or none for public clients), with the form parameters of its request.
//!
//! Invariants: the body must be `application/x-www-form-urlencoded` (RFC 6749 §3.2);
//! the rules of [`crate::oauth::client_auth`] decide (one method per request, the
//! registered method only, constant-time secrets); every failure is the same
//! `invalid_client`, 401 with `WWW-Authenticate: Basic`, rendered by
//! [`crate::http::error::oauth`]; a storage failure is `temporarily_unavailable` or a
//! `server_error` with an error id, never a 401.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::{form_params, state};
use crate::http::error::oauth::{flow_error, server_error, Endpoint, OAuthJson};
use crate::oauth::client_auth::{self, AuthError};
use crate::oauth::error::{FlowError, OAuthError};
use crate::oauth::request::Params;
use crate::store::clients::Client;

/// An authenticated client and the parameters of its request.
pub struct ClientAuth {
    pub client: Client,
    pub params: Params,
}

/// The endpoint named in the log line of a failure.
fn endpoint(req: &HttpRequest) -> Endpoint {
    match req.path() {
        "/introspect" => Endpoint::Introspection,
        "/revoke" => Endpoint::Revocation,
        _ => Endpoint::Token,
    }
}

async fn authenticate(req: &HttpRequest, body: &[u8]) -> Result<ClientAuth, OAuthError> {
    let state = state(req).map_err(|e| server_error(&e))?;
    let params = form_params(req, body)?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| OAuthError::invalid_client()))
        .transpose()?;
    let presented = client_auth::presented(authorization, &params)?;
    let p = &state.provider;
    // RFC 7523 §3: the authorization server, named by its issuer or token endpoint.
    let audiences = [p.issuer.clone(), p.endpoint("/token")];
    let client = client_auth::authenticate(&state.store, &p.jwks_fetcher, presented, &audiences)
        .await
        .map_err(|e| match e {
            AuthError::Failed => OAuthError::invalid_client(),
            AuthError::Store(s) => flow_error(endpoint(req), FlowError::Store(s)),
        })?;
    Ok(ClientAuth { client, params })
}

impl FromRequest for ClientAuth {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await?;
            Ok(authenticate(&req, &body).await.map_err(OAuthJson)?)
        })
    }
}
