//! `Bearer` and `BearerOrForm`: the credential of a request to a protected resource
//! (RFC 6750).
//!
//! Invariants: the credential comes from `Authorization: Bearer` or, only where the
//! endpoint takes [`BearerOrForm`], from the form body's `access_token` (§2.2); never from
//! the query string (§2.3 is not supported: URLs end up in logs). A request without
//! credentials gets a bare challenge (401, §3.1: no error code); a malformed header or a
//! request sending the token two ways is refused before anything is looked up. API keys
//! (`pcl_...`) are told apart from access tokens here, by their prefix only: verifying
//! either is the domain's work, and an endpoint that takes only access tokens refuses a
//! key as `invalid_token` ([`Credential::access_token`]).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::form_params;
use crate::http::error::oauth::BearerChallenge;
use crate::oauth::error::{ErrorCode, OAuthError};

/// The prefix of every API key (`pcl_` + public id + secret).
pub const API_KEY_PREFIX: &str = "pcl_";

/// A credential as presented, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Presumably one of our JWT access tokens.
    AccessToken(String),
    /// An API key (by its prefix).
    ApiKey(String),
}

impl Credential {
    fn classify(raw: String) -> Self {
        if raw.starts_with(API_KEY_PREFIX) {
            Credential::ApiKey(raw)
        } else {
            Credential::AccessToken(raw)
        }
    }

    /// The access token, for endpoints that take nothing else: an API key is refused as
    /// `invalid_token` (RFC 6750 §3.1), like any credential the endpoint does not know.
    pub fn access_token(self) -> Result<String, OAuthError> {
        match self {
            Credential::AccessToken(token) => Ok(token),
            Credential::ApiKey(_) => Err(invalid_token("API keys are not accepted here")),
        }
    }
}

fn invalid_token(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

/// The token in the Authorization header; `Ok(None)` when there is no such header.
fn from_header(req: &HttpRequest) -> Result<Option<String>, OAuthError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| invalid_token("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(invalid_token("use the Bearer scheme")),
    }
}

/// The credential from `Authorization: Bearer` only.
#[derive(Debug)]
pub struct Bearer(pub Credential);

impl FromRequest for Bearer {
    type Error = BearerChallenge;
    type Future = std::future::Ready<Result<Self, BearerChallenge>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(match from_header(req) {
            Ok(Some(token)) => Ok(Bearer(Credential::classify(token))),
            Ok(None) => Err(BearerChallenge(None)),
            Err(e) => Err(e.into()),
        })
    }
}

/// The credential from `Authorization: Bearer` or from an
/// `application/x-www-form-urlencoded` body's `access_token` (RFC 6750 §2.2), exactly one
/// of them. Reads the body; errors reading it are actix's own (413 and the like), as for
/// any handler that takes the body.
#[derive(Debug)]
pub struct BearerOrForm(pub Credential);

/// Both ways at once, or neither: the rule of RFC 6750 §2 ("MUST NOT use more than one
/// method").
fn one_of(header: Option<String>, body: Option<String>) -> Result<Option<Credential>, OAuthError> {
    match (header, body) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the token one way only")),
        (token, None) | (None, token) => Ok(token.map(Credential::classify)),
    }
}

impl FromRequest for BearerOrForm {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await?;
            let header = from_header(&req).map_err(BearerChallenge::from)?;
            let from_body = if body.is_empty() {
                None
            } else {
                let params = form_params(&req, &body).map_err(BearerChallenge::from)?;
                params
                    .get("access_token")
                    .map_err(BearerChallenge::from)?
                    .map(str::to_owned)
            };
            match one_of(header, from_body).map_err(BearerChallenge::from)? {
                Some(credential) => Ok(BearerOrForm(credential)),
                None => Err(BearerChallenge(None).into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn header_of(value: &str) -> Result<Option<String>, OAuthError> {
        from_header(
            &TestRequest::default()
                .insert_header((header::AUTHORIZATION, value))
                .to_http_request(),
        )
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_others_are_refused() {
        assert_eq!(header_of("Bearer abc").unwrap().as_deref(), Some("abc"));
        assert_eq!(header_of("bEaReR  abc ").unwrap().as_deref(), Some("abc"));
        assert_eq!(
            from_header(&TestRequest::default().to_http_request()).unwrap(),
            None
        );
        for bad in ["Basic YTpi", "Bearer", "abc"] {
            let e = header_of(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidToken, "{bad}");
        }
    }

    #[test]
    fn api_keys_are_told_apart_by_their_prefix_and_refused_where_only_tokens_go() {
        let key = Credential::classify("pcl_abc_def".into());
        assert_eq!(key, Credential::ApiKey("pcl_abc_def".into()));
        assert_eq!(
            key.access_token().unwrap_err().code,
            ErrorCode::InvalidToken
        );
        let token = Credential::classify("eyJhbGciOi.x.y".into());
        assert_eq!(token.access_token().unwrap(), "eyJhbGciOi.x.y");
    }

    #[test]
    fn a_token_sent_two_ways_is_an_invalid_request() {
        let e = one_of(Some("a".into()), Some("b".into())).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert_eq!(one_of(None, None).unwrap(), None);
        assert_eq!(
            one_of(None, Some("b".into())).unwrap(),
            Some(Credential::AccessToken("b".into()))
        );
    }
}
