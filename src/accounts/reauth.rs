//! Proving again who you are before a sensitive change to your own account (removing a
//! sign-in method): a session alone may be a borrowed, unlocked browser. A wrong password
//! here counts as a failed sign-in, so lock-out applies and guessing through this door is no
//! cheaper than through the login form.

use super::{AccountError, LockoutPolicy};
use crate::crypto::password::{PasswordHasher, Verification};
use crate::crypto::SecretString;
use crate::sessions::ActiveSession;
use crate::store::users::UserRow;
use crate::store::{self, Store};

/// Whether `password` is `user`'s current password (and the account is not locked).
pub async fn confirm_password(
    store: &Store,
    hasher: &PasswordHasher,
    lockout: &LockoutPolicy,
    user: &UserRow,
    password: SecretString,
    ip: Option<String>,
) -> Result<bool, AccountError> {
    let verdict = hasher.verify(password, user.password_hash.clone()).await?;
    let now = crate::time::now();
    if matches!(verdict, Verification::Match { .. }) && !super::lockout::is_locked(user, now) {
        return Ok(true);
    }
    let policy = *lockout;
    let user = user.clone();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                super::lockout::record_failure(c, &policy, Some(&user), ip.as_deref(), "pwd", now)
            })
        })
        .await?;
    Ok(false)
}

/// How long after signing in a session counts as freshly authenticated.
pub const RECENT_SECS: i64 = 300;

/// Whether the session signed in within the last [`RECENT_SECS`] (with every factor it
/// needed): then a sensitive change needs no further proof.
pub fn is_recent(session: &ActiveSession, now: i64) -> bool {
    now - session.auth_time <= RECENT_SECS
}

/// A fresh authentication for adding a sign-in method: a recent sign-in, or else the
/// current password (counted like a sign-in when wrong). An account without a password
/// must sign in again.
pub async fn confirm_fresh(
    store: &Store,
    hasher: &PasswordHasher,
    lockout: &LockoutPolicy,
    session: &ActiveSession,
    password: Option<SecretString>,
    ip: Option<String>,
) -> Result<bool, AccountError> {
    if is_recent(session, crate::time::now()) {
        return Ok(true);
    }
    match password {
        Some(p) if session.user.password_hash.is_some() => {
            confirm_password(store, hasher, lockout, &session.user, p, ip).await
        }
        _ => Ok(false),
    }
}
