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

use super::login::{sign_in, SignIn};
use super::{mfa as second_step, safe_return_to};
use crate::accounts::{lockout, Origin};
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

/// The account a passkey proved, if it may sign in now: not disabled and confirmed
/// (unless unconfirmed sign-in is allowed) and, for the second step after a password
/// (`locked_out`), the browser's source not locked out of the account by wrong codes since.
/// Anything else is refused exactly like an unknown credential, so the answer reveals
/// nothing about the account.
async fn usable_user(
    state: &AppState,
    user_id: &str,
    locked_out: Option<Origin>,
) -> Result<UserRow, AppError> {
    let user_id = user_id.to_owned();
    let user = state
        .store
        .run(move |c| {
            let locked = match &locked_out {
                Some(o) => lockout::is_locked_out(c, &user_id, o, crate::time::now())?,
                None => false,
            };
            Ok::<_, crate::store::StoreError>(users::find_by_id(c, &user_id)?.filter(|_| !locked))
        })
        .await?;
    let allow_unconfirmed = state.settings.signup.allow_unverified_sign_in;
    user.filter(|u| !u.disabled && (!u.signup_pending || allow_unconfirmed))
        .ok_or_else(|| PasskeyError::UnknownCredential.into())
}

pub async fn post_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfJson(body): CsrfJson<Finish>,
) -> Result<HttpResponse, ApiError> {
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
    let user = usable_user(&state, &auth.user_id, None).await?;
    let (location, for_request) = destination(&body.destination);
    let done = SignIn {
        user_id: user.id,
        amr: vec![auth.amr.to_owned(), "mfa".into()],
        replaces: current.cookie_token,
        for_request,
        auth_time: None,
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
    // Locked out (by wrong codes from this browser) or disabled since the password:
    // refused like any other failure.
    let origin = super::devices::origin(&req, &state);
    usable_user(&state, &challenge.user_id, Some(origin)).await?;
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
