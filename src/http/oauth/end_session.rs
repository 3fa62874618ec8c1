//! `GET/POST /end_session` (OpenID Connect RP-Initiated Logout 1.0).
//!
//! The browser session ends at once when the `id_token_hint` names this session (its `sid`)
//! or this user; otherwise the user confirms on a page whose button is
//! `<button name="logout" value="yes">`, so that a link from anywhere cannot sign people out.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::http::csrf;
use crate::http::extract::{client_ip, CurrentSession};
use crate::http::middleware::{csp_allowing_form_target, csp_source_for};
use crate::http::pages::{render, render_form, see_other};
use crate::http::{AppError, AppState};
use crate::oauth::claims::subject;
use crate::oauth::logout::{self, LogoutError, LogoutRequest};
use crate::oauth::request::Params;
use crate::sessions::{self, ActiveSession};

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage<'a> {
    csrf_token: String,
    fields: Vec<(&'static str, &'a str)>,
    client_name: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage;

fn hint_matches(req: &LogoutRequest, session: &ActiveSession, salt: &[u8; 32]) -> bool {
    let Some(hint) = &req.hint else {
        return false;
    };
    if let Some(sid) = &hint.sid {
        return *sid == session.sid;
    }
    req.client
        .as_ref()
        .is_some_and(|c| subject(c, &session.user.id, salt) == hint.sub)
}

fn finish(req: &LogoutRequest) -> Result<HttpResponse, AppError> {
    match &req.redirect_uri {
        Some(uri) => {
            let target = match &req.state {
                Some(state) => {
                    let q = serde_urlencoded::to_string([("state", state)]).unwrap_or_default();
                    let sep = if uri.contains('?') { '&' } else { '?' };
                    format!("{uri}{sep}{q}")
                }
                None => uri.clone(),
            };
            Ok(see_other(&target))
        }
        None => render(StatusCode::OK, &LoggedOutPage),
    }
}

/// Ends the browser's session and answers with `finish`, deleting the session cookie.
async fn end_and_finish(
    req: &HttpRequest,
    state: &AppState,
    current: &CurrentSession,
    logout_req: &LogoutRequest,
) -> Result<HttpResponse, AppError> {
    if let Some(token) = &current.cookie_token {
        sessions::end(&state.store, token.expose(), client_ip(req)).await?;
    }
    let mut response = finish(logout_req)?;
    response
        .add_cookie(&state.cookies.removal(state.cookies.session_name()))
        .map_err(AppError::unexpected)?;
    Ok(response)
}

async fn handle(
    req: HttpRequest,
    state: &AppState,
    current: CurrentSession,
    params: Params,
) -> Result<HttpResponse, AppError> {
    let logout_req = match logout::parse(&state.provider, &params).await {
        Ok(r) => r,
        Err(LogoutError::Invalid(message)) => return Err(AppError::BadRequest(message.into())),
        Err(LogoutError::OAuth(e)) => return Err(AppError::BadRequest(e.description().to_owned())),
        Err(LogoutError::Store(e)) => return Err(e.into()),
    };
    let confirmed = match params.get("logout").ok().flatten() {
        Some("yes") => {
            let token = params.get("csrf_token").ok().flatten().unwrap_or_default();
            csrf::verify(&req, state, token)?;
            true
        }
        _ => false,
    };
    let Some(session) = &current.session else {
        // Nobody is signed in here: nothing to end.
        return finish(&logout_req);
    };
    if confirmed || hint_matches(&logout_req, session, &state.provider.pairwise_salt) {
        return end_and_finish(&req, state, &current, &logout_req).await;
    }
    let mut fields: Vec<(&'static str, &str)> = Vec::new();
    for name in [
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
    ] {
        if let Ok(Some(value)) = params.get(name) {
            fields.push((name, value));
        }
    }
    let mut response = render_form(&req, state, StatusCode::OK, |csrf_token| ConfirmPage {
        csrf_token,
        fields,
        client_name: logout_req.client.as_ref().map(|c| c.name.as_str()),
    })?;
    if let Some(uri) = &logout_req.redirect_uri {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            csp_allowing_form_target(&csp_source_for(uri))
                .parse()
                .map_err(AppError::unexpected)?,
        );
    }
    Ok(response)
}

pub async fn get_end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    handle(req, &state, current, Params::new(query.into_inner())).await
}

pub async fn post_end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::BadRequest("The logout request is malformed.".into()))?;
    if current.cookie_token.is_none() {
        // An RP's cross-site POST carries no SameSite=Lax cookie; as a top-level GET the
        // browser sends it, so the session can actually end.
        return Ok(super::authorize::resend_as_get("/end_session", &pairs));
    }
    handle(req, &state, current, Params::new(pairs)).await
}
