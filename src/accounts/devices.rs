//! Known devices: telling a user when their account is signed in from a browser it has not
//! been signed in from before.
//!
//! Invariants: a browser is recognised by a long-lived random 256-bit cookie, stored only as
//! SHA-256 per user; a cookie that is missing or not one of ours is replaced by a fresh one,
//! while a well-formed one is kept even if unknown to this user, so a browser shared by
//! several accounts keeps one identity. The first device an account ever signs in from is
//! not "new" (there is nobody to warn about it); every later unknown one is. The cookie
//! never signs anyone in; besides the notice it only makes the browser a lock-out source of
//! its own for the accounts that know it (see `lockout`): failures there count against it,
//! not against its address, and it is not slowed by the account-wide ceiling.

use crate::crypto::{random, token};
use crate::mail::{outbox, Mail};
use crate::store::{self, devices, Store, StoreError};

/// What a sign-in learnt about the browser.
pub struct Sighting {
    /// The device cookie's value to (re)set on the response.
    pub cookie: String,
    /// The account has signed in before, but never from this browser: its owner was told.
    pub notify: bool,
}

/// Records a sign-in of `user_id` from the browser holding `cookie` (its device cookie, if
/// any).
pub async fn sighted(
    store: &Store,
    user_id: &str,
    cookie: Option<&str>,
    notice: impl FnOnce() -> Result<Mail, askama::Error> + Send + 'static,
) -> Result<Sighting, StoreError> {
    let cookie = cookie
        .filter(|c| token::is_well_formed(c))
        .map_or_else(random::secret_token, str::to_owned);
    let hash = token::hash(&cookie);
    let user_id = user_id.to_owned();
    let now = crate::time::now();
    // Select-then-insert in one (on SQLite, write-locked) transaction: the shared
    // MultiConnection DSL has no upsert.
    let notify = store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if devices::touch(c, &user_id, &hash, now)? {
                    return Ok(false);
                }
                let known = devices::count_for_user(c, &user_id)?;
                devices::insert(c, &user_id, &hash, now)?;
                if known > 0 {
                    // Queued with the sighting, so the notice and the memory of the browser
                    // commit (or fail) together.
                    outbox::raise(c, notice())?;
                }
                Ok::<_, StoreError>(known > 0)
            })
        })
        .await?;
    Ok(Sighting { cookie, notify })
}
