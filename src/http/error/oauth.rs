//! The OAuth rendering of errors: RFC 6749 §5.2 JSON (`error`, `error_description`) for the
//! token, introspection, revocation and registration endpoints, and RFC 6750 §3 bearer
//! challenges for protected resources (userinfo, registration management).
//!
//! Invariants: every response here is `Cache-Control: no-store`; `invalid_client` carries
//! `WWW-Authenticate: Basic`, a bearer failure `WWW-Authenticate: Bearer` (without an error
//! code when the request had no credentials, §3.1); a 503 carries `Retry-After`; a 500's
//! description holds only the [`ErrorId`] of its log line.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use super::{ErrorId, RETRY_AFTER_SECS};
use crate::oauth::error::{ErrorCode, FlowError, OAuthError};

/// The endpoint a failure happened at, named in its log line.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint {
    Authorization,
    Token,
    Introspection,
    Revocation,
    Userinfo,
    Registration,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Authorization => "authorization",
            Endpoint::Token => "token",
            Endpoint::Introspection => "introspection",
            Endpoint::Revocation => "revocation",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Registration => "registration",
        }
    }
}

/// The error every OAuth endpoint reports while the database cannot serve.
pub fn temporarily_unavailable() -> OAuthError {
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "the service is temporarily unavailable; try again shortly",
    )
}

/// Turns internal failures into protocol errors after logging them once: a database outage
/// is `temporarily_unavailable` (503 with Retry-After; the log names the endpoint), any other
/// failure `server_error` (500) whose description names the [`ErrorId`] of its log line,
/// which sits in the request's span (its path names the endpoint).
pub fn flow_error(endpoint: Endpoint, e: FlowError) -> OAuthError {
    match e {
        FlowError::OAuth(e) => e,
        FlowError::Store(s) if s.is_unavailable() => {
            tracing::warn!(endpoint = endpoint.as_str(), cause = %s, "database unavailable");
            temporarily_unavailable()
        }
        other => server_error(&other),
    }
}

/// `server_error` (500) for a failure of ours, logged under the [`ErrorId`] its
/// description names.
pub fn server_error(e: &(dyn std::error::Error + 'static)) -> OAuthError {
    let id = ErrorId::log(e);
    OAuthError::new(
        ErrorCode::ServerError,
        format!("internal error (reference {id})"),
    )
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

/// Marks a response as never to be cached (RFC 6749 §5.1): it carries a token or an
/// answer about one.
pub fn no_store(mut response: HttpResponse) -> HttpResponse {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The status RFC 6749 §5.2 gives an error: 401 for invalid_client, 500 for server_error,
/// 503 for temporarily_unavailable, 400 otherwise.
fn json_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// RFC 6749 §5.2 error: 401 with `WWW-Authenticate` for invalid_client, 500 for
/// server_error, 503 with `Retry-After` for temporarily_unavailable, 400 otherwise.
pub fn json_error(error: &OAuthError) -> HttpResponse {
    let status = json_status(error.code);
    let mut builder = HttpResponse::build(status);
    if error.code == ErrorCode::InvalidClient {
        builder.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"portcullis\""));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        builder.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
    }
    no_store(builder.json(ErrorBody {
        error: error.code.as_str(),
        error_description: error.description(),
    }))
}

/// RFC 6750 §3: 401 (or 403 for insufficient_scope, 400 for invalid_request) with a
/// `WWW-Authenticate: Bearer` challenge. `None` is a request without credentials: the
/// challenge carries no error code. Our own failures (server_error,
/// temporarily_unavailable) are not about the request's credentials, so they get no
/// challenge: the RFC 6749 body, with Retry-After on a 503.
pub fn bearer_error(error: Option<&OAuthError>) -> HttpResponse {
    let Some(e) = error else {
        return no_store(
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"portcullis\""))
                .finish(),
        );
    };
    let status = match e.code {
        ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => return json_error(e),
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNAUTHORIZED,
    };
    // A quoted-string (RFC 9110 §5.6.4): the description has no `"` or `\` to escape.
    let challenge = format!(
        "Bearer realm=\"portcullis\", error=\"{}\", error_description=\"{}\"",
        e.code.as_str(),
        e.description()
    );
    no_store(
        HttpResponse::build(status)
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .json(ErrorBody {
                error: e.code.as_str(),
                error_description: e.description(),
            }),
    )
}

/// An error at an OAuth endpoint that answers in RFC 6749 JSON (token, introspection,
/// revocation): handlers return `Result<_, OAuthJson>` and the rendering happens here.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OAuthJson(#[from] pub OAuthError);

impl ResponseError for OAuthJson {
    fn status_code(&self) -> StatusCode {
        json_status(self.0.code)
    }

    fn error_response(&self) -> HttpResponse {
        json_error(&self.0)
    }
}

/// An error at a protected resource (RFC 6750 §3): `None` when the request carried no
/// credentials at all.
#[derive(Debug, thiserror::Error)]
#[error("bearer authentication failed")]
pub struct BearerChallenge(pub Option<OAuthError>);

impl From<OAuthError> for BearerChallenge {
    fn from(e: OAuthError) -> Self {
        BearerChallenge(Some(e))
    }
}

impl ResponseError for BearerChallenge {
    fn status_code(&self) -> StatusCode {
        match self.0.as_ref().map(|e| e.code) {
            None => StatusCode::UNAUTHORIZED,
            Some(c @ (ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable)) => {
                json_status(c)
            }
            Some(ErrorCode::InsufficientScope) => StatusCode::FORBIDDEN,
            Some(ErrorCode::InvalidRequest) => StatusCode::BAD_REQUEST,
            Some(_) => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        bearer_error(self.0.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    fn parts(response: HttpResponse) -> (u16, Vec<(String, String)>, serde_json::Value) {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let bytes = response.into_body().try_into_bytes().unwrap();
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, headers, body)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn rfc_6749_errors_are_json_with_their_status_and_headers() {
        let (status, headers, body) = parts(json_error(&OAuthError::invalid_client()));
        assert_eq!(status, 401);
        assert_eq!(
            header(&headers, "www-authenticate"),
            Some("Basic realm=\"portcullis\"")
        );
        assert_eq!(header(&headers, "cache-control"), Some("no-store"));
        assert_eq!(header(&headers, "pragma"), Some("no-cache"));
        assert_eq!(
            body,
            serde_json::json!({
                "error": "invalid_client",
                "error_description": "client authentication failed",
            })
        );

        let (status, headers, body) = parts(OAuthJson(temporarily_unavailable()).error_response());
        assert_eq!(status, 503);
        assert_eq!(header(&headers, "retry-after"), Some("5"));
        assert_eq!(body["error"], "temporarily_unavailable");

        let (status, headers, _) = parts(json_error(&OAuthError::invalid_grant("no")));
        assert_eq!(status, 400);
        assert_eq!(header(&headers, "www-authenticate"), None);
    }

    #[test]
    fn a_500_names_the_error_id_and_nothing_internal() {
        let store = crate::store::StoreError::from(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new("no such table: access_tokens".to_owned()),
        ));
        let e = flow_error(Endpoint::Token, FlowError::Store(store));
        assert_eq!(e.code, ErrorCode::ServerError);
        let id = e
            .description()
            .strip_prefix("internal error (reference ")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap();
        assert_eq!(id.len(), 22, "{id}");
        let (status, _, body) = parts(json_error(&e));
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("access_tokens"), "{body}");
    }

    #[test]
    fn bearer_challenges_follow_rfc_6750_section_3() {
        let (status, headers, body) = parts(BearerChallenge(None).error_response());
        assert_eq!(status, 401);
        assert_eq!(
            header(&headers, "www-authenticate"),
            Some("Bearer realm=\"portcullis\"")
        );
        assert_eq!(body, serde_json::Value::Null);

        let invalid = OAuthError::new(ErrorCode::InvalidToken, "the access token is invalid");
        let (status, headers, body) = parts(BearerChallenge::from(invalid).error_response());
        assert_eq!(status, 401);
        assert_eq!(
            header(&headers, "www-authenticate"),
            Some(
                "Bearer realm=\"portcullis\", error=\"invalid_token\", \
                 error_description=\"the access token is invalid\""
            )
        );
        assert_eq!(body["error"], "invalid_token");

        let scope = OAuthError::new(ErrorCode::InsufficientScope, "more");
        assert_eq!(BearerChallenge::from(scope).status_code(), 403);
        let request = OAuthError::invalid_request("twice");
        assert_eq!(parts(bearer_error(Some(&request))).0, 400);

        // Our own failure is no challenge to the client's credentials.
        let (status, headers, _) = parts(bearer_error(Some(&temporarily_unavailable())));
        assert_eq!(status, 503);
        assert_eq!(header(&headers, "www-authenticate"), None);
        assert_eq!(header(&headers, "retry-after"), Some("5"));
    }
}
