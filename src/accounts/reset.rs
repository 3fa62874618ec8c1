//! Password reset by email.
//!
//! Invariants: the request answers the same whether or not the address belongs to an
//! account, and beyond the limits of `[limits]` (then nothing is sent); an unconfirmed
//! self-registration gets its confirmation link again instead of a reset link; the link
//! carries a 256-bit random token stored only as SHA-256, valid
//! `reset.token_lifetime_secs`, single use (consumed in the transaction that sets the new
//! password), and invalidated by any password change; a completed reset ends every session
//! and revokes every grant of the user, clears a lock-out, and kills pending email-change
//! links. Every mail (the link, the re-sent confirmation, the "password changed" notice) is
//! queued in the transaction that issues or consumes its token.

use serde_json::json;

use super::{find_login, AccountError, PasswordPolicy};
use crate::audit::{self, Actor, Event};
use crate::crypto::password::PasswordHasher;
use crate::crypto::{random, token, SecretString};
use crate::limits::Limits;
use crate::mail::{notices, outbox};
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

/// Looks the login up (an address or a username, see [`super::names`]) and mails the link
/// (links under `issuer`). Nothing is sent for an unknown or disabled account and beyond a
/// limit (per client address, and per recipient address); the caller must answer the same
/// in every case. An account whose self-registration is unconfirmed gets a fresh
/// confirmation link instead (a reset would not help, and the owner may have lost the
/// first mail).
pub async fn request(
    store: &Store,
    limits: &Limits,
    login: &str,
    lifetimes: Lifetimes,
    issuer: &str,
    ip: Option<String>,
) -> Result<(), StoreError> {
    let (login, issuer) = (login.to_owned(), issuer.to_owned());
    let limits = *limits;
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if !limits.mail_request(c, ip.as_deref())? {
                    return Ok(());
                }
                let Some(user) = find_login(c, &login)?.filter(|u| !u.disabled) else {
                    return Ok(());
                };
                if !limits.mail_to(c, &user.email)? {
                    return Ok(());
                }
                if user.signup_pending {
                    let token = super::signup::issue_confirmation(c, &user.id, lifetimes.confirm)?;
                    audit::record(
                        c,
                        Event {
                            action: "signup.confirmation_resent",
                            actor: &Actor::Anonymous,
                            target: Some(&user.id),
                            ip: ip.as_deref(),
                            detail: json!({}),
                        },
                    )?;
                    let link = format!("{issuer}/signup/confirm?token={token}");
                    let hours = (lifetimes.confirm + 3599) / 3600;
                    return outbox::raise(
                        c,
                        notices::signup_confirm(&user.username, &user.email, &link, hours),
                    );
                }
                let token = random::secret_token();
                let now = crate::time::now();
                tokens::insert(
                    c,
                    &token::hash(&token),
                    PURPOSE,
                    Some(&user.id),
                    now,
                    now + lifetimes.reset,
                )?;
                audit::record(
                    c,
                    Event {
                        action: "password_reset.requested",
                        actor: &Actor::Anonymous,
                        target: Some(&user.id),
                        ip: ip.as_deref(),
                        detail: json!({}),
                    },
                )?;
                let link = format!("{issuer}/reset/confirm?token={token}");
                let minutes = (lifetimes.reset + 59) / 60;
                outbox::raise(
                    c,
                    notices::password_reset(&user.username, &user.email, &link, minutes),
                )
            })
        })
        .await
}

/// Link lifetimes for [`request`], in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A reset link (`reset.token_lifetime_secs`).
    pub reset: i64,
    /// A re-sent confirmation link (`signup.verification_lifetime_secs`).
    pub confirm: i64,
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

/// The new password, typed twice.
pub struct NewPassword {
    pub password: SecretString,
    pub confirm: SecretString,
}

/// Sets the new password with the link's token and tells the account's address (links
/// under `issuer`).
pub async fn complete(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    reset_token: &str,
    NewPassword {
        password: new,
        confirm,
    }: NewPassword,
    issuer: &str,
    ip: Option<String>,
) -> Result<(), ResetError> {
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
    let issuer = issuer.to_owned();
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
                let notice =
                    notices::password_changed(&issuer, &user.username, &user.email, ip.as_deref());
                Ok(outbox::raise(c, notice)?)
            })
        })
        .await
}
