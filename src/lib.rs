//! Portcullis: a standalone OAuth 2.0 / OpenID Connect identity provider.
//!
//! Layers, outermost first; each calls only the next: `http` (actix-web handlers, pages,
//! middleware) → domain modules (`accounts`, `sessions`, `clients`, `audit`, `crypto`) →
//! `store` (Diesel over SQLite and Postgres). Domain modules never import actix; `store`
//! knows nothing of HTTP.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod cli;
pub mod clients;
pub mod config;
pub mod crypto;
pub mod http;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod mfa;
pub mod oauth;
pub mod sessions;
pub mod signin;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod time;
