//! Password reset pages: `/reset` asks for the account, `/reset/confirm` sets the password.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render_form, see_other};
use crate::accounts::reset::{self, Requested, ResetError};
use crate::accounts::AccountError;
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, CsrfForm};
use crate::http::{AppError, AppState};
use crate::mail::{notices, Mail};

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

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct ResetText<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct ResetHtml<'a> {
    username: &'a str,
    link: &'a str,
    minutes: i64,
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
/// goes out in the background.
pub async fn post_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<RequestForm>,
) -> Result<HttpResponse, AppError> {
    let lifetimes = reset::Lifetimes {
        reset: crate::time::secs(state.settings.reset.token_lifetime_secs),
        confirm: crate::time::secs(state.settings.signup.verification_lifetime_secs),
    };
    let requested = reset::request(
        &state.store,
        &state.limits,
        &form.login,
        lifetimes,
        client_ip(&req),
    )
    .await?;
    let issuer = &state.settings.issuer;
    match requested {
        Some(Requested::Reset(user, token)) => {
            let link = format!("{issuer}/reset/confirm?token={token}");
            let (username, minutes) = (user.username.as_str(), minutes(&state));
            state.mailer.send(Mail {
                to: user.email.clone(),
                subject: "Reset your password".into(),
                text: ResetText {
                    username,
                    link: &link,
                    minutes,
                }
                .render()?,
                html: ResetHtml {
                    username,
                    link: &link,
                    minutes,
                }
                .render()?,
            });
        }
        Some(Requested::Confirm(user, token)) => {
            let link = format!("{issuer}/signup/confirm?token={token}");
            let hours = (lifetimes.confirm + 3599) / 3600;
            state.mailer.send(notices::signup_confirm(
                &user.username,
                &user.email,
                &link,
                hours,
            )?);
        }
        None => {}
    }
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
        form.password,
        form.password_confirm,
        client_ip(&req),
    )
    .await;
    let message = match outcome {
        Ok(user) => {
            let ip = client_ip(&req);
            state.mailer.send(notices::password_changed(
                &state.settings.issuer,
                &user.username,
                &user.email,
                ip.as_deref(),
            )?);
            return Ok(see_other("/login"));
        }
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
