//! HTTP for the sign-in pages, shared by them: who the browser is (`signin::Browser`), the
//! cookies a completed sign-in or a pending second step sets, the CSP that lets a sign-in
//! for an authorization request end at the client, and the views the sign-in and the
//! security page both show (authenticator set-up, recovery codes, "set up first").
//!
//! Invariant: a completed sign-in always sets a new session cookie and a new CSRF cookie
//! on the response that carries it, and drops the challenge cookie.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::{render, see_other};
use crate::accounts::Origin;
use crate::http::extract::{client_ip, user_agent, CurrentSession};
use crate::http::middleware::{csp_allowing_form_target, csp_source_for};
use crate::http::oauth::authorize::load_pending;
use crate::http::{csrf, AppError, AppState};
use crate::signin::{Browser, SignedIn};

pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";
pub const UNCONFIRMED: &str =
    "Confirm your email address first: open the link we sent you, then sign in.";
pub const TOO_MANY_ATTEMPTS: &str =
    "Too many failed sign-in attempts from your network. Wait a few minutes and try again.";
pub const INVALID_CODE: &str = "That code is not valid. Try again.";
pub const START_OVER: &str = "This sign-in has expired or had too many wrong codes. Sign in again.";
pub const SET_UP_FIRST: &str = "This application asks for a second sign-in step, and your account \
     has none yet. Sign in to your account, set up an authenticator app or a passkey under \
     Sign-in security, then return to the application.";

/// Percent-encodes a query parameter's value completely.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Where a sign-in for the pending authorization request `request` continues.
pub fn continue_request(request: &str) -> String {
    format!("/authorize/continue?request={}", percent_encode(request))
}

/// Where a sign-in attempt comes from: the client address and the browser's device cookie
/// (which, for an account that knows it, is a source of its own for lock-out).
pub fn origin(req: &HttpRequest, state: &AppState) -> Origin {
    Origin {
        ip: client_ip(req),
        device: req
            .cookie(state.cookies.device_name())
            .map(|c| c.value().to_owned()),
    }
}

/// The browser signing in, with the session cookie a new session replaces.
pub fn browser(req: &HttpRequest, state: &AppState, current: CurrentSession) -> Browser {
    Browser {
        origin: origin(req, state),
        user_agent: user_agent(req),
        session_cookie: current.cookie_token,
    }
}

/// The value of the browser's second-step challenge cookie.
pub fn challenge_cookie(req: &HttpRequest, state: &AppState) -> Option<String> {
    req.cookie(state.cookies.challenge_name())
        .map(|c| c.value().to_owned())
}

/// Adds what a completed sign-in leaves in the browser to `response` (a redirect, or the
/// page that shows new recovery codes): the session cookie, a fresh CSRF cookie, the device
/// cookie, and the removal of the challenge cookie.
pub fn signed_in(
    state: &AppState,
    done: &SignedIn,
    mut response: HttpResponse,
) -> Result<HttpResponse, AppError> {
    let (_, csrf_cookie) = csrf::rotate(state);
    response
        .add_cookie(&state.cookies.session(done.token.expose()))
        .map_err(AppError::unexpected)?;
    response
        .add_cookie(&csrf_cookie)
        .map_err(AppError::unexpected)?;
    if let Some(device) = &done.device_cookie {
        if let Err(e) = response.add_cookie(&state.cookies.device(device)) {
            tracing::warn!(error = %e, "could not set the device cookie");
        }
    }
    Ok(response)
}

/// Like [`signed_in`], for the end of a second step: also drops the challenge cookie.
pub fn second_step_done(
    state: &AppState,
    done: &SignedIn,
    response: HttpResponse,
) -> Result<HttpResponse, AppError> {
    let mut response = signed_in(state, done, response)?;
    response
        .add_cookie(&state.cookies.removal(state.cookies.challenge_name()))
        .map_err(AppError::unexpected)?;
    Ok(response)
}

/// Sends the browser to the second step, holding the challenge in its cookie.
pub fn to_second_step(state: &AppState, challenge: &str) -> Result<HttpResponse, AppError> {
    let mut response = see_other("/login/mfa");
    response
        .add_cookie(&state.cookies.challenge(challenge))
        .map_err(AppError::unexpected)?;
    Ok(response)
}

/// What the login page shows and allows for a pending authorization request.
pub struct ForClient {
    pub name: String,
    /// Lets the login form's redirect chain end at the client's redirect URI.
    pub csp: String,
    pub login_hint: String,
}

/// `None` for a missing or stale request.
pub async fn pending_client(state: &AppState, request: &str) -> Option<ForClient> {
    if request.is_empty() {
        return None;
    }
    let (pending, _, client) = load_pending(state, request).await.ok()?;
    Some(ForClient {
        name: client.name,
        csp: csp_allowing_form_target(&csp_source_for(&pending.target.redirect_uri)),
        login_hint: pending.login_hint.unwrap_or_default(),
    })
}

/// Replaces the response's CSP with `csp`, if any.
pub fn with_csp(mut response: HttpResponse, csp: Option<String>) -> Result<HttpResponse, AppError> {
    if let Some(csp) = csp {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            csp.parse().map_err(AppError::unexpected)?,
        );
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "totp_enroll.html")]
pub struct EnrollPage<'a> {
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
pub fn show_recovery_codes(codes: &[String], continue_to: &str) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, &RecoveryCodesPage { codes, continue_to })
}

/// Groups a base32 key in fours, as authenticator apps display it.
pub fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Template)]
#[template(path = "error.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    error_id: Option<&'a str>,
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

/// The second step is gone (expired, completed, too many wrong codes).
pub fn start_over(status: StatusCode) -> Result<HttpResponse, AppError> {
    render(
        status,
        &MessagePage {
            title: "Sign in again",
            message: START_OVER,
            error_id: None,
        },
    )
}
