//! Cookie names and attributes.
//!
//! Over https (as the issuer says) cookies carry the `__Host-` prefix and `Secure`: the
//! browser then refuses them from any other origin and over plain http, which stops
//! subdomain cookie tossing. Plain-http development on loopback cannot use either, so
//! there the prefix and `Secure` are dropped (start-up logs a warning).

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};

#[derive(Debug, Clone, Copy)]
pub struct CookieConfig {
    pub secure: bool,
}

impl CookieConfig {
    pub fn session_name(&self) -> &'static str {
        if self.secure {
            "__Host-portcullis_session"
        } else {
            "portcullis_session"
        }
    }

    pub fn csrf_name(&self) -> &'static str {
        if self.secure {
            "__Host-portcullis_csrf"
        } else {
            "portcullis_csrf"
        }
    }

    /// The sign-in waiting for its second factor (see `mfa::challenge`).
    pub fn challenge_name(&self) -> &'static str {
        if self.secure {
            "__Host-portcullis_mfa"
        } else {
            "portcullis_mfa"
        }
    }

    pub fn challenge(&self, token: &str) -> Cookie<'static> {
        self.build(self.challenge_name(), token.to_owned())
    }

    pub fn device_name(&self) -> &'static str {
        if self.secure {
            "__Host-portcullis_device"
        } else {
            "portcullis_device"
        }
    }

    fn build(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish()
    }

    /// A browser-session cookie (no Max-Age): it also ends when the browser closes; the
    /// server-side idle and absolute limits apply regardless.
    pub fn session(&self, token: &str) -> Cookie<'static> {
        self.build(self.session_name(), token.to_owned())
    }

    pub fn csrf(&self, token: &str) -> Cookie<'static> {
        self.build(self.csrf_name(), token.to_owned())
    }

    /// The browser's device identity (see `accounts::devices`): it must outlive sessions to
    /// recognise a returning browser, so it lasts 400 days, the most browsers keep a cookie.
    pub fn device(&self, token: &str) -> Cookie<'static> {
        let mut c = self.build(self.device_name(), token.to_owned());
        c.set_max_age(Duration::days(400));
        c
    }

    /// A cookie that tells the browser to delete `name` at once.
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = self.build(name, String::new());
        c.set_max_age(Duration::ZERO);
        c
    }
}
