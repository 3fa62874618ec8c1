//! `/account/passkeys`: the signed-in user lists, adds and removes their passkeys.
//!
//! Adding is a WebAuthn ceremony driven by `static/webauthn.js` through two JSON endpoints
//! (CSRF token in `X-CSRF-Token`). Removing needs a fresh proof of identity: the current
//! password, or for an account without one a fresh passkey assertion (a second pair of JSON
//! endpoints), since a session alone may be an unattended browser.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::{render_form, see_other};
use crate::accounts::reauth;
use crate::crypto::SecretString;
use crate::http::error::ApiError;
use crate::http::extract::{client_ip, CsrfForm, CsrfJson, SignedIn};
use crate::http::{AppError, AppState};
use crate::mfa::passkeys::Purpose;
use crate::sessions::ActiveSession;

const PAGE: &str = "/account/passkeys";

struct PasskeyView {
    id: String,
    name: String,
    created: String,
    last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "account_passkeys.html")]
struct PasskeysPage<'a> {
    csrf_token: String,
    username: &'a str,
    passkeys: Vec<PasskeyView>,
    /// Removal asks for the password; without one, for a passkey assertion.
    has_password: bool,
    /// Adding a passkey needs the password: the sign-in is not recent.
    needs_password: bool,
    enabled: bool,
    name_max: usize,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    added: Option<String>,
    #[serde(default)]
    removed: Option<String>,
}

/// A JSON body with nothing we read (begin requests); unknown fields are ignored.
#[derive(Deserialize)]
pub struct EmptyJson {}

#[derive(Deserialize)]
pub struct RegisterBegin {
    /// Needed unless the session signed in within the last five minutes.
    #[serde(default)]
    current_password: Option<SecretString>,
}

#[derive(Deserialize)]
pub struct RegisterFinish {
    ceremony: String,
    #[serde(default)]
    name: String,
    credential: RegisterPublicKeyCredential,
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    current_password: SecretString,
}

#[derive(Deserialize)]
pub struct RemoveFinish {
    ceremony: String,
    id: String,
    credential: PublicKeyCredential,
}

async fn page(
    req: &HttpRequest,
    state: &AppState,
    session: &ActiveSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let passkeys = state
        .passkeys
        .list(&state.store, &session.user.id)
        .await?
        .into_iter()
        .map(|p| PasskeyView {
            created: crate::time::format_utc(p.created_at),
            last_used: p.last_used_at.map(crate::time::format_utc),
            id: p.id,
            name: p.name,
        })
        .collect();
    render_form(req, state, status, |csrf_token| PasskeysPage {
        csrf_token,
        username: &session.user.username,
        passkeys,
        has_password: session.user.password_hash.is_some(),
        needs_password: session.user.password_hash.is_some()
            && !reauth::is_recent(session, crate::time::now()),
        enabled: state.passkeys.is_enabled(),
        name_max: crate::mfa::passkeys::NAME_MAX_CHARS,
        notice,
        error,
    })
}

pub async fn get_passkeys(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = if query.added.is_some() {
        Some("The passkey was added.")
    } else if query.removed.is_some() {
        Some("The passkey was removed.")
    } else {
        None
    };
    page(&req, &state, &session, StatusCode::OK, notice, None).await
}

/// `{"ceremony": "<token>", "options": <CreationChallengeResponse>}`.
pub async fn post_register_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfJson(body): CsrfJson<RegisterBegin>,
) -> Result<HttpResponse, ApiError> {
    // A passkey is a whole sign-in: adding one needs a fresh authentication, so a borrowed
    // or stolen session cannot plant its own.
    let fresh = reauth::confirm_fresh(
        &state.store,
        &state.hasher,
        &state.lockout,
        &session,
        body.current_password,
        super::signin_response::origin(&req, &state),
    )
    .await
    .map_err(AppError::from)?;
    if !fresh {
        return Err(AppError::BadRequest(
            "Confirm with your current password (or, without one, sign in again first).".into(),
        )
        .into());
    }
    let (ceremony, options) = state
        .passkeys
        .begin_registration(&state.store, &session.user, client_ip(&req).as_deref())
        .await
        .map_err(AppError::from)?;
    Ok(HttpResponse::Ok().json(json!({ "ceremony": ceremony, "options": options })))
}

/// `{"id": "<credential id>", "name": "<name>", "redirect": "/account/passkeys?added=1"}`.
pub async fn post_register_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfJson(body): CsrfJson<RegisterFinish>,
) -> Result<HttpResponse, ApiError> {
    let stored = state
        .passkeys
        .finish_registration(
            &state.store,
            &body.ceremony,
            &session.user.id,
            &body.name,
            body.credential,
            client_ip(&req),
        )
        .await
        .map_err(AppError::from)?;
    let user_id = session.user.id.clone();
    let factors = state
        .store
        .run(move |c| crate::mfa::factors(c, &user_id))
        .await
        .map_err(AppError::from)?;
    // The first second factor: the security page offers the recovery codes.
    let redirect = if factors.recovery_issued {
        format!("{PAGE}?added=1")
    } else {
        "/account/security?done=passkey".to_owned()
    };
    Ok(HttpResponse::Ok().json(json!({
        "id": stored.id,
        "name": stored.name,
        "redirect": redirect,
    })))
}

/// Removal confirmed by the current password (accounts that have one).
pub async fn post_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> Result<HttpResponse, AppError> {
    if session.user.password_hash.is_none() {
        let message = "Confirm the removal with one of your passkeys.";
        return page(
            &req,
            &state,
            &session,
            StatusCode::BAD_REQUEST,
            None,
            Some(message),
        )
        .await;
    }
    let confirmed = reauth::confirm_password(
        &state.store,
        &state.hasher,
        &state.lockout,
        &session.user,
        form.current_password,
        super::signin_response::origin(&req, &state),
    )
    .await?;
    if !confirmed {
        let message = "The password is not correct. Nothing was removed.";
        return page(
            &req,
            &state,
            &session,
            StatusCode::UNAUTHORIZED,
            None,
            Some(message),
        )
        .await;
    }
    remove(&req, &state, &session, &form.id).await
}

async fn remove(
    req: &HttpRequest,
    state: &AppState,
    session: &ActiveSession,
    id: &str,
) -> Result<HttpResponse, AppError> {
    let removed = state
        .passkeys
        .remove(&state.store, &session.user.id, id, client_ip(req))
        .await?;
    if !removed {
        let message = "That passkey is not registered to your account.";
        return page(
            req,
            state,
            session,
            StatusCode::NOT_FOUND,
            None,
            Some(message),
        )
        .await;
    }
    Ok(see_other(&format!("{PAGE}?removed=1")))
}

/// For accounts without a password: a passkey assertion stands in for it.
/// `{"ceremony": "<token>", "options": <RequestChallengeResponse>}`.
pub async fn post_remove_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    _: CsrfJson<EmptyJson>,
) -> Result<HttpResponse, ApiError> {
    let (ceremony, options) = state
        .passkeys
        .begin_authentication(
            &state.store,
            &session.user.id,
            Purpose::Reauthentication,
            client_ip(&req).as_deref(),
        )
        .await
        .map_err(AppError::from)?;
    Ok(HttpResponse::Ok().json(json!({ "ceremony": ceremony, "options": options })))
}

/// `{"redirect": "/account/passkeys?removed=1"}` once the assertion checks out.
pub async fn post_remove_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfJson(body): CsrfJson<RemoveFinish>,
) -> Result<HttpResponse, ApiError> {
    let proof = state
        .passkeys
        .finish_authentication(
            &state.store,
            &body.ceremony,
            Purpose::Reauthentication,
            body.credential,
            client_ip(&req),
        )
        .await
        .map_err(AppError::from)?;
    if proof.user_id != session.user.id {
        return Err(AppError::BadRequest("That passkey belongs to another account.".into()).into());
    }
    let removed = state
        .passkeys
        .remove(&state.store, &session.user.id, &body.id, client_ip(&req))
        .await
        .map_err(AppError::from)?;
    if !removed {
        return Err(AppError::NotFound.into());
    }
    Ok(HttpResponse::Ok().json(json!({ "redirect": format!("{PAGE}?removed=1") })))
}
