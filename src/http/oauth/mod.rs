//! HTTP adapters for the OAuth 2.0 / OpenID Connect endpoints.

pub mod authorize;
pub mod consent;
pub mod discovery;
pub mod end_session;
pub mod introspect;
pub mod registration;
pub mod response;
pub mod token;
pub mod userinfo;
