//! The HTTP layer: routes, extractors, middleware, error mapping and pages. Handlers stay
//! thin: they parse, call a domain module, and render.

pub mod assets;
pub mod client_addr;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod health;
pub mod methods;
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

impl AppState {
    /// The services the sign-in flows use (`crate::signin`).
    pub fn signin(&self) -> crate::signin::Env<'_> {
        crate::signin::Env {
            store: &self.store,
            hasher: &self.hasher,
            lockout: &self.lockout,
            sessions: self.sessions,
            mfa: &self.mfa,
            passkeys: &self.passkeys,
            issuer: &self.settings.issuer,
            allow_unconfirmed: self.settings.signup.allow_unverified_sign_in,
        }
    }
}

/// The route table: one endpoint per path with all its methods (see `methods`). Features
/// switched off in `settings` (self-registration, dynamic client registration) are not
/// mounted, so each of their paths is a 404 for every method, like any unknown path.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    cfg.service(methods::path("/").get(pages::home::get_home));
    cfg.service(
        methods::path("/login")
            .get(pages::login::get_login)
            .post(pages::login::post_login),
    );
    cfg.service(
        methods::path("/login/mfa")
            .get(pages::mfa::get_second_step)
            .post(pages::mfa::post_second_step),
    );
    cfg.service(methods::path("/login/mfa/enroll").post(pages::mfa::post_enroll));
    cfg.service(methods::path("/login/mfa/start").get_with_effects(pages::mfa::get_start));
    cfg.service(
        methods::path("/login/mfa/passkey/begin").post(pages::passkey_login::post_second_begin),
    );
    cfg.service(
        methods::path("/login/mfa/passkey/finish").post(pages::passkey_login::post_second_finish),
    );
    cfg.service(methods::path("/login/passkey/begin").post(pages::passkey_login::post_begin));
    cfg.service(methods::path("/login/passkey/finish").post(pages::passkey_login::post_finish));
    cfg.service(methods::path("/logout").post(pages::login::post_logout));
    if settings.signup.enabled {
        cfg.service(
            methods::path("/signup")
                .get(pages::signup::get_signup)
                .post(pages::signup::post_signup),
        );
        cfg.service(
            methods::path("/signup/confirm")
                .get(pages::signup::get_confirm)
                .post(pages::signup::post_confirm),
        );
    }
    cfg.service(
        methods::path("/reset")
            .get(pages::reset::get_reset)
            .post(pages::reset::post_reset),
    );
    cfg.service(
        methods::path("/reset/confirm")
            .get(pages::reset::get_confirm)
            .post(pages::reset::post_confirm),
    );
    cfg.service(methods::path("/account").get(pages::account::get_account));
    cfg.service(methods::path("/account/password").post(pages::account::post_password));
    cfg.service(methods::path("/account/email").post(pages::account::post_email));
    cfg.service(
        methods::path("/account/profile")
            .get(pages::profile::get_profile)
            .post(pages::profile::post_profile),
    );
    cfg.service(
        methods::path("/account/email/confirm")
            .get(pages::email_change::get_confirm)
            .post(pages::email_change::post_confirm),
    );
    cfg.service(methods::path("/account/sessions/end").post(pages::account::post_end_session));
    cfg.service(methods::path("/account/security").get(pages::security::get_security));
    cfg.service(methods::path("/account/totp/begin").post(pages::security::post_totp_begin));
    cfg.service(methods::path("/account/totp/confirm").post(pages::security::post_totp_confirm));
    cfg.service(methods::path("/account/totp/remove").post(pages::security::post_totp_remove));
    cfg.service(methods::path("/account/recovery").post(pages::security::post_recovery));
    cfg.service(
        methods::path("/account/recovery/first").post(pages::security::post_first_recovery),
    );
    cfg.service(methods::path("/account/passkeys").get(pages::passkeys::get_passkeys));
    cfg.service(
        methods::path("/account/passkeys/register/begin")
            .post(pages::passkeys::post_register_begin),
    );
    cfg.service(
        methods::path("/account/passkeys/register/finish")
            .post(pages::passkeys::post_register_finish),
    );
    cfg.service(methods::path("/account/passkeys/remove").post(pages::passkeys::post_remove));
    cfg.service(
        methods::path("/account/passkeys/remove/begin").post(pages::passkeys::post_remove_begin),
    );
    cfg.service(
        methods::path("/account/passkeys/remove/finish").post(pages::passkeys::post_remove_finish),
    );
    cfg.service(
        methods::path("/setup")
            .get(pages::setup::get_setup)
            .post(pages::setup::post_setup),
    );
    cfg.service(methods::path("/healthz").get(health::get_healthz));
    cfg.service(methods::path("/readyz").get(health::get_readyz));
    cfg.service(methods::path("/static/{file}").get(assets::get_asset));
    cfg.service(
        methods::path("/.well-known/openid-configuration").get(oauth::discovery::get_metadata),
    );
    cfg.service(
        methods::path("/.well-known/oauth-authorization-server")
            .get(oauth::discovery::get_metadata),
    );
    cfg.service(methods::path("/jwks.json").get(oauth::discovery::get_jwks));
    cfg.service(
        methods::path("/authorize")
            .get_with_effects(oauth::authorize::get_authorize)
            .post(oauth::authorize::post_authorize),
    );
    cfg.service(
        methods::path("/authorize/continue").get_with_effects(oauth::authorize::get_continue),
    );
    cfg.service(
        methods::path("/consent")
            .get(oauth::consent::get_consent)
            .post(oauth::consent::post_consent),
    );
    cfg.service(methods::path("/token").post(oauth::token::post_token));
    cfg.service(methods::path("/introspect").post(oauth::introspect::post_introspect));
    cfg.service(methods::path("/revoke").post(oauth::introspect::post_revoke));
    if settings.registration.enabled {
        cfg.service(methods::path("/register").post(oauth::registration::post_register));
        cfg.service(
            methods::path("/register/{client_id}")
                .get(oauth::registration::get_client)
                .put(oauth::registration::put_client)
                .delete(oauth::registration::delete_client),
        );
    }
    cfg.service(
        methods::path("/end_session")
            .get_with_effects(oauth::end_session::get_end_session)
            .post(oauth::end_session::post_end_session),
    );
    cfg.service(
        methods::path("/userinfo")
            .get(oauth::userinfo::get_userinfo)
            .post(oauth::userinfo::post_userinfo),
    );
}
