//! `/account`: the signed-in user's own page (password, email address, sessions).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render_form, see_other};
use crate::accounts::email_change::{self, RequestError};
use crate::accounts::self_service::{self, ChangeError, PasswordChange};
use crate::accounts::AccountError;
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, CsrfForm, SignedIn};
use crate::http::{AppError, AppState};
use crate::sessions::ActiveSession;

struct SessionView {
    sid: String,
    device: String,
    created: String,
    last_seen: String,
    ip: Option<String>,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf_token: String,
    username: &'a str,
    email: &'a str,
    /// Changing the address needs the current password; without one the page says why.
    has_password: bool,
    min_length: usize,
    sessions: Vec<SessionView>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    changed: Option<String>,
    #[serde(default)]
    email_sent: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: SecretString,
    #[serde(default)]
    new_password: SecretString,
    #[serde(default)]
    new_password_confirm: SecretString,
}

#[derive(Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    new_email: String,
    #[serde(default)]
    current_password: SecretString,
}

#[derive(Deserialize)]
pub struct EndSessionForm {
    #[serde(default)]
    sid: String,
}

async fn page(
    req: &HttpRequest,
    state: &AppState,
    session: &ActiveSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let sessions = self_service::list_sessions(&state.store, &session.user.id)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.id_hash == session.id_hash,
            device: s
                .user_agent
                .map(|ua| ua.chars().take(80).collect())
                .unwrap_or_else(|| "Unknown device".into()),
            created: crate::time::format_utc(s.created_at),
            last_seen: crate::time::format_utc(s.last_seen_at),
            ip: s.ip,
            sid: s.sid,
        })
        .collect();
    render_form(req, state, status, |csrf_token| AccountPage {
        csrf_token,
        username: &session.user.username,
        email: &session.user.email,
        has_password: session.user.password_hash.is_some(),
        min_length: state.policy.min_length,
        sessions,
        notice,
        error,
    })
}

pub async fn get_account(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = if query.changed.is_some() {
        Some("Your password was changed. Your other sessions have ended.")
    } else if query.email_sent.is_some() {
        Some(EMAIL_SENT)
    } else {
        None
    };
    page(&req, &state, &session, StatusCode::OK, notice, None).await
}

pub async fn post_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let change = PasswordChange {
        current: form.current_password,
        new: form.new_password,
        confirm: form.new_password_confirm,
    };
    let outcome = self_service::change_password(
        &state.store,
        &state.hasher,
        &state.policy,
        &state.lockout,
        &session,
        change,
        &state.settings.issuer,
        super::signin_response::origin(&req, &state),
    )
    .await;
    let message = match outcome {
        Ok(()) => return Ok(see_other("/account?changed=1")),
        Err(ChangeError::Account(AccountError::WeakPassword(v))) => v.to_string(),
        Err(e @ (ChangeError::WrongCurrent | ChangeError::Mismatch)) => e.to_string(),
        Err(ChangeError::Account(e)) => return Err(e.into()),
    };
    page(
        &req,
        &state,
        &session,
        StatusCode::BAD_REQUEST,
        None,
        Some(&message),
    )
    .await
}

/// Shown after every accepted request, whether or not the address is free (no enumeration).
const EMAIL_SENT: &str =
    "We sent a confirmation link to the new address. Your address changes once you open it.";

/// Asks for an email change; the answer is the same redirect whether or not the new address
/// is taken (see `email_change::request` for what is mailed).
pub async fn post_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> Result<HttpResponse, AppError> {
    let outcome = email_change::request(
        &state.store,
        &state.hasher,
        &state.lockout,
        &state.limits,
        &session.user,
        &form.new_email,
        form.current_password,
        &state.settings.issuer,
        super::signin_response::origin(&req, &state),
    )
    .await;
    let (status, message) = match outcome {
        Ok(()) => return Ok(see_other("/account?email_sent=1")),
        Err(e @ RequestError::WrongPassword) => (StatusCode::UNAUTHORIZED, e.to_string()),
        Err(e @ (RequestError::NoPassword | RequestError::SameAddress)) => {
            (StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(RequestError::Account(AccountError::TooManyAttempts)) => (
            StatusCode::TOO_MANY_REQUESTS,
            super::signin_response::TOO_MANY_ATTEMPTS.to_owned(),
        ),
        Err(RequestError::Account(AccountError::InvalidEmail)) => (
            StatusCode::BAD_REQUEST,
            "That is not a valid email address.".to_owned(),
        ),
        Err(RequestError::Account(e)) => return Err(e.into()),
    };
    page(&req, &state, &session, status, None, Some(&message)).await
}

pub async fn post_end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<EndSessionForm>,
) -> Result<HttpResponse, AppError> {
    self_service::end_session(&state.store, &session.user.id, &form.sid, client_ip(&req)).await?;
    Ok(see_other("/account"))
}
