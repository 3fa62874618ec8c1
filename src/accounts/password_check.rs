//! Checking an account's password under the lock-out rules (see `lockout`): the one path
//! for the login form and for proving the password again on the account pages.
//!
//! Order: the attempt's source is resolved; it is admitted (an unknown source past the
//! account-wide ceiling needs the account's slot, and the source must not be locked out)
//! or refused unchecked; only then is the password verified, and the reservation given
//! back if it was right. Every refusal costs one argon2 verification, against a dummy hash
//! when nothing is to be checked, and nothing waits, so the timing says no more than the
//! answer: a refused attempt on a known account takes as long as one on an unknown name.

use super::lockout::{self, Admission, Failed, Lockout, Origin};
use super::AccountError;
use crate::crypto::password::{PasswordHasher, Verification};
use crate::crypto::SecretString;
use crate::store::users::{self, UserRow};
use crate::store::{self, Store, StoreError};

/// The verdict on a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    Right { needs_rehash: bool },
    Wrong,
}

/// Checks `password` for `user` from `origin`. With `throttle_address`, an address over its
/// failure budget is refused with [`AccountError::TooManyAttempts`] unless the browser is
/// one the account knows.
pub(crate) async fn check_password(
    store: &Store,
    hasher: &PasswordHasher,
    lockout: &Lockout,
    user: &UserRow,
    password: SecretString,
    origin: &Origin,
    throttle_address: bool,
) -> Result<Checked, AccountError> {
    let (user_id, o) = (user.id.clone(), origin.clone());
    let (current, source, blocked) = store
        .run(move |c| {
            let current = users::find_by_id(c, &user_id)?;
            let source = lockout::source_for(c, &user_id, &o)?;
            let blocked =
                !source.is_known_device() && lockout::address_blocked(c, &o, crate::time::now())?;
            Ok::<_, StoreError>((current, source, blocked))
        })
        .await?;
    if throttle_address && blocked {
        return Err(AccountError::TooManyAttempts);
    }
    let Some(current) = current else {
        hasher.verify(password, None).await?;
        return Ok(Checked::Wrong);
    };
    let Some(hash) = current.password_hash.clone() else {
        // Nothing to guess: refused, counted against the address only, never the account
        // (whose passkeys are not affected by password failures anyway).
        hasher.verify(password, None).await?;
        fail(store, lockout, Some(current), None, origin).await?;
        return Ok(Checked::Wrong);
    };
    let (policy, user_id) = (lockout.policy, current.id.clone());
    let admission = store
        .run(move |conn| {
            store::transaction(conn, |c| {
                lockout::admit(c, &policy, &user_id, &source, crate::time::now())
            })
        })
        .await?;
    let Admission::Admitted(ticket) = admission else {
        hasher.verify(password, None).await?;
        fail(store, lockout, Some(current), Some(admission), origin).await?;
        return Ok(Checked::Wrong);
    };
    match hasher.verify(password, Some(hash)).await? {
        Verification::Match { needs_rehash } => {
            let user_id = current.id.clone();
            store
                .run(move |conn| {
                    store::transaction(conn, |c| lockout::release(c, &user_id, &ticket))
                })
                .await?;
            Ok(Checked::Right { needs_rehash })
        }
        _ => {
            let admitted = Admission::Admitted(ticket);
            fail(store, lockout, Some(current), Some(admitted), origin).await?;
            Ok(Checked::Wrong)
        }
    }
}

/// Records a wrong password: `attempt` is the admitted (checked) or refused attempt, or
/// `None` for one that does not concern the account. A burst notice commits with the
/// failure.
pub(crate) async fn fail(
    store: &Store,
    lockout: &Lockout,
    user: Option<UserRow>,
    attempt: Option<Admission>,
    origin: &Origin,
) -> Result<(), StoreError> {
    let (lockout, ip) = (lockout.clone(), origin.ip.clone());
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let failed = attempt
                    .as_ref()
                    .map_or(Failed::Uncounted, Admission::as_failure);
                lockout::record_failure(
                    c,
                    &lockout,
                    user.as_ref(),
                    failed,
                    ip.as_deref(),
                    "pwd",
                    crate::time::now(),
                )
            })
        })
        .await
}
