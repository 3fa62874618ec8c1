//! Self-registration pages: `/signup` and the confirmation link `/signup/confirm`, whose
//! GET (and HEAD) only shows a button; the POST behind it uses the single-use token, so a
//! mail scanner following the link confirms nothing and spends nothing.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render, render_form};
use crate::accounts::signup;
use crate::accounts::{AccountError, NewUser};
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, CsrfForm};
use crate::http::{AppError, AppState};

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    csrf_token: String,
    sent: bool,
    hours: i64,
    username: &'a str,
    email: &'a str,
    display_name: &'a str,
    min_length: usize,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signup_confirm.html")]
struct ConfirmPage<'a> {
    csrf_token: String,
    token: &'a str,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "signup_confirmed.html")]
struct ConfirmedPage<'a> {
    username: &'a str,
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: SecretString,
    #[serde(default)]
    password_confirm: SecretString,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn enabled(state: &AppState) -> Result<(), AppError> {
    if state.settings.signup.enabled {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

fn hours(state: &AppState) -> i64 {
    (crate::time::secs(state.settings.signup.verification_lifetime_secs) + 3599) / 3600
}

pub async fn get_signup(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    enabled(&state)?;
    render_form(&req, &state, StatusCode::OK, |csrf_token| SignupPage {
        csrf_token,
        sent: false,
        hours: hours(&state),
        username: "",
        email: "",
        display_name: "",
        min_length: state.policy.min_length,
        error: None,
    })
}

pub async fn post_signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<SignupForm>,
) -> Result<HttpResponse, AppError> {
    enabled(&state)?;
    let rerender = |status: StatusCode, error: Option<&str>, sent: bool| {
        render_form(&req, &state, status, |csrf_token| SignupPage {
            csrf_token,
            sent,
            hours: hours(&state),
            username: &form.username,
            email: &form.email,
            display_name: &form.display_name,
            min_length: state.policy.min_length,
            error,
        })
    };
    if form.password != form.password_confirm {
        return rerender(
            StatusCode::BAD_REQUEST,
            Some("The two passwords do not match."),
            false,
        );
    }
    let new = NewUser {
        username: form.username.clone(),
        email: form.email.clone(),
        display_name: Some(form.display_name.clone()),
        password: Some(form.password.clone()),
        admin: false,
    };
    let lifetime = crate::time::secs(state.settings.signup.verification_lifetime_secs);
    let outcome = signup::sign_up(
        &state.store,
        &state.hasher,
        &state.policy,
        &state.limits,
        new,
        signup::ConfirmLink {
            issuer: &state.settings.issuer,
            lifetime_secs: lifetime,
        },
        client_ip(&req),
    )
    .await;
    match outcome {
        Ok(()) => {}
        Err(
            e @ (AccountError::InvalidUsername(_)
            | AccountError::InvalidEmail
            | AccountError::InvalidDisplayName(_)
            | AccountError::WeakPassword(_)),
        ) => return rerender(StatusCode::BAD_REQUEST, Some(&e.to_string()), false),
        // Two sign-ups racing for one address: answer as for a taken address.
        Err(AccountError::EmailTaken) => {}
        Err(e) => return Err(e.into()),
    }
    rerender(StatusCode::OK, None, true)
}

pub async fn get_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    enabled(&state)?;
    let user = signup::pending(&state.store, &query.token)
        .await?
        .ok_or(AppError::LinkInvalid)?;
    render_form(&req, &state, StatusCode::OK, |csrf_token| ConfirmPage {
        csrf_token,
        token: &query.token,
        username: &user.username,
    })
}

pub async fn post_confirm(
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    enabled(&state)?;
    let user = signup::confirm(&state.store, &form.token)
        .await?
        .ok_or(AppError::LinkInvalid)?;
    render(
        StatusCode::OK,
        &ConfirmedPage {
            username: &user.username,
        },
    )
}
