//! Integration tests: each test starts the real application in-process on a random port
//! with its own fresh database (SQLite by default, Postgres when
//! PORTCULLIS_TEST_POSTGRES_URL is set) and talks HTTP to it.

// Test code fails by panicking; that is the point of unwrap and expect here.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod account;
mod authenticator;
mod authorize;
mod browser;
mod cli;
mod cli_profile;
mod csrf;
mod devices;
mod discovery;
mod email_change;
mod flow;
mod hardening;
mod health;
mod helpers;
mod interop;
mod introspection;
mod jwks_uri;
mod keys;
mod limits;
mod lockout;
mod login;
mod logout;
mod mfa;
mod mfa_attacks;
mod mfa_support;
mod oidc;
mod passkey_login;
mod passkeys;
mod private_key_jwt;
mod profile;
mod refresh;
mod registration;
mod reset;
mod server;
mod sessions;
mod setup;
mod signup;
mod smtp_sink;
mod standard_claims;
mod step_up;
mod storage;
mod token;
mod userinfo;
