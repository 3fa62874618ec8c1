//! Password reset pages: `/reset` asks for the account, `/reset/confirm` sets the password.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render_form, see_other};
use crate::accounts::reset::{self, ResetError};
use crate::accounts::AccountError;
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, CsrfForm};
use crate::http::{AppError, AppState};

#[derive(Template)]
#[template(path = "reset_request.html")]
struct RequestPage {
    csrf_token: String,
    sent: bool,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "reset_confirm.html")]
struct ConfirmPage<'a> {
    csrf_token: String,
    token: &'a str,
    username: &'a str,
    min_length: usize,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: SecretString,
    #[serde(default)]
    password_confirm: SecretString,
}

fn minutes(state: &AppState) -> i64 {
    (crate::time::secs(state.settings.reset.token_lifetime_secs) + 59) / 60
}

pub async fn get_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    render_form(&req, &state, StatusCode::OK, |csrf_token| RequestPage {
        csrf_token,
        sent: false,
        minutes: minutes(&state),
    })
}

/// Answers the same whether or not the account exists (and beyond the limits); the mail
/// is queued with the link and goes out in the background.
pub async fn post_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<RequestForm>,
) -> Result<HttpResponse, AppError> {
    let lifetimes = reset::Lifetimes {
        reset: crate::time::secs(state.settings.reset.token_lifetime_secs),
        confirm: crate::time::secs(state.settings.signup.verification_lifetime_secs),
    };
    reset::request(
        &state.store,
        &state.limits,
        &form.login,
        lifetimes,
        &state.settings.issuer,
        client_ip(&req),
    )
    .await?;
    render_form(&req, &state, StatusCode::OK, |csrf_token| RequestPage {
        csrf_token,
        sent: true,
        minutes: minutes(&state),
    })
}

pub async fn get_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let user = reset::user_for(&state.store, &query.token)
        .await?
        .ok_or(AppError::LinkInvalid)?;
    render_form(&req, &state, StatusCode::OK, |csrf_token| ConfirmPage {
        csrf_token,
        token: &query.token,
        username: &user.username,
        min_length: state.policy.min_length,
        error: None,
    })
}

pub async fn post_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let outcome = reset::complete(
        &state.store,
        &state.hasher,
        &state.policy,
        &form.token,
        reset::NewPassword {
            password: form.password,
            confirm: form.password_confirm,
        },
        &state.settings.issuer,
        client_ip(&req),
    )
    .await;
    let message = match outcome {
        Ok(()) => return Ok(see_other("/login")),
        Err(ResetError::InvalidToken) => return Err(AppError::LinkInvalid),
        Err(ResetError::Mismatch) => ResetError::Mismatch.to_string(),
        Err(ResetError::Account(AccountError::WeakPassword(v))) => v.to_string(),
        Err(ResetError::Account(e)) => return Err(e.into()),
    };
    let user = reset::user_for(&state.store, &form.token)
        .await?
        .ok_or(AppError::LinkInvalid)?;
    render_form(&req, &state, StatusCode::BAD_REQUEST, |csrf_token| {
        ConfirmPage {
            csrf_token,
            token: &form.token,
            username: &user.username,
            min_length: state.policy.min_length,
            error: Some(&message),
        }
    })
}
