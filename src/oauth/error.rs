//! OAuth 2.0 / OpenID Connect error codes and the error type carrying them.

use std::borrow::Cow;

use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// RFC 6749 §4.1.2.1 / §5.2: missing, repeated, malformed or unsupported parameter.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the code or refresh token is invalid, expired, revoked, or was issued
    /// to another client or redirect URI; or the PKCE verifier does not match.
    InvalidGrant,
    /// RFC 6749 §4.1.2.1 / §5.2: the client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1: the response type is not supported.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1 / §5.2: the scope is invalid, unknown or exceeds what was granted.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the user or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: unexpected condition (a 500 turned into a redirect).
    ServerError,
    /// RFC 6749 §4.1.2.1: temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: prompt=none but the user must sign in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: prompt=none but the user must consent.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: prompt=none but some user interaction is required.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: the `request` parameter is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 6750 §3.1: the access token is invalid, expired or revoked.
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks the scope this resource needs.
    InsufficientScope,
    /// RFC 7591 §3.2.2: a metadata field is invalid.
    InvalidClientMetadata,
    /// RFC 7591 §3.2.2: a redirect URI is invalid.
    InvalidRedirectUri,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
        }
    }
}

/// A protocol error: the code and a human-readable description (no internals).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
}

/// Failures inside OAuth flows: a protocol error for the client, or an internal one.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
}
