//! Proving again who you are before a sensitive change to your own account (removing a
//! sign-in method): a session alone may be a borrowed, unlocked browser. A wrong password
//! here counts as a failed sign-in, so lock-out applies and guessing through this door is no
//! cheaper than through the login form.

use super::lockout::{Lockout, Origin};
use super::password_check::{check_password, Checked};
use super::AccountError;
use crate::crypto::password::PasswordHasher;
use crate::crypto::SecretString;
use crate::sessions::ActiveSession;
use crate::store::users::UserRow;
use crate::store::Store;

/// Whether `password` is `user`'s current password (and `origin` is not locked out of the
/// account).
pub async fn confirm_password(
    store: &Store,
    hasher: &PasswordHasher,
    lockout: &Lockout,
    user: &UserRow,
    password: SecretString,
    origin: Origin,
) -> Result<bool, AccountError> {
    let checked = check_password(store, hasher, lockout, user, password, &origin, false).await?;
    Ok(matches!(checked, Checked::Right { .. }))
}

/// How long after signing in a session counts as freshly authenticated.
pub const RECENT_SECS: i64 = 300;

/// Whether the session signed in within the last [`RECENT_SECS`] (with every factor it
/// needed): then a sensitive change needs no further proof. `auth_time` is the time of the
/// first factor: a step-up (a second factor added to an existing session) keeps the
/// session's, so a second factor alone never makes a sign-in recent.
pub fn is_recent(session: &ActiveSession, now: i64) -> bool {
    now - session.auth_time <= RECENT_SECS
}

/// A fresh authentication for adding a sign-in method: a recent sign-in, or else the
/// current password (counted like a sign-in when wrong). An account without a password
/// must sign in again.
pub async fn confirm_fresh(
    store: &Store,
    hasher: &PasswordHasher,
    lockout: &Lockout,
    session: &ActiveSession,
    password: Option<SecretString>,
    origin: Origin,
) -> Result<bool, AccountError> {
    if is_recent(session, crate::time::now()) {
        return Ok(true);
    }
    match password {
        Some(p) if session.user.password_hash.is_some() => {
            confirm_password(store, hasher, lockout, &session.user, p, origin).await
        }
        _ => Ok(false),
    }
}
