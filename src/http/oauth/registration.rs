//! Dynamic client registration: `POST /register` (RFC 7591) and the client configuration
//! endpoint `GET/PUT/DELETE /register/{client_id}` (RFC 7592).
//!
//! Off unless `registration.enabled`; registering needs the administrator's initial access
//! token, and managing a registered client needs the registration access token issued with
//! it (stored as SHA-256). Unknown metadata fields are ignored (RFC 7591 §2). Self-registered
//! clients may ask
//! only for the user scopes and never for client_credentials: API access stays an
//! administrator's decision. Registration and updates apply the operator's address policy
//! (`oauth.allow_private_*`) like `client add`; a refused redirect URI is
//! `invalid_redirect_uri`, anything else refused `invalid_client_metadata` (RFC 7591 §3.2.2),
//! and nothing is stored.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit::Actor;
use crate::clients::{self, AddressPolicy, ClientError, NewClient, Registered};
use crate::crypto::token;
use crate::http::error::oauth::{bearer_error, flow_error, json_error, Endpoint};
use crate::http::{AppError, AppState};
use crate::oauth::error::{ErrorCode, FlowError, OAuthError};
use crate::store::clients::{self as client_rows, Client};
use crate::store::StoreError;

/// Client metadata as sent by the registering party (RFC 7591 §2, OIDC Registration §2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Metadata {
    client_id: Option<String>,
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    response_types: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    id_token_signed_response_alg: Option<String>,
    subject_type: Option<String>,
    /// Portcullis extension: which scopes' claims also go into the ID token (`email`,
    /// `all`, `none`, or scopes separated by spaces).
    id_token_claims: Option<String>,
}

fn metadata_error(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description.into())
}

impl Metadata {
    fn into_new_client(self) -> Result<NewClient, OAuthError> {
        if !self.response_types.is_empty() && self.response_types != ["code"] {
            return Err(metadata_error("only the response type code is supported"));
        }
        // Self-registered clients get user-facing access only: API scopes and the
        // client_credentials grant stay with the administrator (portcullis client add).
        if self.grant_types.iter().any(|g| g == "client_credentials") {
            return Err(metadata_error(
                "client_credentials cannot be registered dynamically; ask an administrator",
            ));
        }
        if let Some(scope) = &self.scope {
            if let Some(unknown) = scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .find(|s| !crate::oauth::scope::KNOWN.iter().any(|(k, _)| k == s))
            {
                return Err(metadata_error(format!(
                    "scope {unknown} cannot be registered dynamically"
                )));
            }
        }
        let public = self.token_endpoint_auth_method.as_deref() == Some("none");
        let pairwise = match self.subject_type.as_deref() {
            None | Some("public") => false,
            Some("pairwise") => true,
            Some(_) => return Err(metadata_error("subject_type must be public or pairwise")),
        };
        Ok(NewClient {
            name: self
                .client_name
                .unwrap_or_else(|| "Unnamed application".into()),
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: self.grant_types,
            auth_method: self.token_endpoint_auth_method,
            public,
            skip_consent: false,
            scopes: self
                .scope
                .map(|s| {
                    s.split(' ')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            id_token_alg: self.id_token_signed_response_alg,
            pairwise,
            refresh_grace_secs: 0,
            introspect_any: false,
            require_mfa: false,
            jwks: self.jwks.map(|j| j.to_string()),
            jwks_uri: self.jwks_uri,
            id_token_claims: self.id_token_claims,
        })
    }
}

fn client_error(e: ClientError) -> OAuthError {
    match e {
        // RFC 7591 §3.2.2 reserves invalid_redirect_uri for redirect_uris; a refused
        // post_logout_redirect_uris entry is other metadata.
        ClientError::InvalidRedirectUri {
            field: "redirect_uris",
            ..
        }
        | ClientError::PrivateRedirectUri {
            field: "redirect_uris",
            ..
        } => OAuthError::new(ErrorCode::InvalidRedirectUri, e.to_string()),
        ClientError::Store(s) => store_error(s),
        other => metadata_error(other.to_string()),
    }
}

/// A storage failure as an RFC 6749 JSON error (503 temporarily_unavailable for an
/// outage, 500 server_error otherwise), never an HTML page.
fn store_error(e: StoreError) -> OAuthError {
    flow_error(Endpoint::Registration, FlowError::Store(e))
}

/// The client's registered metadata, plus what RFC 7591 §3.2.1 adds.
fn describe(state: &AppState, client: &Client, registered: Option<&Registered>) -> Value {
    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "response_types": if client.grant_types.iter().any(|g| g == "authorization_code") { json!(["code"]) } else { json!([]) },
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": client.allowed_scopes.join(" "),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "subject_type": client.subject_type,
        "id_token_claims": client.id_token_claims,
        "registration_client_uri": state.provider.endpoint(&format!("/register/{}", client.client_id)),
    });
    if let Some(uri) = &client.jwks_uri {
        body["jwks_uri"] = json!(uri);
    }
    if let Some(jwks) = client
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        body["jwks"] = jwks;
    }
    if let Some(r) = registered {
        if let Some(secret) = &r.secret {
            body["client_secret"] = json!(secret.expose());
            body["client_secret_expires_at"] = json!(0);
        }
        if let Some(t) = &r.registration_token {
            body["registration_access_token"] = json!(t.expose());
        }
    }
    body
}

fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn parse_metadata(body: &[u8]) -> Result<NewClient, OAuthError> {
    let metadata: Metadata = serde_json::from_slice(body)
        .map_err(|_| metadata_error("the body must be a JSON object of client metadata"))?;
    metadata.into_new_client()
}

pub async fn post_register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let settings = &state.settings.registration;
    if !settings.enabled {
        return Err(AppError::NotFound);
    }
    let expected = settings.initial_access_token.expose();
    let presented = bearer_token(&req);
    let authorized =
        presented.is_some_and(|t| token::constant_time_eq(&token::hash(t), &token::hash(expected)));
    if !authorized {
        let error = presented.map(|_| {
            OAuthError::new(
                ErrorCode::InvalidToken,
                "the initial access token is not valid",
            )
        });
        return Ok(bearer_error(error.as_ref()));
    }
    let new = match parse_metadata(&body) {
        Ok(n) => n,
        Err(e) => return Ok(json_error(&e)),
    };
    let policy = AddressPolicy::from_settings(&state.settings.oauth);
    match clients::register_with(&state.store, new, Actor::Anonymous, true, policy).await {
        Ok(registered) => Ok(HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(describe(&state, &registered.client, Some(&registered)))),
        Err(e) => Ok(json_error(&client_error(e))),
    }
}

/// The client behind `/register/{id}` if the bearer token is its registration access token.
/// Unknown client and wrong token look the same (RFC 7592 §2: 401).
/// `Err` is the response to send instead: 404 while registration is off, a JSON error
/// when the store fails.
async fn managed_client(
    req: &HttpRequest,
    state: &AppState,
    client_id: &str,
) -> Result<Option<Client>, HttpResponse> {
    if !state.settings.registration.enabled {
        return Err(AppError::NotFound.error_response());
    }
    let Some(presented) = bearer_token(req) else {
        return Ok(None);
    };
    let id = client_id.to_owned();
    let client = state
        .store
        .run(move |c| client_rows::find(c, &id))
        .await
        .map_err(|e| json_error(&store_error(e)))?;
    Ok(client.filter(|c| {
        c.registration_token_hash
            .as_deref()
            .is_some_and(|h| token::constant_time_eq(h, &token::hash(presented)))
    }))
}

fn unauthorized() -> HttpResponse {
    bearer_error(Some(&OAuthError::new(
        ErrorCode::InvalidToken,
        "the registration access token is not valid for this client",
    )))
}

pub async fn get_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let managed = match managed_client(&req, &state, &path).await {
        Ok(managed) => managed,
        Err(response) => return Ok(response),
    };
    match managed {
        Some(client) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(describe(&state, &client, None))),
        None => Ok(unauthorized()),
    }
}

pub async fn put_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let client = match managed_client(&req, &state, &path).await {
        Ok(Some(client)) => client,
        Ok(None) => return Ok(unauthorized()),
        Err(response) => return Ok(response),
    };
    let metadata: Metadata = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(_) => {
            return Ok(json_error(&metadata_error(
                "the body must be a JSON object",
            )))
        }
    };
    if metadata
        .client_id
        .as_deref()
        .is_some_and(|id| id != client.client_id)
    {
        return Ok(json_error(&metadata_error("client_id does not match")));
    }
    let new = match metadata.into_new_client() {
        Ok(n) => n,
        Err(e) => return Ok(json_error(&e)),
    };
    match clients::update(
        &state.store,
        &client,
        new,
        Actor::Client(client.client_id.clone()),
        AddressPolicy::from_settings(&state.settings.oauth),
    )
    .await
    {
        Ok(updated) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(describe(&state, &updated.client, Some(&updated)))),
        Err(e) => Ok(json_error(&client_error(e))),
    }
}

pub async fn delete_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let client = match managed_client(&req, &state, &path).await {
        Ok(Some(client)) => client,
        Ok(None) => return Ok(unauthorized()),
        Err(response) => return Ok(response),
    };
    match clients::remove(
        &state.store,
        &client.client_id,
        Actor::Client(client.client_id.clone()),
    )
    .await
    {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(ClientError::Store(s)) => Ok(json_error(&store_error(s))),
        Err(other) => Err(AppError::BadRequest(other.to_string())),
    }
}
