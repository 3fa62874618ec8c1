//! Completing a sign-in: the one way a session starts.
//!
//! Invariants: the new session replaces the browser's previous one in the same
//! transaction (`sessions::start_at`); a step-up keeps its session's time of
//! authentication and never answers `prompt=login`/`max_age`; the lock-out counts reset
//! only here, once every factor passed; bookkeeping after the session exists (failure
//! counts, device, notice) never turns a sign-in into an error.

use super::{Browser, Env, SignInError};
use crate::accounts::{devices, lockout};
use crate::crypto::SecretString;
use crate::mail::notices;
use crate::sessions::{self, ActiveSession, NewSession};

/// A sign-in whose factors all passed.
#[derive(Debug)]
pub struct Completion {
    pub user_id: String,
    /// The methods that passed (RFC 8176).
    pub amr: Vec<String>,
    /// The pending authorization request this sign-in was made for.
    pub for_request: Option<String>,
    /// For a step-up (a second factor added to an existing session), that session's time
    /// of authentication; `None` when a first factor was just passed.
    pub auth_time: Option<i64>,
}

/// A started session, and what the browser must hold for it.
#[derive(Debug)]
pub struct SignedIn {
    /// The session cookie's value.
    pub token: SecretString,
    pub session: ActiveSession,
    /// The device cookie to (re)set; `None` when the device could not be recorded.
    pub device_cookie: Option<String>,
}

/// Starts the session for `done` from `browser`, ending the browser's previous one.
pub async fn complete(
    env: Env<'_>,
    browser: &Browser,
    done: Completion,
) -> Result<SignedIn, SignInError> {
    let (token, session) = sessions::start_at(
        env.store,
        env.sessions,
        NewSession {
            user_id: done.user_id,
            amr: done.amr,
            ip: browser.origin.ip.clone(),
            user_agent: browser.user_agent.clone(),
            replaces: browser.session_cookie.clone(),
        },
        done.auth_time,
    )
    .await?;
    // The session exists already: a failure to reset the failure counts is not worth an
    // error page (they only ever err on the side of caution).
    if let Err(e) = lockout::signed_in(env.store, &session.user.id, &browser.origin).await {
        tracing::warn!(error = %e, "could not reset the sign-in failure counts");
    }
    if let (Some(request), None) = (&done.for_request, done.auth_time) {
        // This sign-in answers that authorization request's prompt=login / max_age. A
        // step-up does not: a second factor alone is no fresh authentication.
        crate::oauth::authorize::mark_authenticated(env.store, request, &session.sid).await?;
    }
    let device_cookie = note_device(env, browser, &session).await;
    Ok(SignedIn {
        token,
        session,
        device_cookie,
    })
}

/// Records the browser's device and tells the owner of an account signed in to from a new
/// one. Never fails the sign-in: a failure is logged instead.
async fn note_device(env: Env<'_>, browser: &Browser, session: &ActiveSession) -> Option<String> {
    let user = &session.user;
    let notice = {
        let (issuer, user) = (env.issuer.to_owned(), user.clone());
        let (ip, agent) = (browser.origin.ip.clone(), browser.user_agent.clone());
        move || {
            notices::new_device_sign_in(
                &issuer,
                &user,
                ip.as_deref(),
                agent.as_deref(),
                crate::time::now(),
            )
        }
    };
    let device = browser.origin.device.as_deref();
    let sighting = match devices::sighted(env.store, &user.id, device, notice).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "could not record the sign-in device");
            return None;
        }
    };
    Some(sighting.cookie)
}
