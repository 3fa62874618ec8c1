//! `/account/email/confirm`: the link mailed to a new address. The GET only shows what the
//! link would do, with a button; the POST uses it, so mail scanners that follow links do
//! not spend it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render, render_form};
use crate::accounts::email_change::{self, ConfirmError};
use crate::http::extract::{client_ip, CsrfForm};
use crate::http::{AppError, AppState};

#[derive(Template)]
#[template(path = "email_change_confirm.html")]
struct ConfirmPage<'a> {
    csrf_token: String,
    token: &'a str,
    username: &'a str,
    new_email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "email_changed.html")]
struct ChangedPage<'a> {
    email: &'a str,
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
}

pub async fn get_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, AppError> {
    let pending = email_change::pending(&state.store, &query.token)
        .await?
        .ok_or(AppError::LinkInvalid)?;
    render_form(&req, &state, StatusCode::OK, |csrf_token| ConfirmPage {
        csrf_token,
        token: &query.token,
        username: &pending.user.username,
        new_email: &pending.new_email,
        error: None,
    })
}

pub async fn post_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    match email_change::confirm(&state.store, &form.token, client_ip(&req)).await {
        Ok(changed) => render(
            StatusCode::OK,
            &ChangedPage {
                email: &changed.user.email,
            },
        ),
        Err(ConfirmError::InvalidToken) => Err(AppError::LinkInvalid),
        Err(e @ ConfirmError::AddressTaken) => {
            // Nothing changed, the link included; show what it was for.
            let pending = email_change::pending(&state.store, &form.token)
                .await?
                .ok_or(AppError::LinkInvalid)?;
            let message = e.to_string();
            render_form(&req, &state, StatusCode::CONFLICT, |csrf_token| {
                ConfirmPage {
                    csrf_token,
                    token: &form.token,
                    username: &pending.user.username,
                    new_email: &pending.new_email,
                    error: Some(&message),
                }
            })
        }
        Err(ConfirmError::Store(e)) => Err(e.into()),
    }
}
