//! Middleware applied to every route: request id and access log, security headers, https
//! behind trusted proxies, refusal of compressed request bodies, the request deadline and
//! the connection caps.

pub mod connection_caps;
pub mod request_deadline;

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use tracing::Instrument;

use super::client_addr::Scheme;
use super::{AppError, AppState};

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; frame-ancestors 'none'; \
     form-action 'self'; base-uri 'none'; object-src 'none'";

/// The same policy with `extra` (a client's origin) allowed as a form target: browsers
/// apply form-action to the redirects that follow a form submission too, so pages whose
/// form ends at a client's redirect URI must name it.
pub fn csp_allowing_form_target(extra: &str) -> String {
    format!(
        "default-src 'self'; frame-ancestors 'none'; form-action 'self' {extra}; \
         base-uri 'none'; object-src 'none'"
    )
}

/// The CSP source expression for a redirect URI: its origin, or `scheme:` for private-use
/// schemes (RFC 8252 §7.1).
pub fn csp_source_for(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => "'none'".into(),
    }
}

/// Gives each request a random id (returned as `X-Request-Id`, never taken from the client,
/// whose value could forge log lines) and logs method, path, status and latency. Only the
/// path is logged: query strings carry codes and tokens.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = crate::crypto::random::identifier();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    let status = res.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request completed"));
    Ok(res)
}

/// Headers that make browsers refuse framing, sniffing, inline script and referrer leaks.
/// Responses that set no Cache-Control get `no-store`: pages behind a session and forms
/// with CSRF tokens must never sit in a shared cache.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // HSTS only on a response that travels over https (RFC 6797 §7.2): the issuer says so
    // and no trusted proxy reports a plain-http client connection.
    let https = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.is_https())
        && forwarded_scheme(req.request()) != Some(Scheme::Http);
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    // A handler may widen form-action for a page that posts or redirects to a client.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(res)
}

fn forwarded_scheme(req: &actix_web::HttpRequest) -> Option<Scheme> {
    super::extract::client(req).and_then(|c| c.scheme)
}

/// With an https issuer, a request that a trusted proxy says reached it over plain http is
/// never served: cookies are `Secure`, and a password typed into a plain-http page would
/// already be exposed. GET and HEAD are redirected (308) to the same path under the
/// issuer; anything else gets 400. Health checks are answered either way (load balancers
/// probe over plain http). Without trusted proxies this never triggers.
pub async fn https_behind_proxies(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let issuer = req
        .app_data::<web::Data<AppState>>()
        .filter(|s| s.settings.is_https())
        .map(|s| s.settings.issuer.clone());
    if let Some(issuer) = issuer {
        let probe = matches!(req.path(), "/healthz" | "/readyz");
        if !probe && forwarded_scheme(req.request()) == Some(Scheme::Http) {
            let response = if req.method() == Method::GET || req.method() == Method::HEAD {
                let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, format!("{issuer}{path}")))
                    .finish()
            } else {
                AppError::BadRequest("Use https.".into()).error_response()
            };
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// actix is built without decompression, so a compressed body would reach handlers as
/// garbage; refuse it up front (415) rather than risk a decompression bomb.
pub async fn refuse_encoded_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let encoded = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        let response = AppError::UnsupportedMediaType.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// `err` as a response to `req` from a middleware (before or instead of the handler): a
/// page for browsers, a problem document for everyone else.
fn error_for(req: &HttpRequest, err: AppError) -> HttpResponse {
    err.negotiated_response(req)
}
