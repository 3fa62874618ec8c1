//! Protocol responses: authorization responses to the client's redirect URI (query or
//! form_post, always with `iss` per RFC 9207), JSON token-endpoint responses and errors
//! (RFC 6749 §5), and bearer-token errors (RFC 6750 §3).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use serde::Serialize;

use crate::http::error::RETRY_AFTER_SECS;
use crate::http::middleware::{csp_allowing_form_target, csp_source_for};
use crate::oauth::error::{ErrorCode, FlowError, OAuthError};
use crate::oauth::request::{ResponseMode, ResponseTarget};

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPost<'a> {
    action: &'a str,
    fields: &'a [(&'static str, String)],
}

/// Sends `params` (plus `state` and `iss`) to the client's redirect URI. Never cached: the
/// response carries a code.
pub fn to_client(
    target: &ResponseTarget,
    issuer: &str,
    params: Vec<(&'static str, String)>,
) -> HttpResponse {
    no_store(deliver(target, issuer, params))
}

fn deliver(
    target: &ResponseTarget,
    issuer: &str,
    mut params: Vec<(&'static str, String)>,
) -> HttpResponse {
    if let Some(state) = &target.state {
        params.push(("state", state.clone()));
    }
    params.push(("iss", issuer.to_owned()));
    match target.response_mode {
        ResponseMode::Query => {
            let query = serde_urlencoded::to_string(&params).unwrap_or_default();
            // Appended to the registered URI as is: it was matched as an exact string, and
            // re-serialising it through a URL parser could change it.
            let separator = if target.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!("{}{separator}{query}", target.redirect_uri),
                ))
                .finish()
        }
        ResponseMode::FormPost => {
            let page = FormPost {
                action: &target.redirect_uri,
                fields: &params,
            };
            let csp = csp_allowing_form_target(&csp_source_for(&target.redirect_uri));
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CONTENT_SECURITY_POLICY, csp))
                .body(page.render().unwrap_or_default())
        }
    }
}

pub fn error_to_client(target: &ResponseTarget, issuer: &str, error: &OAuthError) -> HttpResponse {
    to_client(
        target,
        issuer,
        vec![
            ("error", error.code.as_str().to_owned()),
            ("error_description", error.description().to_owned()),
        ],
    )
}

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

/// Turns internal failures into protocol errors after logging them, once, naming the
/// endpoint: a database outage is `temporarily_unavailable` (503 with Retry-After), any
/// other failure `server_error` (500) with an error id shared with the log line.
pub fn flow_error(endpoint: Endpoint, e: FlowError) -> OAuthError {
    let endpoint = endpoint.as_str();
    match e {
        FlowError::OAuth(e) => e,
        FlowError::Store(s) if s.is_unavailable() => {
            tracing::warn!(endpoint, cause = %s, "database unavailable");
            temporarily_unavailable()
        }
        other => {
            let id = crate::crypto::random::identifier();
            tracing::error!(error_id = %id, endpoint, error = ?other, "{endpoint} endpoint failure");
            OAuthError::new(
                ErrorCode::ServerError,
                format!("internal error (reference {id})"),
            )
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON success body with `Cache-Control: no-store` and `Pragma: no-cache`.
pub fn json_no_store(body: &impl Serialize) -> HttpResponse {
    no_store(HttpResponse::Ok().json(body))
}

/// RFC 6749 §5.2 error: 401 with `WWW-Authenticate` for invalid_client, 500 for
/// server_error, 503 with `Retry-After` for temporarily_unavailable, 400 otherwise.
pub fn json_error(error: &OAuthError) -> HttpResponse {
    let status = match error.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
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

/// RFC 6750 §3: 401 (or 403 for insufficient_scope) with a `WWW-Authenticate: Bearer`
/// challenge. `None` is a request without a token: the challenge carries no error code.
pub fn bearer_error(error: Option<&OAuthError>) -> HttpResponse {
    let Some(e) = error else {
        return no_store(
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"portcullis\""))
                .finish(),
        );
    };
    let status = match e.code {
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
