//! The consent page: `GET /consent?request=ID` shows what the application asks for;
//! `POST /consent` with `decision=allow` or `deny` answers (OIDC Core §3.1.2.4).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::authorize::{issue, load_pending, second_step};
use super::response::error_to_client;
use crate::http::extract::{CsrfForm, CurrentSession};
use crate::http::middleware::{csp_allowing_form_target, csp_source_for};
use crate::http::pages::{render_form, see_other};
use crate::http::{AppError, AppState};
use crate::oauth::authorize as flow;
use crate::oauth::claims::{consent_claims, scopes_for_consent};
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
    scopes: Vec<ScopeLine>,
}

/// One thing the application asks for: the scope, in words, and the claims it would see.
struct ScopeLine {
    name: String,
    words: String,
    claims: String,
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
/// `Err` holds where to send the browser instead: the sign-in page, or the second step.
async fn signed_in_enough(
    state: &AppState,
    current: CurrentSession,
    pending: &AuthorizationRequest,
    client: &Client,
    request: &str,
) -> Result<Result<ActiveSession, HttpResponse>, AppError> {
    // `load_pending` found the request, so `request` is a well-formed token (URL-safe).
    let id = request;
    let session = match current.session {
        Some(s) if flow::login_satisfied(pending, Some(&s), crate::time::now()) => s,
        _ => return Ok(Err(see_other(&format!("/login?request={id}")))),
    };
    let second = second_step(state, &session.user.id, client, pending).await?;
    if second != crate::mfa::SecondStep::None && !crate::mfa::has_mfa(&session.amr) {
        return Ok(Err(see_other(&format!("/login/mfa/start?request={id}"))));
    }
    Ok(Ok(session))
}

pub async fn get_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentSession,
    query: web::Query<ConsentQuery>,
) -> Result<HttpResponse, AppError> {
    let (pending, _, client) = load_pending(&state, &query.request).await?;
    let session = match signed_in_enough(&state, current, &pending, &client, &query.request).await?
    {
        Ok(session) => session,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let scopes = scopes_for_consent(&pending.scopes, pending.claims.as_ref())
        .into_iter()
        .map(|s| ScopeLine {
            words: scope::describe(&s).to_owned(),
            claims: consent_claims(&s),
            name: s,
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
    let session = match signed_in_enough(&state, current, &pending, &client, &form.request).await? {
        Ok(session) => session,
        Err(elsewhere) => return Ok(elsewhere),
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
