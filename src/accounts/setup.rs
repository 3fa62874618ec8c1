//! The first administrator. When no user holds the admin role, start-up issues a one-time
//! setup link (256-bit random token, stored as SHA-256, valid for `setup.token_lifetime_secs`,
//! single use). Each start without an administrator replaces the previous link.

use serde_json::json;

use super::{insert_prepared, prepare, AccountError, NewUser, PasswordPolicy};
use crate::audit::{self, Actor, Event};
use crate::crypto::password::PasswordHasher;
use crate::crypto::token;
use crate::store::users::UserRow;
use crate::store::{self, roles, tokens, DbConn, Store, StoreError};

pub const PURPOSE: &str = "setup";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("this setup link is invalid, expired or already used")]
    InvalidToken,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<StoreError> for SetupError {
    fn from(e: StoreError) -> Self {
        SetupError::Account(AccountError::Store(e))
    }
}

/// Issues a fresh setup token if no administrator exists; returns it (the only time the
/// plain token exists outside the operator's console).
pub fn issue_if_needed(
    conn: &mut DbConn,
    lifetime_secs: u64,
) -> Result<Option<String>, StoreError> {
    store::transaction(conn, |c| {
        if roles::count_members(c, roles::SUPER_ADMIN, crate::time::now())? > 0 {
            return Ok(None);
        }
        tokens::delete_purpose(c, PURPOSE)?;
        let token = crate::crypto::random::secret_token();
        let now = crate::time::now();
        tokens::insert(
            c,
            &token::hash(&token),
            PURPOSE,
            None,
            now,
            now.saturating_add(crate::time::secs(lifetime_secs)),
        )?;
        Ok(Some(token))
    })
}

pub async fn is_valid(store: &Store, token: &str) -> Result<bool, StoreError> {
    if !token::is_well_formed(token) {
        return Ok(false);
    }
    let hash = token::hash(token);
    store
        .run(move |c| tokens::is_valid(c, &hash, PURPOSE, crate::time::now()))
        .await
}

/// Creates the first administrator. The token is consumed in the same transaction that
/// inserts the user, so a failed insert (say, a bad username) leaves the link usable, and
/// two concurrent submissions cannot both succeed.
pub async fn complete(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    token: &str,
    mut new: NewUser,
    ip: Option<String>,
) -> Result<UserRow, SetupError> {
    if !is_valid(store, token).await? {
        return Err(SetupError::InvalidToken);
    }
    new.admin = true;
    let prepared = prepare(hasher, policy, new).await?;
    let hash = token::hash(token);
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if tokens::consume(c, &hash, PURPOSE, crate::time::now())?.is_none()
                    || roles::count_members(c, roles::SUPER_ADMIN, crate::time::now())? > 0
                {
                    return Err(SetupError::InvalidToken);
                }
                insert_prepared(c, &prepared, &Actor::Setup)?;
                audit::record(
                    c,
                    Event {
                        action: "setup.completed",
                        actor: &Actor::Setup,
                        target: Some(&prepared.row.id),
                        ip: ip.as_deref(),
                        detail: json!({}),
                    },
                )?;
                Ok(prepared.row)
            })
        })
        .await
}
