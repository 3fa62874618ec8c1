//! The one-time setup page that creates the first administrator.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::signin_response as respond;
use super::{render_form, see_other};
use crate::accounts::setup::{self, SetupError};
use crate::accounts::{AccountError, NewUser};
use crate::crypto::SecretString;
use crate::http::extract::{CsrfForm, CurrentSession};
use crate::http::{AppError, AppState};
use crate::signin::{self, SignInError};

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    csrf_token: String,
    token: &'a str,
    username: &'a str,
    email: &'a str,
    display_name: &'a str,
    min_length: usize,
    max_length: usize,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
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

pub async fn get_setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<SetupQuery>,
) -> Result<HttpResponse, AppError> {
    if !setup::is_valid(&state.store, &query.token).await? {
        return Err(AppError::LinkInvalid);
    }
    render_form(&req, &state, StatusCode::OK, |csrf_token| SetupPage {
        csrf_token,
        token: &query.token,
        username: "",
        email: "",
        display_name: "",
        min_length: state.policy.min_length,
        max_length: state.policy.max_length,
        error: None,
    })
}

pub async fn post_setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfForm(form): CsrfForm<SetupForm>,
) -> Result<HttpResponse, AppError> {
    let rerender = |message: &str| {
        render_form(&req, &state, StatusCode::BAD_REQUEST, |csrf_token| {
            SetupPage {
                csrf_token,
                token: &form.token,
                username: &form.username,
                email: &form.email,
                display_name: &form.display_name,
                min_length: state.policy.min_length,
                max_length: state.policy.max_length,
                error: Some(message),
            }
        })
    };
    if form.password != form.password_confirm {
        return rerender("The two passwords do not match.");
    }
    let new = NewUser {
        username: form.username.clone(),
        email: form.email.clone(),
        display_name: Some(form.display_name.clone()),
        password: Some(form.password.clone()),
        admin: true,
    };
    let browser = respond::browser(&req, &state, current);
    let outcome = signin::setup::first_administrator(
        state.signin(),
        &browser,
        &state.policy,
        &form.token,
        new,
    )
    .await;
    match outcome {
        Ok(done) => respond::signed_in(&state, &done, see_other("/")),
        Err(SignInError::Setup(SetupError::Account(
            e @ (AccountError::InvalidUsername(_)
            | AccountError::InvalidEmail
            | AccountError::InvalidDisplayName(_)
            | AccountError::WeakPassword(_)
            | AccountError::UsernameTaken
            | AccountError::EmailTaken),
        ))) => rerender(&e.to_string()),
        Err(e) => Err(e.into()),
    }
}
