//! The consent page: `GET /consent?request=ID` shows what the application asks for;
//! `POST /consent` with `decision=allow` or `deny` answers (OIDC Core §3.1.2.4).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::authorize::{issue, load_pending, mfa_needed};
use super::response::error_to_client;
use crate::http::extract::{CsrfForm, CurrentSession};
use crate::http::middleware::{csp_allowing_form_target, csp_source_for};
use crate::http::pages::{render_form, see_other};
use crate::http::{AppError, AppState};
use crate::oauth::authorize as flow;
use crate::oauth::claims::scopes_for_consent;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::request::AuthorizationRequest;
use crate::oauth::scope;
use crate::sessions::ActiveSession;
use crate::store::clients::Client;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    csrf_token: String,
    request: &'a str,
    client_name: &'a str,
    username: &'a str,
    scopes: Vec<(String, String)>,
}

#[derive(Deserialize)]
pub struct ConsentQuery {
    #[serde(default)]
    request: String,
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// The session, if it satisfies the request's `prompt=login` / `max_age` and has the second
/// factor the request needs: the consent page must not become a way around a demanded
/// fresh sign-in or step-up.
async fn signed_in_enough(
    state: &AppState,
    current: CurrentSession,
    pending: &AuthorizationRequest,
    client: &Client,
) -> Result<Option<ActiveSession>, AppError> {
    let Some(session) = current.session else {
        return Ok(None);
    };
    if !flow::login_satisfied(pending, Some(&session), crate::time::now()) {
        return Ok(None);
    }
    let needs_mfa = mfa_needed(state, &session.user.id, client, pending).await?;
    Ok((!needs_mfa || crate::mfa::has_mfa(&session.amr)).then_some(session))
}

/// Back through the authorization endpoint, which sends the browser to whatever sign-in
/// step is missing.
fn resume(request: &str) -> HttpResponse {
    see_other(&format!(
        "/authorize/continue?request={}",
        percent_encoding::utf8_percent_encode(request, percent_encoding::NON_ALPHANUMERIC)
    ))
}

pub async fn get_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<ConsentQuery>,
) -> Result<HttpResponse, AppError> {
    let (pending, _, client) = load_pending(&state, &query.request).await?;
    let Some(session) = signed_in_enough(&state, current, &pending, &client).await? else {
        return Ok(resume(&query.request));
    };
    let scopes = scopes_for_consent(&pending.scopes, pending.claims.as_ref())
        .into_iter()
        .map(|s| {
            let words = scope::describe(&s).to_owned();
            (s, words)
        })
        .collect();
    let mut response = render_form(&req, &state, StatusCode::OK, |csrf_token| ConsentPage {
        csrf_token,
        request: &query.request,
        client_name: &client.name,
        username: &session.user.username,
        scopes,
    })?;
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        csp_allowing_form_target(&csp_source_for(&pending.target.redirect_uri))
            .parse()
            .map_err(AppError::unexpected)?,
    );
    Ok(response)
}

pub async fn post_consent(
    state: web::Data<AppState>,
    current: CurrentSession,
    CsrfForm(form): CsrfForm<ConsentForm>,
) -> Result<HttpResponse, AppError> {
    let (pending, _, client) = load_pending(&state, &form.request).await?;
    let Some(session) = signed_in_enough(&state, current, &pending, &client).await? else {
        return Ok(resume(&form.request));
    };
    match form.decision.as_str() {
        "allow" => issue(&state, &pending, &session, Some(&form.request), true).await,
        "deny" => {
            flow::discard_pending(&state.store, &form.request).await?;
            let error = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
            Ok(error_to_client(
                &pending.target,
                &state.provider.issuer,
                &error,
            ))
        }
        _ => Err(AppError::BadRequest("Choose Allow or Deny.".into())),
    }
}
