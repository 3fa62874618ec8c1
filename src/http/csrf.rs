//! Cross-site request forgery protection for every state-changing form.
//!
//! Double-submit: each browser holds a random 256-bit token in an HttpOnly, SameSite=Lax
//! cookie (`__Host-` prefixed over https, so no other origin can set it); every form
//! carries the same value in a hidden `csrf_token` field, and the server compares both in
//! constant time. A cross-site page can neither read the cookie nor guess the field.
//! In addition, a POST that the browser marks cross-site (`Sec-Fetch-Site`) or whose
//! `Origin` header names another origin is refused outright.
//! The token is replaced at sign-in and sign-out.

use actix_web::cookie::Cookie;
use actix_web::HttpRequest;

use super::{AppError, AppState};
use crate::crypto::{random, token};

/// The token to embed in a form, and the cookie to set when the browser had none.
pub fn token_for(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    match req.cookie(state.cookies.csrf_name()) {
        Some(c) if token::is_well_formed(c.value()) => (c.value().to_owned(), None),
        _ => {
            let fresh = random::secret_token();
            let cookie = state.cookies.csrf(&fresh);
            (fresh, Some(cookie))
        }
    }
}

/// A new token and its cookie, for after a sign-in or sign-out.
pub fn rotate(state: &AppState) -> (String, Cookie<'static>) {
    let fresh = random::secret_token();
    let cookie = state.cookies.csrf(&fresh);
    (fresh, cookie)
}

/// Checks a submitted form's token against the cookie, and the Origin header if present.
pub fn verify(req: &HttpRequest, state: &AppState, presented: &str) -> Result<(), AppError> {
    // Fetch metadata, where the browser sends it, names cross-site requests outright.
    if let Some(site) = req.headers().get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(AppError::Forbidden("cross-site form submission"));
        }
    }
    // With `Referrer-Policy: no-referrer` browsers send `Origin: null` even for our own
    // forms, so only a concrete foreign origin is refused here; the token decides the rest.
    if let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) {
        let origin = origin.as_bytes();
        if origin != b"null" && origin != state.settings.issuer_origin().as_bytes() {
            return Err(AppError::Forbidden("cross-origin form submission"));
        }
    }
    let Some(cookie) = req.cookie(state.cookies.csrf_name()) else {
        return Err(AppError::Forbidden("missing CSRF cookie"));
    };
    if !token::is_well_formed(cookie.value()) || !token::constant_time_eq(cookie.value(), presented)
    {
        return Err(AppError::Forbidden("CSRF token mismatch"));
    }
    Ok(())
}
