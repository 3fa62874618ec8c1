//! Request extractors: a CSRF-checked form or JSON body, the current session (optional,
//! [`CurrentSession`], or required, [`SignedIn`]), the client address, a bearer credential
//! ([`bearer`]) and an authenticated OAuth client ([`client_auth`]).

pub mod bearer;
pub mod client_auth;
mod signed_in;

pub use bearer::{Bearer, BearerOrForm, Credential};
pub use client_auth::ClientAuth;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::client_addr::{self, ClientAddr};
use super::error::ApiError;
use super::{csrf, AppError, AppState};
use crate::crypto::SecretString;
use crate::oauth::error::OAuthError;
use crate::oauth::request::Params;
use crate::sessions::{self, ActiveSession};
pub use signed_in::{NotSignedIn, SignedIn};

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::unexpected(anyhow::anyhow!("AppState is not registered")))
}

/// The client of the request: the TCP peer, or what the trusted proxies in front of us say
/// (`server.trusted_proxies`, see [`client_addr`]). The one source of the client address for
/// throttles, audit, sessions and notices.
pub fn client(req: &HttpRequest) -> Option<ClientAddr> {
    let peer = req.peer_addr()?.ip();
    let state = req.app_data::<web::Data<AppState>>();
    let trusted = state.map_or(&[][..], |s| s.settings.server.trusted_proxies());
    let lines = |name: &str| {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
    };
    Some(client_addr::resolve(
        peer,
        trusted,
        lines("forwarded"),
        lines("x-forwarded-for"),
        lines("x-forwarded-proto"),
    ))
}

/// The client's address as text, from [`client`].
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    client(req).map(|c| c.ip.to_string())
}

pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether the request body is declared `application/x-www-form-urlencoded`.
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// An `application/x-www-form-urlencoded` body whose `csrf_token` field matched the CSRF
/// cookie. The check runs before `T` is parsed, so a forged request is refused with 403
/// whatever else it contains; a body over `server.max_body_bytes` gets 413.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let is_form = is_form(&req);
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = state(&req)?;
            if !is_form {
                return Err(AppError::UnsupportedMediaType);
            }
            let body =
                body.await
                    .map_err(|e| match e.as_response_error().status_code().as_u16() {
                        413 => AppError::PayloadTooLarge,
                        _ => AppError::BadRequest("The form could not be read.".into()),
                    })?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|_| AppError::BadRequest("The form could not be read.".into()))?;
            let mut tokens = pairs.iter().filter(|(k, _)| k == "csrf_token");
            let presented = match (tokens.next(), tokens.next()) {
                (Some((_, v)), None) => v.as_str(),
                _ => "",
            };
            csrf::verify(&req, &state, presented)?;
            let value = serde_urlencoded::from_bytes::<T>(&body)
                .map_err(|_| AppError::BadRequest("The form is incomplete or malformed.".into()))?;
            Ok(CsrfForm(value))
        })
    }
}

/// Parses an `application/x-www-form-urlencoded` body into OAuth parameters, or the
/// RFC 6749 `invalid_request` for a body that is not one.
pub fn form_params(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    if !is_form(req) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the body is not valid form data"))?;
    Ok(Params::new(pairs))
}

/// Whether the request body is declared `application/json`.
pub fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The header a script puts the CSRF token in. The page hands the token to the script in a
/// `data-csrf` attribute, because the cookie is HttpOnly.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An `application/json` body from one of our scripts (the WebAuthn ceremonies) whose
/// `X-CSRF-Token` header matched the CSRF cookie, with the same constant-time comparison and
/// Sec-Fetch-Site/Origin checks as [`CsrfForm`]. The check runs before `T` is parsed. Errors
/// are problem documents (415 wrong type, 403 forged, 413 too large, 400 malformed).
pub struct CsrfJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for CsrfJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let is_json = is_json(&req);
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let state = state(&req)?;
            if !is_json {
                return Err(AppError::UnsupportedMediaType.into());
            }
            let mut tokens = req.headers().get_all(CSRF_HEADER);
            let presented = match (tokens.next(), tokens.next()) {
                (Some(v), None) => v.to_str().unwrap_or_default(),
                _ => "",
            };
            csrf::verify(&req, &state, presented)?;
            let body =
                body.await
                    .map_err(|e| match e.as_response_error().status_code().as_u16() {
                        413 => AppError::PayloadTooLarge,
                        _ => AppError::BadRequest("The request body could not be read.".into()),
                    })?;
            let value = serde_json::from_slice::<T>(&body).map_err(|_| {
                AppError::BadRequest("The request body is incomplete or malformed.".into())
            })?;
            Ok(CsrfJson(value))
        })
    }
}

/// The browser's session, if its cookie names a live one.
pub struct CurrentSession {
    pub session: Option<ActiveSession>,
    /// The raw cookie value, live or not, so sign-in can end the old session.
    pub cookie_token: Option<SecretString>,
}

impl FromRequest for CurrentSession {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            let Some(cookie) = req.cookie(state.cookies.session_name()) else {
                return Ok(CurrentSession {
                    session: None,
                    cookie_token: None,
                });
            };
            let token = SecretString::new(cookie.value());
            let session = sessions::lookup(&state.store, state.sessions, token.expose()).await?;
            Ok(CurrentSession {
                session,
                cookie_token: Some(token),
            })
        })
    }
}
