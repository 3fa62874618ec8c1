//! Password sign-in and sign-out.
//!
//! An unknown user, a wrong password and a disabled account get the same page with the
//! same status (and, through the dummy hash, the same timing). A successful sign-in always
//! issues a new session token and a new CSRF token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::signin_response::{
    self as respond, continue_request, pending_client, with_csp, INVALID_CREDENTIALS,
    TOO_MANY_ATTEMPTS, UNCONFIRMED,
};
use super::{render_form, safe_return_to, see_other};
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, CsrfForm, CurrentSession};
use crate::http::{csrf, AppError, AppState};
use crate::sessions;
use crate::signin::password::{self, Destination};
use crate::signin::{Outcome, Refusal};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: String,
    username: &'a str,
    return_to: &'a str,
    /// The pending authorization request this sign-in is for, if any.
    request: &'a str,
    client_name: Option<&'a str>,
    /// Self-registration is open: link to it.
    signup: bool,
    /// Passkeys work here (the issuer has a domain name): offer passwordless sign-in.
    passkeys: bool,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    request: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: SecretString,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    request: String,
}

/// A form with nothing but the CSRF token.
#[derive(Deserialize)]
pub struct EmptyForm {}

pub async fn get_login(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let request = query.request.as_deref().unwrap_or_default();
    let pending = pending_client(&state, request).await;
    // Signed in already and not here for an authorization request (which may demand a
    // fresh sign-in): nothing to do.
    if current.session.is_some() && pending.is_none() {
        return Ok(see_other(&return_to));
    }
    let request = if pending.is_some() { request } else { "" };
    let response = render_form(&req, &state, StatusCode::OK, |csrf_token| LoginPage {
        csrf_token,
        signup: state.settings.signup.enabled,
        passkeys: state.passkeys.is_enabled(),
        username: pending.as_ref().map_or("", |p| p.login_hint.as_str()),
        return_to: &return_to,
        request,
        client_name: pending.as_ref().map(|p| p.name.as_str()),
        error: None,
    })?;
    with_csp(response, pending.map(|p| p.csp))
}

pub async fn post_login(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let for_request = Some(form.request.clone()).filter(|r| !r.is_empty());
    let return_to = match &for_request {
        None => safe_return_to(Some(&form.return_to)),
        // Only ever a random token; anything else would not find a request anyway.
        Some(id) => continue_request(id),
    };
    let browser = respond::browser(&req, &state, current);
    let destination = Destination {
        return_to: return_to.clone(),
        for_request,
    };
    let outcome = password::with_password(
        state.signin(),
        &browser,
        &form.username,
        form.password,
        destination,
    )
    .await?;
    let refusal = match outcome {
        Outcome::SignedIn(done) => return respond::signed_in(&state, &done, see_other(&return_to)),
        Outcome::NeedsSecondFactor { challenge } => {
            return respond::to_second_step(&state, challenge.expose())
        }
        Outcome::MustEnrolElsewhere => return respond::set_up_first(),
        Outcome::Refused(refusal) => refusal,
    };
    let (status, message) = match refusal {
        Refusal::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_ATTEMPTS),
        Refusal::Unconfirmed => (StatusCode::FORBIDDEN, UNCONFIRMED),
        _ => (StatusCode::UNAUTHORIZED, INVALID_CREDENTIALS),
    };
    let username: String = form.username.chars().take(254).collect();
    let plain_return_to = safe_return_to(Some(&form.return_to));
    let pending = pending_client(&state, &form.request).await;
    let request = if pending.is_some() {
        form.request.as_str()
    } else {
        ""
    };
    let response = render_form(&req, &state, status, |csrf_token| LoginPage {
        csrf_token,
        signup: state.settings.signup.enabled,
        passkeys: state.passkeys.is_enabled(),
        username: &username,
        return_to: &plain_return_to,
        request,
        client_name: pending.as_ref().map(|p| p.name.as_str()),
        error: Some(message),
    })?;
    with_csp(response, pending.map(|p| p.csp))
}

pub async fn post_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    _form: CsrfForm<EmptyForm>,
) -> Result<HttpResponse, AppError> {
    if let Some(token) = &current.cookie_token {
        sessions::end(&state.store, token.expose(), client_ip(&req)).await?;
    }
    let (_, csrf_cookie) = csrf::rotate(&state);
    let mut response = see_other("/login");
    response
        .add_cookie(&state.cookies.removal(state.cookies.session_name()))
        .map_err(AppError::unexpected)?;
    response
        .add_cookie(&csrf_cookie)
        .map_err(AppError::unexpected)?;
    Ok(response)
}
