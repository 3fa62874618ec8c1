//! Passkeys at sign-in, as JSON endpoints for `static/webauthn.js`: passwordless sign-in
//! with a discoverable credential (`/login/passkey/*`) and a passkey as the second step
//! after the password (`/login/mfa/passkey/*`).
//!
//! A passkey verified with user verification (PIN or biometrics on the authenticator) is
//! two factors in itself, so a passwordless sign-in carries `mfa`. Password failures never
//! block a passwordless sign-in (a passkey has nothing to guess); a disabled account gets
//! the same refusal as a failed verification.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use super::safe_return_to;
use super::signin_response::{self as respond, continue_request};
use crate::http::error::ApiError;
use crate::http::extract::{client_ip, CsrfJson, CurrentSession};
use crate::http::{AppError, AppState};
use crate::mfa::passkeys::Purpose;
use crate::signin::passkey::{self, Assertion};
use crate::signin::password::Destination as SignInDestination;
use crate::signin::second_step;

/// Where a passwordless sign-in continues: the login form's own fields.
#[derive(Deserialize)]
pub struct Destination {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    request: String,
}

#[derive(Deserialize)]
pub struct Finish {
    ceremony: String,
    credential: PublicKeyCredential,
    #[serde(flatten)]
    destination: Destination,
}

fn destination(d: &Destination) -> SignInDestination {
    match d.request.as_str() {
        "" => SignInDestination {
            return_to: safe_return_to(Some(&d.return_to)),
            for_request: None,
        },
        id => SignInDestination {
            return_to: continue_request(id),
            for_request: Some(id.to_owned()),
        },
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "redirect": to }))
}

/// Passwordless sign-in is never held back by password failures, from any address: a
/// passkey has nothing to guess, so the lock-out that stops guessing has nothing to stop.
/// Ceremony starts are still bounded per client address (they cost storage).
pub async fn post_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: CsrfJson<Destination>,
) -> Result<HttpResponse, ApiError> {
    let (ceremony, options) = state
        .passkeys
        .begin_discoverable(&state.store, client_ip(&req).as_deref())
        .await
        .map_err(AppError::from)?;
    Ok(HttpResponse::Ok().json(json!({ "ceremony": ceremony, "options": options })))
}

pub async fn post_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfJson(body): CsrfJson<Finish>,
) -> Result<HttpResponse, ApiError> {
    let browser = respond::browser(&req, &state, current);
    let destination = destination(&body.destination);
    let location = destination.return_to.clone();
    let assertion = Assertion {
        ceremony: body.ceremony,
        credential: body.credential,
    };
    let done = passkey::passwordless(state.signin(), &browser, assertion, destination)
        .await
        .map_err(AppError::from)?;
    Ok(respond::signed_in(&state, &done, redirect(&location))?)
}

/// The second step with a passkey: only the challenge's user's passkeys are offered.
pub async fn post_second_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: CsrfJson<Destination>,
) -> Result<HttpResponse, ApiError> {
    let cookie = respond::challenge_cookie(&req, &state);
    let challenge = second_step::current(state.signin(), cookie.as_deref())
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::Unauthorized)?;
    let (ceremony, options) = state
        .passkeys
        .begin_authentication(
            &state.store,
            &challenge.user_id,
            Purpose::SecondFactor,
            client_ip(&req).as_deref(),
        )
        .await
        .map_err(AppError::from)?;
    Ok(HttpResponse::Ok().json(json!({ "ceremony": ceremony, "options": options })))
}

pub async fn post_second_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfJson(body): CsrfJson<Finish>,
) -> Result<HttpResponse, ApiError> {
    let cookie = respond::challenge_cookie(&req, &state);
    let challenge = second_step::current(state.signin(), cookie.as_deref())
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::Unauthorized)?;
    let browser = respond::browser(&req, &state, current);
    let assertion = Assertion {
        ceremony: body.ceremony,
        credential: body.credential,
    };
    let (done, location) = passkey::second_factor(state.signin(), &browser, &challenge, assertion)
        .await
        .map_err(AppError::from)?;
    Ok(respond::second_step_done(
        &state,
        &done,
        redirect(&location),
    )?)
}
