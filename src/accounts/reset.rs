//! Password reset by email.
//!
//! Invariants: the request answers the same whether or not the address belongs to an
//! account; the link carries a 256-bit random token stored only as SHA-256, valid
//! `reset.token_lifetime_secs`, single use (consumed in the transaction that sets the new
//! password), and invalidated by any password change; a completed reset ends every session
//! and revokes every grant of the user, clears a lock-out, and kills pending email-change
//! links.

use serde_json::json;

use super::{find_login, AccountError, PasswordPolicy};
use crate::audit::{self, Actor, Event};
use crate::crypto::password::PasswordHasher;
use crate::crypto::{random, token, SecretString};
use crate::store::users::{self, UserRow};
use crate::store::{self, grants, sessions, tokens, Store, StoreError};

pub const PURPOSE: &str = "password_reset";

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("this reset link is invalid, expired or already used")]
    InvalidToken,
    #[error("The two passwords do not match.")]
    Mismatch,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<StoreError> for ResetError {
    fn from(e: StoreError) -> Self {
        ResetError::Account(AccountError::Store(e))
    }
}

/// For a known, enabled account: a fresh reset token and the account (to mail it to).
/// `None` otherwise; the caller must answer the same in both cases.
pub async fn request(
    store: &Store,
    login: &str,
    lifetime_secs: i64,
) -> Result<Option<(UserRow, String)>, StoreError> {
    let login = login.to_owned();
    store
        .run(move |conn| {
            let Some(user) = find_login(conn, &login)?.filter(|u| !u.disabled) else {
                return Ok(None);
            };
            let token = random::secret_token();
            let now = crate::time::now();
            store::transaction(conn, |c| {
                tokens::insert(
                    c,
                    &token::hash(&token),
                    PURPOSE,
                    Some(&user.id),
                    now,
                    now + lifetime_secs,
                )?;
                audit::record(
                    c,
                    Event {
                        action: "password_reset.requested",
                        actor: &Actor::Anonymous,
                        target: Some(&user.id),
                        ip: None,
                        detail: json!({}),
                    },
                )
            })?;
            Ok(Some((user, token)))
        })
        .await
}

/// The account a live reset token belongs to.
pub async fn user_for(store: &Store, reset_token: &str) -> Result<Option<UserRow>, StoreError> {
    if !token::is_well_formed(reset_token) {
        return Ok(None);
    }
    let hash = token::hash(reset_token);
    store
        .run(move |c| {
            let Some(row) = tokens::find_valid(c, &hash, PURPOSE, crate::time::now())? else {
                return Ok(None);
            };
            match row.user_id {
                Some(id) => Ok(users::find_by_id(c, &id)?.filter(|u| !u.disabled)),
                None => Ok(None),
            }
        })
        .await
}

pub async fn complete(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    reset_token: &str,
    new: SecretString,
    confirm: SecretString,
    ip: Option<String>,
) -> Result<UserRow, ResetError> {
    let user = user_for(store, reset_token)
        .await?
        .ok_or(ResetError::InvalidToken)?;
    if new != confirm {
        return Err(ResetError::Mismatch);
    }
    policy
        .check(new.expose(), &[&user.username, &user.email])
        .map_err(AccountError::from)?;
    let hash = hasher.hash(new).await.map_err(AccountError::from)?;
    let token_hash = token::hash(reset_token);
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                let consumed = tokens::consume(c, &token_hash, PURPOSE, now)?;
                if consumed.and_then(|t| t.user_id).as_deref() != Some(user.id.as_str()) {
                    return Err(ResetError::InvalidToken);
                }
                users::set_password_hash(c, &user.id, &hash, now)?;
                users::set_failures(c, &user.id, 0, None)?;
                // Guesses were against the old password: every source starts over, so an
                // owner who shares an address with a guesser is not kept out after a reset.
                crate::store::login_sources::clear_all(c, &user.id)?;
                tokens::delete_for_user(c, &user.id, PURPOSE)?;
                // An email change asked for under the old password must not outlive it.
                tokens::delete_for_user(c, &user.id, super::email_change::PURPOSE)?;
                let ended = sessions::delete_for_user(c, &user.id)?;
                crate::store::challenges::delete_for_user(c, &user.id)?;
                let revoked = grants::revoke_all_for_user(c, &user.id, now)?;
                audit::record(
                    c,
                    Event {
                        action: "user.password_reset",
                        actor: &Actor::User(user.id.clone()),
                        target: Some(&user.id),
                        ip: ip.as_deref(),
                        detail: json!({ "sessions_ended": ended, "grants_revoked": revoked }),
                    },
                )?;
                Ok(user)
            })
        })
        .await
}
