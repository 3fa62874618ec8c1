//! The landing page for a signed-in user.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::{render_form, see_other};
use crate::http::extract::CurrentSession;
use crate::http::{AppError, AppState};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    username: &'a str,
    display_name: Option<&'a str>,
    csrf_token: String,
}

pub async fn get_home(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
) -> Result<HttpResponse, AppError> {
    let Some(session) = current.session else {
        return Ok(see_other("/login"));
    };
    render_form(&req, &state, StatusCode::OK, |csrf_token| HomePage {
        username: &session.user.username,
        display_name: session.user.display_name.as_deref(),
        csrf_token,
    })
}
