//! Token endpoint grants, one module each.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
