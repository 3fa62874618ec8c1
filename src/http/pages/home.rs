//! The landing page for a signed-in user.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{render, see_other};
use crate::http::extract::CurrentSession;
use crate::http::{csrf, AppError, AppState};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    username: &'a str,
    display_name: Option<&'a str>,
    csrf_token: &'a str,
}

pub async fn get_home(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
) -> Result<HttpResponse, AppError> {
    let Some(session) = current.session else {
        return Ok(see_other("/login"));
    };
    let (csrf_token, cookie) = csrf::token_for(&req, &state);
    let mut response = render(
        StatusCode::OK,
        &HomePage {
            username: &session.user.username,
            display_name: session.user.display_name.as_deref(),
            csrf_token: &csrf_token,
        },
    )?;
    if let Some(cookie) = cookie {
        response.add_cookie(&cookie).map_err(AppError::unexpected)?;
    }
    Ok(response)
}
