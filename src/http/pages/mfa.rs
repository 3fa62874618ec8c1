//! The second step of sign-in. `/login/mfa` asks for the second factor, or, for a user who
//! must have one and has none, sets up an authenticator app first; `/login/mfa/start`
//! begins a step-up from an existing session when a request needs a second factor. A
//! step-up keeps the session's time of authentication and never counts as a fresh sign-in
//! for `prompt=login` or `max_age`: those need the first factor again. Setting up a second
//! factor there needs a recent first factor (`accounts::reauth::is_recent`), as on
//! /account/security; an older session is sent through the sign-in first.
//!
//! Nothing here hands out a session before the second factor has passed: the first factor
//! only leaves a challenge (see `mfa::challenge`), held in its own cookie.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::login::{pending_client, sign_in, with_csp, SignIn};
use super::{render, render_form, see_other};
use crate::crypto::SecretString;
use crate::http::extract::{CsrfForm, CurrentSession};
use crate::http::{AppError, AppState};
use crate::mfa::challenge::{self, Challenge, NewChallenge};
use crate::mfa::second_factor::{self, Method};
use crate::mfa::{self, totp, MfaError, SecondStep};
use crate::store;

pub const INVALID_CODE: &str = "That code is not valid. Try again.";
pub const START_OVER: &str = "This sign-in has expired or had too many wrong codes. Sign in again.";
pub const SET_UP_FIRST: &str = "This application asks for a second sign-in step, and your account \
     has none yet. Sign in to your account, set up an authenticator app or a passkey under \
     Sign-in security, then return to the application.";

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct SecondStepPage<'a> {
    csrf_token: String,
    totp: bool,
    passkeys: bool,
    recovery: bool,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "totp_enroll.html")]
pub(super) struct EnrollPage<'a> {
    pub csrf_token: String,
    pub action: &'a str,
    /// Shown when the user has no choice (sign-in demands a second factor).
    pub required: bool,
    pub qr_svg: &'a str,
    pub secret: String,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage<'a> {
    codes: &'a [String],
    continue_to: &'a str,
}

/// The page that shows new recovery codes, the only time they are ever shown.
pub(super) fn show_recovery_codes(
    codes: &[String],
    continue_to: &str,
) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &RecoveryCodesPage { codes, continue_to })
}

#[derive(Template)]
#[template(path = "error.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    error_id: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: SecretString,
}

#[derive(Deserialize)]
pub struct StartQuery {
    #[serde(default)]
    request: String,
}

/// Groups a base32 key in fours, as authenticator apps display it.
pub(super) fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a user who just passed the first factor needs next in this sign-in.
pub async fn second_step_for(
    state: &AppState,
    user_id: &str,
    for_request: Option<&str>,
) -> Result<SecondStep, AppError> {
    let pending = match for_request {
        Some(id) => crate::http::oauth::authorize::load_pending(state, id)
            .await
            .ok(),
        None => None,
    };
    let policy = std::sync::Arc::clone(&state.mfa.policy);
    let user_id = user_id.to_owned();
    Ok(state
        .store
        .run(move |c| {
            let (client, acr) = match &pending {
                Some((req, _, client)) => (Some(client), req.acr_demand()),
                None => (None, mfa::AcrDemand::Nothing),
            };
            mfa::second_step(c, &policy, &user_id, client, acr)
        })
        .await?)
}

/// After the first factor: the session when it is enough, the second step when one is
/// due, or the explanation that the account needs a second factor set up first.
pub(super) async fn after_first_factor(
    req: &HttpRequest,
    state: &AppState,
    done: SignIn<'_>,
    return_to: String,
    response: HttpResponse,
) -> Result<HttpResponse, AppError> {
    match second_step_for(state, &done.user_id, done.for_request).await? {
        SecondStep::None => sign_in(req, state, done, response).await,
        SecondStep::Ask | SecondStep::Enrol => {
            let first = FirstFactor {
                user_id: done.user_id,
                amr: done.amr,
                auth_time: done.auth_time,
            };
            start_challenge(state, first, return_to, done.for_request).await
        }
        SecondStep::Unavailable => set_up_first(),
    }
}

/// A client or request demands a second factor the account does not have.
pub fn set_up_first() -> Result<HttpResponse, AppError> {
    render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            title: "Set up a second sign-in step first",
            message: SET_UP_FIRST,
            error_id: None,
        },
    )
}

/// What the sign-in has established before its second step.
pub struct FirstFactor {
    pub user_id: String,
    pub amr: Vec<String>,
    /// A step-up's session's time of authentication; `None`: the first factor just passed.
    pub auth_time: Option<i64>,
}

/// Leaves a challenge for the second step and sends the browser there.
pub async fn start_challenge(
    state: &AppState,
    first: FirstFactor,
    return_to: String,
    for_request: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let token = challenge::start(
        &state.store,
        state.mfa.policy.challenge_secs,
        NewChallenge {
            user_id: first.user_id,
            amr: first.amr,
            return_to,
            request: for_request.map(str::to_owned),
            auth_time: first.auth_time,
        },
    )
    .await?;
    let mut response = see_other("/login/mfa");
    response
        .add_cookie(&state.cookies.challenge(token.expose()))
        .map_err(AppError::unexpected)?;
    Ok(response)
}

pub(super) async fn current_challenge(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<Challenge>, AppError> {
    let Some(cookie) = req.cookie(state.cookies.challenge_name()) else {
        return Ok(None);
    };
    Ok(challenge::load(&state.store, cookie.value()).await?)
}

fn start_over(status: StatusCode) -> Result<HttpResponse, AppError> {
    render(
        status,
        &MessagePage {
            title: "Sign in again",
            message: START_OVER,
            error_id: None,
        },
    )
}

/// The page for the second factor, with the client's redirect target allowed by the CSP
/// when the sign-in is for an authorization request.
async fn second_step_page(
    req: &HttpRequest,
    state: &AppState,
    challenge: &Challenge,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let (user_id, policy) = (
        challenge.user_id.clone(),
        std::sync::Arc::clone(&state.mfa.policy),
    );
    let (factors, enrol) = state
        .store
        .run(move |c| {
            let enrol = mfa::enrolment_required(c, &policy, &user_id)?;
            Ok::<_, crate::store::StoreError>((mfa::factors(c, &user_id)?, enrol))
        })
        .await?;
    if !factors.any() {
        return match enrol {
            true => enroll_page(req, state, challenge, status, error).await,
            false => set_up_first(),
        };
    }
    let response = render_form(req, state, status, |csrf_token| SecondStepPage {
        csrf_token,
        totp: factors.totp,
        passkeys: factors.passkeys > 0,
        recovery: factors.recovery_codes > 0,
        error,
    })?;
    let pending = pending_client(state, challenge.request.as_deref().unwrap_or_default()).await;
    with_csp(response, pending.map(|p| p.csp))
}

/// Set-up of an authenticator app inside a sign-in (the user must have a second factor).
async fn enroll_page(
    req: &HttpRequest,
    state: &AppState,
    challenge: &Challenge,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let (mfa, ch) = (state.mfa.clone(), challenge.clone());
    let enrollment = state
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let user =
                    store::users::find_by_id(c, &ch.user_id)?.ok_or(MfaError::NoChallenge)?;
                let label = (mfa.label.as_str(), user.username.as_str());
                // The set-up belongs to this challenge: no other browser is ever shown it.
                totp::pending_or_begin(
                    c,
                    &mfa.kek,
                    &user.id,
                    &ch.id_hash,
                    label,
                    crate::time::now(),
                )
            })
        })
        .await;
    let enrollment = match enrollment {
        Ok(e) => e,
        Err(MfaError::NoChallenge) => return start_over(StatusCode::UNAUTHORIZED),
        Err(e) => return Err(e.into()),
    };
    render_form(req, state, status, |csrf_token| EnrollPage {
        csrf_token,
        action: "/login/mfa/enroll",
        required: true,
        qr_svg: &enrollment.qr_svg,
        secret: grouped(&enrollment.secret_base32),
        error,
    })
}

pub async fn get_second_step(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    match current_challenge(&req, &state).await? {
        Some(challenge) => second_step_page(&req, &state, &challenge, StatusCode::OK, None).await,
        None => Ok(see_other("/login")),
    }
}

/// Completes the sign-in once the second factor passed: the session replaces the
/// browser's previous one and the challenge cookie goes.
pub(super) async fn complete(
    req: &HttpRequest,
    state: &AppState,
    current: CurrentSession,
    challenge: &Challenge,
    amr: Vec<String>,
    response: HttpResponse,
) -> Result<HttpResponse, AppError> {
    let mut response = sign_in(
        req,
        state,
        SignIn {
            user_id: challenge.user_id.clone(),
            amr,
            replaces: current.cookie_token,
            for_request: challenge.request.as_deref(),
            auth_time: challenge.auth_time,
        },
        response,
    )
    .await?;
    response
        .add_cookie(&state.cookies.removal(state.cookies.challenge_name()))
        .map_err(AppError::unexpected)?;
    Ok(response)
}

pub async fn post_second_step(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let Some(challenge) = current_challenge(&req, &state).await? else {
        return start_over(StatusCode::UNAUTHORIZED);
    };
    let method = match form.method.as_str() {
        "totp" | "" => Method::Totp,
        "recovery" => Method::Recovery,
        _ => return Err(AppError::BadRequest("Unknown sign-in method.".into())),
    };
    let outcome = second_factor::verify(
        &state.store,
        &state.mfa,
        &state.lockout,
        &challenge,
        method,
        form.code,
        super::devices::origin(&req, &state),
    )
    .await;
    match outcome {
        Ok(passed) => {
            if let Some(left) = passed.recovery_codes_left {
                let left = usize::try_from(left).unwrap_or(0);
                state.mailer.send(crate::mail::notices::recovery_code_used(
                    &state.settings.issuer,
                    &passed.user,
                    left,
                )?);
            }
            let location = challenge.return_to.clone();
            complete(
                &req,
                &state,
                current,
                &challenge,
                passed.amr,
                see_other(&location),
            )
            .await
        }
        Err(MfaError::InvalidCode) => {
            second_step_page(
                &req,
                &state,
                &challenge,
                StatusCode::UNAUTHORIZED,
                Some(INVALID_CODE),
            )
            .await
        }
        Err(MfaError::TooManyAttempts) => {
            let message = super::login::TOO_MANY_ATTEMPTS;
            second_step_page(
                &req,
                &state,
                &challenge,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
            )
            .await
        }
        Err(MfaError::ChallengeExhausted | MfaError::NoChallenge) => {
            start_over(StatusCode::UNAUTHORIZED)
        }
        Err(e) => Err(e.into()),
    }
}

/// Confirms the authenticator app set up during sign-in, completes the sign-in and shows
/// the new recovery codes once.
pub async fn post_enroll(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let Some(challenge) = current_challenge(&req, &state).await? else {
        return start_over(StatusCode::UNAUTHORIZED);
    };
    let outcome = second_factor::verify(
        &state.store,
        &state.mfa,
        &state.lockout,
        &challenge,
        Method::TotpEnrolment,
        form.code,
        super::devices::origin(&req, &state),
    )
    .await;
    match outcome {
        Ok(passed) => {
            state.mailer.send(crate::mail::notices::mfa_changed(
                &state.settings.issuer,
                &passed.user,
                "an authenticator app was set up while signing in",
            )?);
            let codes = passed.new_recovery_codes.unwrap_or_default();
            let page = show_recovery_codes(&codes, &challenge.return_to)?;
            complete(&req, &state, current, &challenge, passed.amr, page).await
        }
        Err(MfaError::InvalidCode) => {
            enroll_page(
                &req,
                &state,
                &challenge,
                StatusCode::UNAUTHORIZED,
                Some(INVALID_CODE),
            )
            .await
        }
        Err(MfaError::TooManyAttempts) => {
            let message = super::login::TOO_MANY_ATTEMPTS;
            enroll_page(
                &req,
                &state,
                &challenge,
                StatusCode::TOO_MANY_REQUESTS,
                Some(message),
            )
            .await
        }
        Err(MfaError::ChallengeExhausted | MfaError::NoChallenge | MfaError::NotEnrolling) => {
            start_over(StatusCode::UNAUTHORIZED)
        }
        Err(e) => Err(e.into()),
    }
}

/// Step-up: the browser has a session, but the authorization request needs a second
/// factor it lacks.
pub async fn get_start(
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let continue_to = format!(
        "/authorize/continue?request={}",
        percent_encoding::utf8_percent_encode(&query.request, percent_encoding::NON_ALPHANUMERIC)
    );
    let Some(session) = current.session else {
        return Ok(see_other(&format!(
            "/login?request={}",
            percent_encoding::utf8_percent_encode(
                &query.request,
                percent_encoding::NON_ALPHANUMERIC
            )
        )));
    };
    // The request must exist (and so belong to this flow); a stale one gets the usual page.
    crate::http::oauth::authorize::load_pending(&state, &query.request).await?;
    match second_step_for(&state, &session.user.id, Some(&query.request)).await? {
        // Nothing missing (set up meanwhile in another tab): back to the request.
        SecondStep::None => Ok(see_other(&continue_to)),
        // Adding a second factor needs a recent first factor, as on /account/security: a
        // borrowed, stale session must not set up an authenticator. The password (or a
        // passkey) again, and the sign-in leads on to the enrolment.
        SecondStep::Enrol if !crate::accounts::reauth::is_recent(&session, crate::time::now()) => {
            Ok(see_other(&format!(
                "/login?request={}",
                percent_encoding::utf8_percent_encode(
                    &query.request,
                    percent_encoding::NON_ALPHANUMERIC
                )
            )))
        }
        SecondStep::Ask | SecondStep::Enrol => {
            // A step-up: the second factor completes this session's sign-in, made at its
            // auth_time; it does not make the sign-in fresh.
            let first = FirstFactor {
                user_id: session.user.id,
                amr: session.amr,
                auth_time: Some(session.auth_time),
            };
            start_challenge(&state, first, continue_to, Some(&query.request)).await
        }
        SecondStep::Unavailable => set_up_first(),
    }
}
