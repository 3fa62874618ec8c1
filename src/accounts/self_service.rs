//! What a signed-in user can do to their own account: change the password (which ends
//! their other sessions and revokes every token issued to applications on their behalf, as
//! a changed password usually means a suspected compromise) and end sessions.

use serde_json::json;

use super::{AccountError, Lockout, Origin, PasswordPolicy};
use crate::audit::{self, Actor, Event};
use crate::crypto::password::PasswordHasher;
use crate::crypto::SecretString;
use crate::mail::{notices, outbox};
use crate::sessions::ActiveSession;
use crate::store::sessions::SessionRow;
use crate::store::{self, grants, sessions, users, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("The current password is not correct.")]
    WrongCurrent,
    #[error("The new passwords do not match.")]
    Mismatch,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        ChangeError::Account(AccountError::Store(e))
    }
}

pub struct PasswordChange {
    pub current: SecretString,
    pub new: SecretString,
    pub confirm: SecretString,
}

/// Changes the password of the session's user. A wrong current password counts as a
/// failed sign-in (lock-out applies).
#[allow(clippy::too_many_arguments)]
pub async fn change_password(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    lockout: &Lockout,
    session: &ActiveSession,
    change: PasswordChange,
    issuer: &str,
    origin: Origin,
) -> Result<(), ChangeError> {
    let (ip, issuer) = (origin.ip.clone(), issuer.to_owned());
    if change.new != change.confirm {
        return Err(ChangeError::Mismatch);
    }
    let user = session.user.clone();
    if !super::reauth::confirm_password(store, hasher, lockout, &user, change.current, origin)
        .await?
    {
        return Err(ChangeError::WrongCurrent);
    }
    let now = crate::time::now();
    policy
        .check(change.new.expose(), &[&user.username, &user.email])
        .map_err(AccountError::from)?;
    let hash = hasher.hash(change.new).await.map_err(AccountError::from)?;
    let keep = session.id_hash.clone();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                users::set_password_hash(c, &user.id, &hash, now)?;
                users::set_failures(c, &user.id, 0, None)?;
                let ended = sessions::delete_others(c, &user.id, &keep)?;
                crate::store::challenges::delete_for_user(c, &user.id)?;
                // Outstanding reset and email-change links die with the old password.
                crate::store::tokens::delete_for_user(c, &user.id, super::reset::PURPOSE)?;
                crate::store::tokens::delete_for_user(c, &user.id, super::email_change::PURPOSE)?;
                let revoked = grants::revoke_all_for_user(c, &user.id, now)?;
                audit::record(
                    c,
                    Event {
                        action: "user.password_changed",
                        actor: &Actor::User(user.id.clone()),
                        target: Some(&user.id),
                        ip: ip.as_deref(),
                        detail: json!({ "sessions_ended": ended, "grants_revoked": revoked }),
                    },
                )?;
                let notice =
                    notices::password_changed(&issuer, &user.username, &user.email, ip.as_deref());
                outbox::raise(c, notice)
            })
        })
        .await?;
    Ok(())
}

pub async fn list_sessions(store: &Store, user_id: &str) -> Result<Vec<SessionRow>, StoreError> {
    let id = user_id.to_owned();
    store.run(move |c| sessions::list_for_user(c, &id)).await
}

/// Ends one of the user's sessions by its public id; true if it existed.
pub async fn end_session(
    store: &Store,
    user_id: &str,
    sid: &str,
    ip: Option<String>,
) -> Result<bool, StoreError> {
    let (user_id, sid) = (user_id.to_owned(), sid.to_owned());
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let ended = sessions::delete_by_sid(c, &user_id, &sid)?;
                if ended {
                    crate::sessions::record_ended(
                        c,
                        &user_id,
                        ip.as_deref(),
                        "ended from the account page",
                    )?;
                }
                Ok(ended)
            })
        })
        .await
}
