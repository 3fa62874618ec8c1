//! Protocol responses: authorization responses to the client's redirect URI (query or
//! form_post, always with `iss` per RFC 9207) and JSON token-endpoint responses (RFC 6749
//! §5.1). Errors answered in JSON are rendered by [`crate::http::error::oauth`].

use actix_web::http::header;
use actix_web::HttpResponse;
use askama::Template;
use serde::Serialize;

use crate::http::error::oauth::no_store;
use crate::http::middleware::{csp_allowing_form_target, csp_source_for};
use crate::oauth::error::OAuthError;
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

/// A JSON success body with `Cache-Control: no-store` and `Pragma: no-cache`.
pub fn json_no_store(body: &impl Serialize) -> HttpResponse {
    no_store(HttpResponse::Ok().json(body))
}
