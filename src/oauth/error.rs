//! OAuth 2.0 / OpenID Connect error codes and the error type carrying them.
//!
//! Invariant: every error parameter Portcullis sends (`error`, `error_description`, in JSON
//! bodies, redirects and `WWW-Authenticate` challenges) holds only the characters RFC 6749
//! §5.2 allows, `%x20-21 / %x23-5B / %x5D-7E`: no `"`, no `\`, no control or non-ASCII
//! character. [`OAuthError::new`] is the only way to build a description, and enforces it.

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
    /// OpenID Connect Unmet Authentication Requirements 1.0: the authentication the request
    /// demands (an essential `acr`, or a second factor the user does not have) cannot be met.
    UnmetAuthenticationRequirements,
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
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }
}

/// A protocol error: the code and a human-readable description (no internals), whose
/// characters are those RFC 6749 §5.2 allows (see [`OAuthError::new`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    description: Cow<'static, str>,
}

/// Whether RFC 6749 §5.2 allows `c` in `error_description`: `%x20-21 / %x23-5B / %x5D-7E`.
pub fn is_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

/// Longest description sent: one that names a value from the request stays readable, and
/// a huge value does not become a huge redirect `Location` or response.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// `text` with every character RFC 6749 §5.2 forbids replaced: `"` by `'`, `\` by `/`,
/// anything else (control characters, non-ASCII) by `?`; cut at [`MAX_DESCRIPTION_CHARS`].
fn sanitise(text: Cow<'static, str>) -> Cow<'static, str> {
    if text.len() <= MAX_DESCRIPTION_CHARS && text.chars().all(is_description_char) {
        return text;
    }
    text.chars()
        .take(MAX_DESCRIPTION_CHARS)
        .map(|c| match c {
            c if is_description_char(c) => c,
            '"' => '\'',
            '\\' => '/',
            _ => '?',
        })
        .collect::<String>()
        .into()
}

impl OAuthError {
    /// The one constructor: the description is made safe for every place it goes
    /// (JSON, a redirect's query, a quoted string in `WWW-Authenticate`).
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: sanitise(description.into()),
        }
    }

    pub fn description(&self) -> &str {
        &self.description
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every code this provider can send.
    const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidGrant,
        ErrorCode::UnauthorizedClient,
        ErrorCode::UnsupportedGrantType,
        ErrorCode::UnsupportedResponseType,
        ErrorCode::InvalidScope,
        ErrorCode::AccessDenied,
        ErrorCode::ServerError,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::LoginRequired,
        ErrorCode::ConsentRequired,
        ErrorCode::InteractionRequired,
        ErrorCode::RequestNotSupported,
        ErrorCode::RequestUriNotSupported,
        ErrorCode::InvalidToken,
        ErrorCode::InsufficientScope,
        ErrorCode::InvalidClientMetadata,
        ErrorCode::InvalidRedirectUri,
        ErrorCode::UnmetAuthenticationRequirements,
    ];

    pub(crate) fn assert_rfc_6749_charset(e: &OAuthError) {
        assert!(
            e.code.as_str().chars().all(is_description_char),
            "{:?}",
            e.code
        );
        assert!(
            e.description().chars().all(is_description_char),
            "{:?}",
            e.description()
        );
    }

    #[test]
    fn codes_are_in_the_charset_and_serialise_as_their_name() {
        for code in ALL {
            assert!(code
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn the_constructor_replaces_every_character_rfc_6749_forbids() {
        let e = OAuthError::new(
            ErrorCode::InvalidScope,
            "scope \"profile\" \\ \u{e9}\u{0}\n\t\u{20ac}\u{7f} ok".to_owned(),
        );
        assert_eq!(e.description(), "scope 'profile' / ?????? ok");
        assert_rfc_6749_charset(&e);
        for c in (0..=0x2ffu32)
            .chain([0x2028, 0xfeff, 0x1f600])
            .filter_map(char::from_u32)
        {
            let text = format!("a{c}b");
            assert_rfc_6749_charset(&OAuthError::invalid_request(text.clone()));
            assert_rfc_6749_charset(&OAuthError::invalid_grant(text.clone()));
            assert_rfc_6749_charset(&OAuthError::new(ErrorCode::InvalidToken, text));
        }
        let long =
            OAuthError::invalid_request(format!("scope {} was not granted", "x".repeat(5000)));
        assert_eq!(long.description().len(), MAX_DESCRIPTION_CHARS);
        assert!(long.description().starts_with("scope xxx"));
        // Text already in the charset is kept as it is, and not copied.
        let fine = OAuthError::invalid_request(
            "the body is not valid form data: ~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
        );
        assert!(matches!(fine.description, Cow::Borrowed(_)));
        assert_eq!(
            fine.to_string(),
            "invalid_request: the body is not valid form data: ~!#$%&'()*+,-./:;<=>?@[]^_`{|}"
        );
        assert_rfc_6749_charset(&OAuthError::invalid_client());
    }
}
