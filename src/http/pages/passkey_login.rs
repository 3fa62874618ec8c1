//! Passkeys at sign-in, as JSON endpoints for `static/webauthn.js`: passwordless sign-in
//! with a discoverable credential (`/login/passkey/*`) and a passkey as the second step
//! after the password (`/login/mfa/passkey/*`).
//!
//! A passkey verified with user verification (PIN or biometrics on the authenticator) is
//! two factors in itself, so a passwordless sign-in carries `mfa`. A locked or disabled
//! account gets the same refusal as a failed verification.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use super::login::{sign_in, SignIn};
use super::{mfa as second_step, safe_return_to};
use crate::accounts::lockout;
use crate::http::error::ApiError;
use crate::http::extract::{client_ip, CsrfJson, CurrentSession};
use crate::http::{AppError, AppState};
use crate::mfa::passkeys::{PasskeyError, Purpose};
use crate::mfa::second_factor::combined_amr;
use crate::store::challenges;
use crate::store::users::{self, UserRow};

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

fn destination(d: &Destination) -> (String, Option<&str>) {
    match d.request.as_str() {
        "" => (safe_return_to(Some(&d.return_to)), None),
        id => (
            format!(
                "/authorize/continue?request={}",
                percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            ),
            Some(id),
        ),
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "redirect": to }))
}

pub async fn post_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: CsrfJson<Destination>,
) -> Result<HttpResponse, ApiError> {
    if let Some(ip) = client_ip(&req) {
        if lockout::ip_blocked(&state.store, &ip)
            .await
            .map_err(AppError::from)?
        {
            return Err(AppError::TooManyRequests.into());
        }
    }
    let (ceremony, options) = state
        .passkeys
        .begin_discoverable(&state.store, client_ip(&req).as_deref())
        .await
        .map_err(AppError::from)?;
    Ok(HttpResponse::Ok().json(json!({ "ceremony": ceremony, "options": options })))
}

/// Refuses a client address over its failure budget, as the password form does.
async fn throttled(state: &AppState, req: &HttpRequest) -> Result<(), AppError> {
    match client_ip(req) {
        Some(ip) if lockout::ip_blocked(&state.store, &ip).await? => Err(AppError::TooManyRequests),
        _ => Ok(()),
    }
}

/// The account a passkey proved, if it may sign in now: not disabled, not locked, and
/// confirmed (unless unconfirmed sign-in is allowed). Anything else is refused exactly
/// like an unknown credential, so the answer reveals nothing about the account.
async fn usable_user(state: &AppState, user_id: &str) -> Result<UserRow, AppError> {
    let user_id = user_id.to_owned();
    let user = state
        .store
        .run(move |c| users::find_by_id(c, &user_id))
        .await?;
    let now = crate::time::now();
    let allow_unconfirmed = state.settings.signup.allow_unverified_sign_in;
    user.filter(|u| {
        !u.disabled && !lockout::is_locked(u, now) && (!u.signup_pending || allow_unconfirmed)
    })
    .ok_or_else(|| PasskeyError::UnknownCredential.into())
}

pub async fn post_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfJson(body): CsrfJson<Finish>,
) -> Result<HttpResponse, ApiError> {
    throttled(&state, &req).await?;
    let auth = state
        .passkeys
        .finish_authentication(
            &state.store,
            &body.ceremony,
            Purpose::Passwordless,
            body.credential,
            client_ip(&req),
        )
        .await
        .map_err(AppError::from)?;
    // Passkeys are registered and asserted with user verification required; an assertion
    // without it is not the two-factor sign-in a passkey stands for.
    if !auth.user_verified {
        return Err(AppError::from(PasskeyError::UnknownCredential).into());
    }
    let user = usable_user(&state, &auth.user_id).await?;
    let (location, for_request) = destination(&body.destination);
    let done = SignIn {
        user_id: user.id,
        amr: vec![auth.amr.to_owned(), "mfa".into()],
        replaces: current.cookie_token,
        for_request,
    };
    Ok(sign_in(&req, &state, done, redirect(&location)).await?)
}

/// The second step with a passkey: only the challenge's user's passkeys are offered.
pub async fn post_second_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    _: CsrfJson<Destination>,
) -> Result<HttpResponse, ApiError> {
    let challenge = second_step::current_challenge(&req, &state)
        .await?
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
    throttled(&state, &req).await?;
    let challenge = second_step::current_challenge(&req, &state)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let auth = state
        .passkeys
        .finish_authentication(
            &state.store,
            &body.ceremony,
            Purpose::SecondFactor,
            body.credential,
            client_ip(&req),
        )
        .await
        .map_err(AppError::from)?;
    if auth.user_id != challenge.user_id {
        return Err(AppError::from(PasskeyError::UnknownCredential).into());
    }
    // Locked or disabled since the password: refused like any other failure.
    usable_user(&state, &challenge.user_id).await?;
    let id_hash = challenge.id_hash.clone();
    let consumed = state
        .store
        .run(move |c| challenges::delete(c, &id_hash))
        .await
        .map_err(AppError::from)?;
    if !consumed {
        return Err(AppError::Unauthorized.into());
    }
    let amr = combined_amr(&challenge.amr, auth.amr);
    let location = challenge.return_to.clone();
    Ok(second_step::complete(&req, &state, current, &challenge, amr, redirect(&location)).await?)
}
