//! The HTTP layer: routes, extractors, middleware, error mapping and pages. Handlers stay
//! thin: they parse, call a domain module, and render.

pub mod assets;
pub mod client_addr;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod oauth;
pub mod pages;

use std::sync::Arc;

use actix_web::web;

use crate::accounts::PasswordPolicy;
use crate::config::Settings;
use crate::crypto::password::PasswordHasher;
use crate::sessions::SessionPolicy;
use crate::store::Store;
pub use error::AppError;

/// Everything a handler needs, shared by all workers.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub hasher: PasswordHasher,
    pub policy: PasswordPolicy,
    pub sessions: SessionPolicy,
    pub cookies: cookies::CookieConfig,
    pub provider: crate::oauth::Provider,
    pub lockout: crate::accounts::Lockout,
    pub mailer: crate::mail::Mailer,
    pub mfa: crate::mfa::Mfa,
    pub passkeys: crate::mfa::passkeys::Passkeys,
    /// Bounds on unauthenticated work (mail, passkey ceremonies).
    pub limits: crate::limits::Limits,
}

/// The route table.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::home::get_home))
        .route("/login", web::get().to(pages::login::get_login))
        .route("/login", web::post().to(pages::login::post_login))
        .route("/login/mfa", web::get().to(pages::mfa::get_second_step))
        .route("/login/mfa", web::post().to(pages::mfa::post_second_step))
        .route("/login/mfa/enroll", web::post().to(pages::mfa::post_enroll))
        .route("/login/mfa/start", web::get().to(pages::mfa::get_start))
        .route(
            "/login/mfa/passkey/begin",
            web::post().to(pages::passkey_login::post_second_begin),
        )
        .route(
            "/login/mfa/passkey/finish",
            web::post().to(pages::passkey_login::post_second_finish),
        )
        .route(
            "/login/passkey/begin",
            web::post().to(pages::passkey_login::post_begin),
        )
        .route(
            "/login/passkey/finish",
            web::post().to(pages::passkey_login::post_finish),
        )
        .route("/logout", web::post().to(pages::login::post_logout))
        .route("/signup", web::get().to(pages::signup::get_signup))
        .route("/signup", web::post().to(pages::signup::post_signup))
        .route("/signup/confirm", web::get().to(pages::signup::get_confirm))
        .route("/reset", web::get().to(pages::reset::get_reset))
        .route("/reset", web::post().to(pages::reset::post_reset))
        .route("/reset/confirm", web::get().to(pages::reset::get_confirm))
        .route("/reset/confirm", web::post().to(pages::reset::post_confirm))
        .route("/account", web::get().to(pages::account::get_account))
        .route(
            "/account/password",
            web::post().to(pages::account::post_password),
        )
        .route("/account/email", web::post().to(pages::account::post_email))
        .route(
            "/account/profile",
            web::get().to(pages::profile::get_profile),
        )
        .route(
            "/account/profile",
            web::post().to(pages::profile::post_profile),
        )
        .route(
            "/account/email/confirm",
            web::get().to(pages::email_change::get_confirm),
        )
        .route(
            "/account/email/confirm",
            web::post().to(pages::email_change::post_confirm),
        )
        .route(
            "/account/sessions/end",
            web::post().to(pages::account::post_end_session),
        )
        .route(
            "/account/security",
            web::get().to(pages::security::get_security),
        )
        .route(
            "/account/totp/begin",
            web::post().to(pages::security::post_totp_begin),
        )
        .route(
            "/account/totp/confirm",
            web::post().to(pages::security::post_totp_confirm),
        )
        .route(
            "/account/totp/remove",
            web::post().to(pages::security::post_totp_remove),
        )
        .route(
            "/account/recovery",
            web::post().to(pages::security::post_recovery),
        )
        .route(
            "/account/recovery/first",
            web::post().to(pages::security::post_first_recovery),
        )
        .route(
            "/account/passkeys",
            web::get().to(pages::passkeys::get_passkeys),
        )
        .route(
            "/account/passkeys/register/begin",
            web::post().to(pages::passkeys::post_register_begin),
        )
        .route(
            "/account/passkeys/register/finish",
            web::post().to(pages::passkeys::post_register_finish),
        )
        .route(
            "/account/passkeys/remove",
            web::post().to(pages::passkeys::post_remove),
        )
        .route(
            "/account/passkeys/remove/begin",
            web::post().to(pages::passkeys::post_remove_begin),
        )
        .route(
            "/account/passkeys/remove/finish",
            web::post().to(pages::passkeys::post_remove_finish),
        )
        .route("/setup", web::get().to(pages::setup::get_setup))
        .route("/setup", web::post().to(pages::setup::post_setup))
        .route("/healthz", web::get().to(health::get_healthz))
        .route("/readyz", web::get().to(health::get_readyz))
        .route("/static/{file}", web::get().to(assets::get_asset))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(oauth::discovery::get_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(oauth::discovery::get_metadata),
        )
        .route("/jwks.json", web::get().to(oauth::discovery::get_jwks))
        .route("/authorize", web::get().to(oauth::authorize::get_authorize))
        .route(
            "/authorize",
            web::post().to(oauth::authorize::post_authorize),
        )
        .route(
            "/authorize/continue",
            web::get().to(oauth::authorize::get_continue),
        )
        .route("/consent", web::get().to(oauth::consent::get_consent))
        .route("/consent", web::post().to(oauth::consent::post_consent))
        .route("/token", web::post().to(oauth::token::post_token))
        .route(
            "/introspect",
            web::post().to(oauth::introspect::post_introspect),
        )
        .route("/revoke", web::post().to(oauth::introspect::post_revoke))
        .route(
            "/register",
            web::post().to(oauth::registration::post_register),
        )
        .route(
            "/register/{client_id}",
            web::get().to(oauth::registration::get_client),
        )
        .route(
            "/register/{client_id}",
            web::put().to(oauth::registration::put_client),
        )
        .route(
            "/register/{client_id}",
            web::delete().to(oauth::registration::delete_client),
        )
        .route(
            "/end_session",
            web::get().to(oauth::end_session::get_end_session),
        )
        .route(
            "/end_session",
            web::post().to(oauth::end_session::post_end_session),
        )
        .route("/userinfo", web::get().to(oauth::userinfo::get_userinfo))
        .route("/userinfo", web::post().to(oauth::userinfo::post_userinfo));
}
