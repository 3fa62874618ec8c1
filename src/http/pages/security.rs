//! `/account/security`: the signed-in user's second factors (authenticator app, recovery
//! codes; passkeys have their own page). Removing a factor or replacing the recovery codes
//! needs the current password (a fresh authentication), and every change is announced by
//! email.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::signin_response::{grouped, show_recovery_codes, EnrollPage, INVALID_CODE};
use super::{render_form, see_other};
use crate::accounts::reauth;
use crate::accounts::self_service::ChangeError;
use crate::crypto::SecretString;
use crate::http::extract::{client_ip, CsrfForm, SignedIn};
use crate::http::{AppError, AppState};
use crate::mfa::{self, manage, MfaError};
use crate::sessions::ActiveSession;

#[derive(Template)]
#[template(path = "account_security.html")]
struct SecurityPage<'a> {
    csrf_token: String,
    username: &'a str,
    totp: bool,
    passkeys: i64,
    recovery_codes: i64,
    has_factor: bool,
    /// Adding a factor needs the password: the sign-in is not recent.
    needs_password: bool,
    /// A second factor but never any recovery codes (first factor was a passkey).
    recovery_due: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct SecurityQuery {
    #[serde(default)]
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordConfirmForm {
    #[serde(default)]
    current_password: SecretString,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: SecretString,
}

#[derive(Deserialize)]
pub struct EmptyForm {}

const SELF: &str = "/account/security";

async fn page(
    req: &HttpRequest,
    state: &AppState,
    session: &ActiveSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let user_id = session.user.id.clone();
    let f = state.store.run(move |c| mfa::factors(c, &user_id)).await?;
    render_form(req, state, status, |csrf_token| SecurityPage {
        csrf_token,
        username: &session.user.username,
        totp: f.totp,
        passkeys: f.passkeys,
        recovery_codes: f.recovery_codes,
        has_factor: f.any(),
        needs_password: session.user.password_hash.is_some()
            && !reauth::is_recent(session, crate::time::now()),
        recovery_due: f.any() && !f.recovery_issued,
        notice,
        error,
    })
}

fn notice_for(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "totp" => Some("Your authenticator app is set up."),
        "totp-removed" => Some("Your authenticator app was removed."),
        "passkey" => {
            Some("Your passkey is set up. Get your recovery codes now, in case you lose it.")
        }
        _ => None,
    }
}

pub async fn get_security(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    query: web::Query<SecurityQuery>,
) -> Result<HttpResponse, AppError> {
    let notice = notice_for(query.done.as_deref());
    page(&req, &state, &session, StatusCode::OK, notice, None).await
}

pub async fn post_totp_begin(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<PasswordConfirmForm>,
) -> Result<HttpResponse, AppError> {
    if let Err(page) = reauthenticate(&req, &state, &session, form.current_password, true).await? {
        return Ok(page);
    }
    enroll_page(&req, &state, &session, StatusCode::OK, None).await
}

async fn enroll_page(
    req: &HttpRequest,
    state: &AppState,
    session: &ActiveSession,
    status: StatusCode,
    error: Option<&str>,
) -> Result<HttpResponse, AppError> {
    match manage::begin_totp(&state.store, &state.mfa, &session.user, &session.id_hash).await {
        Ok(e) => render_form(req, state, status, |csrf_token| EnrollPage {
            csrf_token,
            action: "/account/totp/confirm",
            required: false,
            qr_svg: &e.qr_svg,
            secret: grouped(&e.secret_base32),
            error,
        }),
        Err(e @ MfaError::AlreadyEnrolled) => {
            page(
                req,
                state,
                session,
                StatusCode::CONFLICT,
                None,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn post_totp_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let outcome = manage::confirm_totp(
        &state.store,
        &state.mfa,
        &session.user.id,
        &session.id_hash,
        form.code.expose().to_owned(),
        &state.settings.issuer,
        client_ip(&req),
    )
    .await;
    match outcome {
        Ok(Some(codes)) => show_recovery_codes(&codes, "/account/security?done=totp"),
        Ok(None) => Ok(see_other("/account/security?done=totp")),
        Err(MfaError::InvalidCode) => {
            enroll_page(
                &req,
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                Some(INVALID_CODE),
            )
            .await
        }
        Err(e @ MfaError::NotEnrolling) => {
            page(
                &req,
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Asked of an account without a password whose sign-in is not recent.
const SIGN_IN_AGAIN: &str = "Your account has no password. Sign out, sign in again with your \
     passkey, then do this within five minutes.";

/// The fresh authentication a change of second factors needs; `Err` holds the page to
/// answer with. The current password always works (and counts like a sign-in when wrong);
/// a sign-in within the last five minutes is enough to add a factor (`allow_recent`), and
/// is the only way for an account without a password.
async fn reauthenticate(
    req: &HttpRequest,
    state: &AppState,
    session: &ActiveSession,
    password: SecretString,
    allow_recent: bool,
) -> Result<Result<(), HttpResponse>, AppError> {
    let recent = reauth::is_recent(session, crate::time::now());
    let message = if session.user.password_hash.is_none() {
        if recent {
            return Ok(Ok(()));
        }
        SIGN_IN_AGAIN.to_owned()
    } else {
        let confirmed = (allow_recent && recent)
            || reauth::confirm_password(
                &state.store,
                &state.hasher,
                &state.lockout,
                &session.user,
                password,
                super::signin_response::origin(req, state),
            )
            .await?;
        if confirmed {
            return Ok(Ok(()));
        }
        ChangeError::WrongCurrent.to_string()
    };
    let status = StatusCode::UNAUTHORIZED;
    Ok(Err(
        page(req, state, session, status, None, Some(&message)).await?
    ))
}

pub async fn post_totp_remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<PasswordConfirmForm>,
) -> Result<HttpResponse, AppError> {
    if let Err(page) = reauthenticate(&req, &state, &session, form.current_password, false).await? {
        return Ok(page);
    }
    let issuer = &state.settings.issuer;
    manage::remove_totp(&state.store, &session.user.id, issuer, client_ip(&req)).await?;
    Ok(see_other(&format!("{SELF}?done=totp-removed")))
}

/// The first recovery codes after a passkey became the first second factor.
pub async fn post_first_recovery(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    _form: CsrfForm<EmptyForm>,
) -> Result<HttpResponse, AppError> {
    match manage::first_recovery_codes(&state.store, &session.user.id, client_ip(&req)).await {
        Ok(codes) => show_recovery_codes(&codes, SELF),
        Err(e @ (MfaError::NoSecondFactor | MfaError::RecoveryCodesIssued)) => {
            page(
                &req,
                &state,
                &session,
                StatusCode::CONFLICT,
                None,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn post_recovery(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    CsrfForm(form): CsrfForm<PasswordConfirmForm>,
) -> Result<HttpResponse, AppError> {
    if let Err(page) = reauthenticate(&req, &state, &session, form.current_password, false).await? {
        return Ok(page);
    }
    let issuer = &state.settings.issuer;
    match manage::regenerate_recovery(&state.store, &session.user.id, issuer, client_ip(&req)).await
    {
        Ok(codes) => show_recovery_codes(&codes, SELF),
        Err(e @ MfaError::NoSecondFactor) => {
            page(
                &req,
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                None,
                Some(&e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
