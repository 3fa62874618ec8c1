//! The second step of sign-in. `/login/mfa` asks for the second factor, or, for a user who
//! must have one and has none, sets up an authenticator app first; `/login/mfa/start`
//! begins a step-up from an existing session when a request needs a second factor.
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
use crate::http::extract::{client_ip, CsrfForm, CurrentSession};
use crate::http::{AppError, AppState};
use crate::mfa::challenge::{self, Challenge, NewChallenge};
use crate::mfa::second_factor::{self, combined_amr, Method};
use crate::mfa::{self, recovery, totp, MfaError};
use crate::store::{self, challenges};

pub const INVALID_CODE: &str = "That code is not valid. Try again.";
pub const START_OVER: &str = "This sign-in has expired or had too many wrong codes. Sign in again.";

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
struct StartOverPage<'a> {
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

/// Whether a user who just passed the first factor needs a second one for this sign-in.
pub async fn second_factor_due(
    state: &AppState,
    user_id: &str,
    for_request: Option<&str>,
) -> Result<bool, AppError> {
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
                Some((req, _, client)) => (Some(client), req.acr_values.as_slice()),
                None => (None, &[][..]),
            };
            mfa::needed(c, &policy, &user_id, client, acr)
        })
        .await?)
}

/// Leaves a challenge for the second step and sends the browser there.
pub async fn start_challenge(
    state: &AppState,
    user_id: String,
    amr: Vec<String>,
    return_to: String,
    for_request: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let token = challenge::start(
        &state.store,
        state.mfa.policy.challenge_secs,
        NewChallenge {
            user_id,
            amr,
            return_to,
            request: for_request.map(str::to_owned),
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
        &StartOverPage {
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
    let user_id = challenge.user_id.clone();
    let factors = state.store.run(move |c| mfa::factors(c, &user_id)).await?;
    if !factors.any() {
        return enroll_page(req, state, challenge, status, error).await;
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
    let (mfa, user_id) = (state.mfa.clone(), challenge.user_id.clone());
    let enrollment = state
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let user = store::users::find_by_id(c, &user_id)?.ok_or(MfaError::NoChallenge)?;
                let show =
                    |c: &mut _| totp::pending(c, &mfa.kek, &user.id, &mfa.label, &user.username);
                match show(c)? {
                    Some(e) => Ok(e),
                    None => {
                        totp::begin(c, &mfa.kek, &user.id, crate::time::now())?;
                        show(c)?.ok_or(MfaError::NotEnrolling)
                    }
                }
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
        client_ip(&req),
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
    let (mfa, lockout, ch) = (state.mfa.clone(), state.lockout, challenge.clone());
    let ip = client_ip(&req);
    let result = state
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                if mfa::factors(c, &ch.user_id)?.any() {
                    // Set up elsewhere meanwhile: the normal second step applies.
                    return Ok(None);
                }
                if !totp::confirm(c, &mfa.kek, &ch.user_id, form.code.expose(), now)? {
                    let user = store::users::find_by_id(c, &ch.user_id)?;
                    crate::accounts::lockout::record_failure(
                        c,
                        &lockout,
                        user.as_ref(),
                        ip.as_deref(),
                        "otp",
                        now,
                    )?;
                    challenges::add_failure(c, &ch.id_hash)?;
                    return Err(MfaError::InvalidCode);
                }
                if !challenges::delete(c, &ch.id_hash)? {
                    return Err(MfaError::NoChallenge);
                }
                let codes = recovery::regenerate(c, &ch.user_id, now)?;
                crate::audit::record(
                    c,
                    crate::audit::Event {
                        action: "mfa.totp_enabled",
                        actor: &crate::audit::Actor::User(ch.user_id.clone()),
                        target: Some(&ch.user_id),
                        ip: ip.as_deref(),
                        detail: serde_json::json!({ "during": "sign-in" }),
                    },
                )?;
                Ok(Some(codes))
            })
        })
        .await;
    match result {
        Ok(Some(codes)) => {
            let page = show_recovery_codes(&codes, &challenge.return_to)?;
            let amr = combined_amr(&challenge.amr, Method::Totp.amr());
            complete(&req, &state, current, &challenge, amr, page).await
        }
        Ok(None) => second_step_page(&req, &state, &challenge, StatusCode::OK, None).await,
        Err(MfaError::InvalidCode) => {
            enroll_page(
                &req,
                &state,
                &challenge,
                StatusCode::BAD_REQUEST,
                Some(INVALID_CODE),
            )
            .await
        }
        Err(MfaError::NoChallenge | MfaError::NotEnrolling) => start_over(StatusCode::UNAUTHORIZED),
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
    start_challenge(
        &state,
        session.user.id,
        session.amr,
        continue_to,
        Some(&query.request),
    )
    .await
}
