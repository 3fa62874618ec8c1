//! [`SignedIn`]: a handler that needs a session says so in its signature.
//!
//! Invariants: without a live session the handler never runs. A `GET` or `HEAD` (a page the
//! browser navigated to) is sent to the sign-in with the path and query it asked for as
//! `return_to`, limited by `pages::safe_return_to` to a path on this site, so the user lands
//! back on that page once signed in; any other method is refused with 401 (an HTML page or a
//! problem document by `Accept`, as `AppError::negotiated_response` decides), because
//! replaying a form after the sign-in would act without the user seeing it.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use percent_encoding::{AsciiSet, CONTROLS};

use super::CurrentSession;
use crate::http::error::{wants_html, ApiError};
use crate::http::pages::safe_return_to;
use crate::http::AppError;
use crate::sessions::ActiveSession;

/// A live session, required.
#[derive(Debug)]
pub struct SignedIn(pub ActiveSession);

/// What a request without a session gets, or the failure to look the session up.
#[derive(Debug, thiserror::Error)]
pub enum NotSignedIn {
    /// A navigation: sign in first, then come back to the path.
    #[error("not signed in: sign in at {0}")]
    SignInFirst(String),
    /// An HTML page: 401 for a browser, or the session lookup failed (as
    /// [`CurrentSession`] answers that).
    #[error(transparent)]
    Page(AppError),
    /// A problem document: 401 for a script or an API client.
    #[error(transparent)]
    Problem(ApiError),
}

/// The characters that must not appear raw in a query parameter's value; `/` stays, so a
/// return path reads as one (`/login?return_to=/account/security`).
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The sign-in page that returns to `path_and_query` afterwards (or to `/`, for anything
/// `safe_return_to` refuses).
pub fn sign_in_location(path_and_query: &str) -> String {
    let back = safe_return_to(Some(path_and_query));
    format!(
        "/login?return_to={}",
        percent_encoding::utf8_percent_encode(&back, QUERY_VALUE)
    )
}

impl NotSignedIn {
    fn for_request(req: &HttpRequest) -> Self {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            let target = req
                .uri()
                .path_and_query()
                .map_or_else(|| req.path().to_owned(), |p| p.as_str().to_owned());
            NotSignedIn::SignInFirst(sign_in_location(&target))
        } else {
            match wants_html(req) {
                true => NotSignedIn::Page(AppError::Unauthorized),
                false => NotSignedIn::Problem(ApiError(AppError::Unauthorized)),
            }
        }
    }
}

impl ResponseError for NotSignedIn {
    fn status_code(&self) -> StatusCode {
        match self {
            NotSignedIn::SignInFirst(_) => StatusCode::SEE_OTHER,
            NotSignedIn::Page(error) => error.status_code(),
            NotSignedIn::Problem(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            NotSignedIn::SignInFirst(location) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location.as_str()))
                .finish(),
            NotSignedIn::Page(error) => error.error_response(),
            NotSignedIn::Problem(error) => error.error_response(),
        }
    }
}

impl FromRequest for SignedIn {
    type Error = NotSignedIn;
    type Future = Pin<Box<dyn Future<Output = Result<Self, NotSignedIn>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let current = CurrentSession::from_request(&req, payload);
        Box::pin(async move {
            let current = current.await.map_err(NotSignedIn::Page)?;
            match current.session {
                Some(session) => Ok(SignedIn(session)),
                None => Err(NotSignedIn::for_request(&req)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::sign_in_location;

    #[test]
    fn the_return_path_keeps_its_slashes_and_encodes_its_query() {
        assert_eq!(sign_in_location("/account"), "/login?return_to=/account");
        assert_eq!(
            sign_in_location("/account/security?done=totp&x=1"),
            "/login?return_to=/account/security%3Fdone%3Dtotp%26x%3D1"
        );
        assert_eq!(
            sign_in_location("/account?a=b#frag"),
            "/login?return_to=/account%3Fa%3Db%23frag"
        );
        assert_eq!(sign_in_location("/ünï"), "/login?return_to=/%C3%BCn%C3%AF");
    }

    #[test]
    fn a_path_that_would_leave_the_site_returns_home() {
        for bad in [
            "//evil.example/account",
            "/\\evil.example",
            "https://evil.example",
        ] {
            assert_eq!(sign_in_location(bad), "/login?return_to=/", "{bad}");
        }
    }
}
