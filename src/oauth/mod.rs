//! The OAuth 2.0 / OpenID Connect protocol: authorization requests, codes, grants, token
//! issuance, client authentication and claims. No HTTP here: `http::oauth` adapts it.

pub mod access_token;
pub mod authorize;
pub mod claims;
pub mod client_assertion;
pub mod client_auth;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod jwks_fetch;
pub mod logout;
pub mod pkce;
pub mod request;
pub mod scope;
pub mod tokens;
pub mod userinfo;

use std::sync::Arc;

use crate::config::Settings;
use crate::keys::KeyRing;
use crate::store::Store;
pub use error::{ErrorCode, FlowError, OAuthError};

/// Token and request lifetimes, in seconds, and the cap on pending requests per source.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub code: i64,
    pub access_token: i64,
    pub id_token: i64,
    pub refresh_idle: i64,
    pub refresh_absolute: i64,
    pub pending_request: i64,
    /// A pending request nobody has signed in for yet.
    pub pending_unauthenticated: i64,
    /// Pending requests nobody has signed in for, per client address (a count).
    pub pending_per_source: i64,
}

impl Lifetimes {
    pub fn from_settings(s: &Settings) -> Self {
        let secs = crate::time::secs;
        Lifetimes {
            code: secs(s.oauth.authorization_code_lifetime_secs),
            access_token: secs(s.oauth.access_token_lifetime_secs),
            id_token: secs(s.oauth.id_token_lifetime_secs),
            refresh_idle: secs(s.oauth.refresh_token_idle_secs),
            refresh_absolute: secs(s.oauth.refresh_token_absolute_secs),
            pending_request: secs(s.oauth.authorization_request_lifetime_secs),
            pending_unauthenticated: secs(s.oauth.unauthenticated_request_lifetime_secs),
            pending_per_source: s.oauth.max_pending_requests_per_source.into(),
        }
    }
}

/// Everything the protocol code needs; shared by all workers.
#[derive(Clone)]
pub struct Provider {
    pub issuer: String,
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub lifetimes: Lifetimes,
    /// Secret salt for pairwise subject identifiers (OIDC Core §8.1).
    pub pairwise_salt: [u8; 32],
    /// Clients' remote JWK Sets (private_key_jwt with jwks_uri).
    pub jwks_fetcher: Arc<jwks_fetch::JwksFetcher>,
}

impl Provider {
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}
