//! The one place where errors become HTTP responses, in three renderings:
//! - HTML pages for browsers ([`AppError`] as a `ResponseError`);
//! - RFC 9457 `application/problem+json` for the API ([`ApiError`]): `type`, `title`,
//!   `status`, `detail`, a stable `code` (see [`AppError::code`]) and, on a 500, `error_id`;
//! - RFC 6749 §5.2 / RFC 6750 §3 JSON for the OAuth endpoints ([`oauth`]).
//!
//! Invariants: no rendering ever carries internal detail. An unexpected failure is logged
//! with its cause chain by [`ErrorId::log`], the only maker of error ids, and the id it
//! returns is the only thing about it a client sees, so the reference a person quotes is
//! always in the log. A database outage (`StoreError::Unavailable`) is 503 with
//! `Retry-After`, logged once with its cause, in every rendering.

pub mod oauth;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::accounts::setup::SetupError;
use crate::accounts::AccountError;
use crate::mfa::passkeys::PasskeyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No signed-in session where one is needed (API-style routes; pages redirect instead).
    #[error("not signed in")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    /// The path exists but not for this method; holds the `Allow` value (RFC 9110 §15.5.6).
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// A one-time link (setup, later reset or verification) that cannot be used.
    #[error("link invalid or used")]
    LinkInvalid,
    #[error("request body too large")]
    PayloadTooLarge,
    /// The client did not finish sending its request within `server.request_timeout_secs`.
    #[error("request timed out")]
    RequestTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The client's address is over its failure budget (brute-force protection).
    #[error("too many requests")]
    TooManyRequests,
    /// The database cannot serve now; the payload is the cause, for the log only.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Too many connections are open (the connection caps); nothing is wrong with the
    /// database, so nothing is logged as an outage.
    #[error("too many connections")]
    Overloaded,
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

/// The reference of one unexpected failure: shown to the client (page, problem document,
/// OAuth `error_description`) and logged with the failure's cause chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorId(String);

impl ErrorId {
    /// Logs `error` and its causes at error level under a fresh random id, inside the
    /// request's span (which names the method and path), and returns the id. Ids are
    /// made nowhere else, so every id a client sees has its log line.
    pub fn log(error: &(dyn std::error::Error + 'static)) -> ErrorId {
        let id = ErrorId(crate::crypto::random::identifier());
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error_id = %id, error = chain, "unexpected error");
        id
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ErrorId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AppError {
    pub fn unexpected(e: impl Into<anyhow::Error>) -> Self {
        AppError::Unexpected(e.into())
    }

    /// The stable, machine-readable name of the error (the problem document's `code`):
    /// API clients branch on it; titles and details may be reworded, codes may not.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::LinkInvalid => "link_invalid",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::RequestTimeout => "request_timeout",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::TooManyRequests => "too_many_requests",
            AppError::Unavailable(_) => "unavailable",
            AppError::Overloaded => "overloaded",
            AppError::Unexpected(_) => "internal_error",
        }
    }

    /// Title and explanation shown to a person (or put in a problem document).
    fn public_text(&self) -> (&'static str, String) {
        match self {
            AppError::BadRequest(m) => ("Bad request", m.clone()),
            AppError::Unauthorized => ("Sign in first", "Sign in, then try again.".into()),
            AppError::Forbidden(_) => (
                "Request refused",
                "The form was stale or did not come from this site. Go back, reload the page and try again.".into(),
            ),
            AppError::NotFound => ("Not found", "There is nothing at this address.".into()),
            AppError::MethodNotAllowed(allow) => (
                "Method not allowed",
                format!("This address does not accept this request method. It accepts: {allow}."),
            ),
            AppError::TooManyRequests => (
                "Too many attempts",
                "Too many failed attempts from your network. Wait a few minutes and try again.".into(),
            ),
            AppError::LinkInvalid => (
                "Link not valid",
                "This link is invalid, has expired or has already been used.".into(),
            ),
            AppError::PayloadTooLarge => ("Request too large", "The request body is too large.".into()),
            AppError::RequestTimeout => (
                "Request timed out",
                "The request took too long to arrive. Try again.".into(),
            ),
            AppError::UnsupportedMediaType => (
                "Unsupported media type",
                "The request body has a type or encoding this endpoint does not accept.".into(),
            ),
            AppError::Unavailable(_) | AppError::Overloaded => (
                "Temporarily unavailable",
                "The service is temporarily unavailable. Try again shortly.".into(),
            ),
            AppError::Unexpected(_) => (
                "Something went wrong",
                "An unexpected error occurred. It has been logged.".into(),
            ),
        }
    }

    /// The response as a page for browsers (`Accept` names `text/html`) or a problem
    /// document for everyone else: for answers no handler chose a style for (unknown
    /// methods; `startup::not_found` decides the same way for unknown paths).
    pub fn negotiated_response(&self, req: &actix_web::HttpRequest) -> HttpResponse {
        if wants_html(req) {
            self.error_response()
        } else {
            problem_response(self)
        }
    }

    /// Headers the status itself calls for, on pages and problem documents alike.
    fn add_headers(&self, response: &mut actix_web::HttpResponseBuilder) {
        match self {
            AppError::MethodNotAllowed(allow) => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            AppError::Unavailable(_) | AppError::Overloaded => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            _ => {}
        }
    }

    /// Logs the error as its kind deserves; for an unexpected one, returns the id to show.
    fn log(&self) -> Option<ErrorId> {
        match self {
            AppError::Unexpected(e) => Some(ErrorId::log(e.as_ref())),
            AppError::Forbidden(reason) => {
                tracing::warn!(reason, "request refused");
                None
            }
            // Inside the request's span, which names the endpoint.
            AppError::Unavailable(cause) => {
                tracing::warn!(cause, "database unavailable");
                None
            }
            _ => None,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    error_id: Option<&'a str>,
}

/// Seconds a client is asked to wait after a 503 (`Retry-After`): about one round of the
/// readiness probe at its default interval.
pub const RETRY_AFTER_SECS: u32 = 5;

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound | AppError::LinkInvalid => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unavailable(_) | AppError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            AppError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let error_id = self.log();
        let (title, message) = self.public_text();
        let page = ErrorPage {
            title,
            message: &message,
            error_id: error_id.as_ref().map(ErrorId::as_str),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("<!doctype html><title>{title}</title><p>{title}</p>"));
        let mut response = HttpResponse::build(self.status_code());
        self.add_headers(&mut response);
        response
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .body(body)
    }
}

/// The same errors, rendered as `application/problem+json` (RFC 9457) for API routes.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub AppError);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        problem_response(&self.0)
    }
}

/// Whether an error should be an HTML page: browsers send `Accept: text/html` on navigations
/// and form posts; everyone else gets a problem document.
pub fn wants_html(req: &actix_web::HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn problem_response(error: &AppError) -> HttpResponse {
    let error_id = error.log();
    let (title, detail) = error.public_text();
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": error.status_code().as_u16(),
        "detail": detail,
        "code": error.code(),
    });
    if let Some(id) = error_id {
        body["error_id"] = id.as_str().into();
    }
    let mut response = HttpResponse::build(error.status_code());
    error.add_headers(&mut response);
    response
        .content_type("application/problem+json")
        .body(body.to_string())
}

/// An outage is 503 (logged when the response is built, once); anything else is a bug.
impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            AppError::Unavailable(e.to_string())
        } else {
            AppError::unexpected(e)
        }
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(s) => s.into(),
            AccountError::Password(p) => AppError::unexpected(p),
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

impl From<crate::mfa::MfaError> for AppError {
    fn from(e: crate::mfa::MfaError) -> Self {
        use crate::mfa::MfaError;
        match e {
            MfaError::Store(s) => s.into(),
            MfaError::Unexpected(m) => AppError::unexpected(anyhow::anyhow!(m)),
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

impl From<SetupError> for AppError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::InvalidToken => AppError::LinkInvalid,
            SetupError::Account(a) => a.into(),
        }
    }
}

/// A failed ceremony is the client's (or its authenticator's) doing: 400 with the domain's
/// message, never a 500. Only our own failures become unexpected errors.
impl From<PasskeyError> for AppError {
    fn from(e: PasskeyError) -> Self {
        match e {
            PasskeyError::Store(s) => s.into(),
            PasskeyError::TooManyStarts => AppError::TooManyRequests,
            e @ (PasskeyError::Webauthn(_) | PasskeyError::State(_)) => AppError::unexpected(e),
            PasskeyError::Rejected(reason) => {
                tracing::info!(%reason, "passkey ceremony refused");
                AppError::BadRequest(PasskeyError::Rejected(reason).to_string())
            }
            other => AppError::BadRequest(other.to_string()),
        }
    }
}

impl From<crate::signin::SignInError> for AppError {
    fn from(e: crate::signin::SignInError) -> Self {
        use crate::signin::SignInError;
        match e {
            SignInError::NoChallenge => AppError::Unauthorized,
            SignInError::Account(e) => e.into(),
            SignInError::Mfa(e) => e.into(),
            SignInError::Passkey(e) => e.into(),
            SignInError::Setup(e) => e.into(),
            SignInError::Store(e) => e.into(),
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::unexpected(e)
    }
}

/// Maps actix's extractor errors (query strings, forms, bodies) onto ours.
pub fn from_payload_error(e: &actix_web::error::PayloadError) -> AppError {
    use actix_web::error::PayloadError;
    match e {
        PayloadError::Overflow => AppError::PayloadTooLarge,
        PayloadError::EncodingCorrupted => AppError::UnsupportedMediaType,
        _ => AppError::BadRequest("The request body could not be read.".into()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    fn body_of(response: HttpResponse) -> String {
        let bytes = response.into_body().try_into_bytes().unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn an_unexpected_error_shows_only_an_opaque_reference() {
        let err = AppError::unexpected(anyhow::anyhow!("connection to db-7.internal:5432 refused"));
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response);
        assert!(body.contains("Error reference: <code>"), "{body}");
        assert!(!body.contains("db-7.internal"), "{body}");
    }

    #[test]
    fn api_errors_are_problem_documents() {
        let response = ApiError(AppError::PayloadTooLarge).error_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let body: serde_json::Value = serde_json::from_str(&body_of(response)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "about:blank",
                "title": "Request too large",
                "status": 413,
                "detail": "The request body is too large.",
                "code": "payload_too_large",
            })
        );
        let unexpected = ApiError(AppError::unexpected(anyhow::anyhow!("secret detail")));
        let body: serde_json::Value =
            serde_json::from_str(&body_of(unexpected.error_response())).unwrap();
        assert_eq!(body["status"], 500);
        assert_eq!(body["code"], "internal_error");
        assert_eq!(body["error_id"].as_str().unwrap().len(), 22);
        assert!(!body.to_string().contains("secret detail"));
    }

    #[test]
    fn domain_errors_map_to_the_right_status() {
        assert_eq!(
            AppError::from(SetupError::InvalidToken).status_code(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            AppError::from(AccountError::UsernameTaken).status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            AppError::from(PasskeyError::CloneSuspected).status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            AppError::from(PasskeyError::Rejected(
                webauthn_rs::prelude::WebauthnError::InvalidRPOrigin
            ))
            .status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            AppError::from(StoreError::NotFound).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn an_outage_is_503_with_retry_after_and_no_cause_on_the_wire() {
        let outage = || {
            StoreError::unavailable(
                crate::store::Outage::Locked,
                "database is locked at /srv/secret/portcullis.db",
            )
        };
        let page = AppError::from(outage()).error_response();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.headers().get(header::RETRY_AFTER).unwrap(), "5");
        let body = body_of(page);
        assert!(body.contains("Temporarily unavailable"), "{body}");
        assert!(
            !body.contains("/srv/secret") && !body.contains("locked"),
            "{body}"
        );

        let api = ApiError(AppError::from(outage())).error_response();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.headers().get(header::RETRY_AFTER).unwrap(), "5");
        let body: serde_json::Value = serde_json::from_str(&body_of(api)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "about:blank",
                "title": "Temporarily unavailable",
                "status": 503,
                "detail": "The service is temporarily unavailable. Try again shortly.",
                "code": "unavailable",
            })
        );
    }

    #[test]
    fn a_database_error_that_is_no_outage_is_500_with_an_error_id() {
        let bug = StoreError::from(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("no such table: users".to_owned()),
        ));
        let response = AppError::from(bug).error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        assert!(body_of(response).contains("Error reference: <code>"));
    }
}
