//! Password sign-in and sign-out.
//!
//! An unknown user, a wrong password and a disabled account get the same page with the
//! same status (and, through the dummy hash, the same timing). A successful sign-in always
//! issues a new session token and a new CSRF token.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render_form, safe_return_to, see_other};
use crate::accounts::{self, AccountError};
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, user_agent, CsrfForm, CurrentSession};
use crate::http::middleware::{csp_allowing_form_target, csp_source_for};
use crate::http::oauth::authorize::load_pending;
use crate::http::{csrf, AppError, AppState};
use crate::sessions::{self, NewSession};

pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";
pub const UNCONFIRMED: &str =
    "Confirm your email address first: open the link we sent you, then sign in.";
pub const TOO_MANY_ATTEMPTS: &str =
    "Too many failed sign-in attempts from your network. Wait a few minutes and try again.";

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

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

/// What the login page shows and allows for a pending authorization request.
pub(super) struct ForClient {
    name: String,
    /// Lets the login form's redirect chain end at the client's redirect URI.
    pub csp: String,
    login_hint: String,
}

/// `None` for a missing or stale request.
pub(super) async fn pending_client(state: &AppState, request: &str) -> Option<ForClient> {
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

pub(super) fn with_csp(
    mut response: HttpResponse,
    csp: Option<String>,
) -> Result<HttpResponse, AppError> {
    if let Some(csp) = csp {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            csp.parse().map_err(AppError::unexpected)?,
        );
    }
    Ok(response)
}

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
    let return_to = match form.request.as_str() {
        "" => safe_return_to(Some(&form.return_to)),
        // Only ever a random token; anything else would not find a request anyway.
        id => format!("/authorize/continue?request={}", percent_encode(id)),
    };
    let outcome = accounts::authenticate(
        &state.store,
        &state.hasher,
        &state.lockout,
        &form.username,
        form.password,
        super::devices::origin(&req, &state),
        state.settings.signup.allow_unverified_sign_in,
    )
    .await;
    match outcome {
        Ok(user) => {
            let for_request = Some(form.request.as_str()).filter(|r| !r.is_empty());
            let done = SignIn {
                user_id: user.id,
                amr: vec!["pwd".into()],
                replaces: current.cookie_token,
                for_request,
                auth_time: None,
            };
            let next = see_other(&return_to);
            super::mfa::after_first_factor(&req, &state, done, return_to, next).await
        }
        Err(
            e @ (AccountError::InvalidCredentials
            | AccountError::TooManyAttempts
            | AccountError::Unconfirmed),
        ) => {
            let (status, message) = match e {
                AccountError::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, TOO_MANY_ATTEMPTS),
                AccountError::Unconfirmed => (StatusCode::FORBIDDEN, UNCONFIRMED),
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
        Err(e) => Err(e.into()),
    }
}

/// A completed sign-in.
pub(super) struct SignIn<'a> {
    pub user_id: String,
    /// The methods that passed (RFC 8176).
    pub amr: Vec<String>,
    /// The browser's previous session token, ended in the same transaction.
    pub replaces: Option<SecretString>,
    /// The pending authorization request this sign-in was made for.
    pub for_request: Option<&'a str>,
    /// For a step-up (a second factor added to an existing session), that session's time
    /// of authentication; `None` when a first factor was just passed.
    pub auth_time: Option<i64>,
}

/// Starts a session (ending the browser's previous one) and adds the session cookie and a
/// fresh CSRF cookie to `response` (a redirect, or the page that shows new recovery codes).
pub(super) async fn sign_in(
    req: &HttpRequest,
    state: &AppState,
    done: SignIn<'_>,
    mut response: HttpResponse,
) -> Result<HttpResponse, AppError> {
    let origin = super::devices::origin(req, state);
    let (token, session) = sessions::start_at(
        &state.store,
        state.sessions,
        NewSession {
            user_id: done.user_id,
            amr: done.amr,
            ip: origin.ip.clone(),
            user_agent: user_agent(req),
            replaces: done.replaces,
        },
        done.auth_time,
    )
    .await?;
    // The session exists already: a failure to reset the failure counts is not worth an
    // error page (they only ever err on the side of caution).
    if let Err(e) =
        crate::accounts::lockout::signed_in(&state.store, &session.user.id, &origin).await
    {
        tracing::warn!(error = %e, "could not reset the sign-in failure counts");
    }
    if let (Some(request), None) = (done.for_request, done.auth_time) {
        // This sign-in answers that authorization request's prompt=login / max_age. A
        // step-up does not: a second factor alone is no fresh authentication.
        crate::oauth::authorize::mark_authenticated(&state.store, request, &session.sid).await?;
    }
    let (_, csrf_cookie) = csrf::rotate(state);
    response
        .add_cookie(&state.cookies.session(token.expose()))
        .map_err(AppError::unexpected)?;
    response
        .add_cookie(&csrf_cookie)
        .map_err(AppError::unexpected)?;
    super::devices::note_sign_in(req, state, &session.user, &mut response).await;
    Ok(response)
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
