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

use super::signin_response::{
    self as respond, continue_request, grouped, pending_client, percent_encode, set_up_first,
    show_recovery_codes, start_over, with_csp, EnrollPage, INVALID_CODE, TOO_MANY_ATTEMPTS,
};
use super::{render_form, see_other};
use crate::crypto::SecretString;
use crate::http::extract::{CsrfForm, CurrentSession};
use crate::http::{AppError, AppState};
use crate::mfa::challenge::Challenge;
use crate::mfa::second_factor::Method;
use crate::signin::second_step::{self, CodeOutcome, View};
use crate::signin::step_up::{self, StepUp};
use crate::signin::Refusal;

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct SecondStepPage<'a> {
    csrf_token: String,
    totp: bool,
    passkeys: bool,
    recovery: bool,
    error: Option<&'a str>,
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

/// The browser's live challenge, if any.
async fn current_challenge(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<Challenge>, AppError> {
    let cookie = respond::challenge_cookie(req, state);
    Ok(second_step::current(state.signin(), cookie.as_deref()).await?)
}

/// Renders a second-step view: the page for the second factor (with the client's redirect
/// target allowed by the CSP when the sign-in is for an authorization request), or the
/// authenticator set-up.
async fn render_view(
    req: &HttpRequest,
    state: &AppState,
    challenge: &Challenge,
    view: View,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    match view {
        View::Ask(factors) => {
            let response = render_form(req, state, status, |csrf_token| SecondStepPage {
                csrf_token,
                totp: factors.totp,
                passkeys: factors.passkeys > 0,
                recovery: factors.recovery_codes > 0,
                error,
            })?;
            let request = challenge.request.as_deref().unwrap_or_default();
            let pending = pending_client(state, request).await;
            with_csp(response, pending.map(|p| p.csp))
        }
        View::Enrol(enrollment) => render_form(req, state, status, |csrf_token| EnrollPage {
            csrf_token,
            action: "/login/mfa/enroll",
            required: true,
            qr_svg: &enrollment.qr_svg,
            secret: grouped(&enrollment.secret_base32),
            error,
        }),
        View::MustEnrolElsewhere => set_up_first(),
        View::StartOver => start_over(StatusCode::UNAUTHORIZED),
    }
}

pub async fn get_second_step(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Some(challenge) = current_challenge(&req, &state).await? else {
        return Ok(see_other("/login"));
    };
    let view = second_step::view(state.signin(), &challenge).await?;
    render_view(&req, &state, &challenge, view, StatusCode::OK, None).await
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
    let browser = respond::browser(&req, &state, current);
    let outcome =
        second_step::with_code(state.signin(), &browser, &challenge, method, form.code).await?;
    let (status, message) = match outcome {
        CodeOutcome::SignedIn {
            signed_in,
            return_to,
            ..
        } => return respond::second_step_done(&state, &signed_in, see_other(&return_to)),
        CodeOutcome::Refused(Refusal::InvalidCode) => (StatusCode::UNAUTHORIZED, INVALID_CODE),
        CodeOutcome::Refused(Refusal::TooManyAttempts) => {
            (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_ATTEMPTS)
        }
        CodeOutcome::Refused(_) => return start_over(StatusCode::UNAUTHORIZED),
    };
    let view = second_step::view(state.signin(), &challenge).await?;
    render_view(&req, &state, &challenge, view, status, Some(message)).await
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
    let browser = respond::browser(&req, &state, current);
    let method = Method::TotpEnrolment;
    let outcome =
        second_step::with_code(state.signin(), &browser, &challenge, method, form.code).await?;
    let (status, message) = match outcome {
        CodeOutcome::SignedIn {
            signed_in,
            return_to,
            new_recovery_codes,
        } => {
            let codes = new_recovery_codes.unwrap_or_default();
            let page = show_recovery_codes(&codes, &return_to)?;
            return respond::second_step_done(&state, &signed_in, page);
        }
        CodeOutcome::Refused(Refusal::InvalidCode) => (StatusCode::UNAUTHORIZED, INVALID_CODE),
        CodeOutcome::Refused(Refusal::TooManyAttempts) => {
            (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_ATTEMPTS)
        }
        CodeOutcome::Refused(_) => return start_over(StatusCode::UNAUTHORIZED),
    };
    let view = second_step::enrolment(state.signin(), &challenge).await?;
    render_view(&req, &state, &challenge, view, status, Some(message)).await
}

/// Step-up: the browser has a session, but the authorization request needs a second
/// factor it lacks.
pub async fn get_start(
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, AppError> {
    let sign_in_again = || {
        see_other(&format!(
            "/login?request={}",
            percent_encode(&query.request)
        ))
    };
    let Some(session) = current.session else {
        return Ok(sign_in_again());
    };
    let continue_to = continue_request(&query.request);
    match step_up::start(state.signin(), session, &query.request, continue_to.clone()).await? {
        // A stale request gets the usual page.
        StepUp::UnknownRequest => Err(AppError::BadRequest(STALE_REQUEST.into())),
        StepUp::AlreadyMet => Ok(see_other(&continue_to)),
        // The password (or a passkey) again, and the sign-in leads on to the enrolment.
        StepUp::SignInAgain => Ok(sign_in_again()),
        StepUp::NeedsSecondFactor { challenge } => {
            respond::to_second_step(&state, challenge.expose())
        }
        StepUp::MustEnrolElsewhere => set_up_first(),
    }
}

/// The page for a stale or unknown authorization request, as `/authorize/continue` words it.
const STALE_REQUEST: &str = "This sign-in request has expired or was already completed. Go back \
     to the application and start again.";
