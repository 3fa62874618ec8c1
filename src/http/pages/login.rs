//! Password sign-in and sign-out.
//!
//! An unknown user, a wrong password and a disabled account get the same page with the
//! same status (and, through the dummy hash, the same timing). A successful sign-in always
//! issues a new session token and a new CSRF token.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{render_form, safe_return_to, see_other};
use crate::accounts::{self, AccountError};
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, user_agent, CsrfForm, CurrentSession};
use crate::http::{csrf, AppError, AppState};
use crate::sessions::{self, NewSession};

pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf_token: String,
    username: &'a str,
    return_to: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: SecretString,
    #[serde(default)]
    return_to: String,
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
    if current.session.is_some() {
        return Ok(see_other(&return_to));
    }
    render_form(&req, &state, StatusCode::OK, |csrf_token| LoginPage {
        csrf_token,
        username: "",
        return_to: &return_to,
        error: None,
    })
}

pub async fn post_login(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let return_to = safe_return_to(Some(&form.return_to));
    let ip = client_ip(&req);
    let outcome = accounts::authenticate(
        &state.store,
        &state.hasher,
        &form.username,
        form.password,
        ip.clone(),
    )
    .await;
    match outcome {
        Ok(user) => sign_in(&req, &state, user.id, current.cookie_token, &return_to).await,
        Err(AccountError::InvalidCredentials) => {
            let username: String = form.username.chars().take(254).collect();
            render_form(&req, &state, StatusCode::UNAUTHORIZED, |csrf_token| {
                LoginPage {
                    csrf_token,
                    username: &username,
                    return_to: &return_to,
                    error: Some(INVALID_CREDENTIALS),
                }
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts a session for `user_id` (ending the browser's previous one), sets the session
/// cookie and a fresh CSRF cookie, and redirects to `location`.
pub(super) async fn sign_in(
    req: &HttpRequest,
    state: &AppState,
    user_id: String,
    replaces: Option<SecretString>,
    location: &str,
) -> Result<HttpResponse, AppError> {
    let (token, _) = sessions::start(
        &state.store,
        state.sessions,
        NewSession {
            user_id,
            amr: vec!["pwd".into()],
            ip: client_ip(req),
            user_agent: user_agent(req),
            replaces,
        },
    )
    .await?;
    let (_, csrf_cookie) = csrf::rotate(state);
    let mut response = see_other(location);
    response
        .add_cookie(&state.cookies.session(token.expose()))
        .map_err(AppError::unexpected)?;
    response
        .add_cookie(&csrf_cookie)
        .map_err(AppError::unexpected)?;
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
