//! Proving again who you are before a sensitive change to your own account (removing a
//! sign-in method): a session alone may be a borrowed, unlocked browser. A wrong password
//! here counts as a failed sign-in, so lock-out applies and guessing through this door is no
//! cheaper than through the login form.

use super::{AccountError, LockoutPolicy};
use crate::crypto::password::{PasswordHasher, Verification};
use crate::crypto::SecretString;
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
