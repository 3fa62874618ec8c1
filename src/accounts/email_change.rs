//! Changing the email address of an account, proven by a link sent to the new address.
//!
//! Invariants: only the holder of the current password may ask (so a borrowed session
//! cannot move the account, and a wrong password counts as a failed sign-in, as on the
//! password form); the link carries a 256-bit random token stored only as SHA-256, bound
//! to the user and to the new address (the token's payload), valid [`LIFETIME_SECS`],
//! single use; a new request replaces the user's earlier pending links, and any password
//! change or reset kills them. Whether the new address belongs to another account never
//! shows in the answer to the requester: that account's owner is told by mail instead, and
//! the requester's state changes the same way (earlier links die) in both cases. The
//! address changes only when the link is confirmed with a POST, and only if it is still
//! free then. Mail drawn to the new address counts against `limits.mails_per_address`.
//! Every mail is queued in the transaction that issues the link or makes the change.

use serde_json::json;

use super::{lockout, normalize_email, AccountError, Lockout, Origin};
use crate::audit::{self, Actor, Event};
use crate::crypto::password::PasswordHasher;
use crate::crypto::{random, token, SecretString};
use crate::limits::Limits;
use crate::mail::{notices, outbox};
use crate::store::users::{self, UserRow};
use crate::store::{self, tokens, Store, StoreError};

pub const PURPOSE: &str = "email_change";

/// How long a confirmation link stays usable: a day, as mail can be slow to be read.
pub const LIFETIME_SECS: i64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("Your account has no password, so its address cannot be changed here. Ask an administrator to change it.")]
    NoPassword,
    #[error("That is already your address.")]
    SameAddress,
    #[error("The current password is not correct.")]
    WrongPassword,
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<StoreError> for RequestError {
    fn from(e: StoreError) -> Self {
        RequestError::Account(AccountError::Store(e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("this link is invalid, expired or already used")]
    InvalidToken,
    #[error("That address now belongs to another account, so your address was not changed.")]
    AddressTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An unused link: whose it is and the address it would set.
pub struct Pending {
    pub user: UserRow,
    pub new_email: String,
}

/// A completed change.
pub struct Changed {
    pub user: UserRow,
    pub old_email: String,
}

/// Checks the request of the signed-in `user` and mails a link (under `issuer`) to the new
/// address, and a notice of the request to the current one. When the new address belongs
/// to another account, its owner is told instead of a link being sent; when it has had its
/// share of mail (`limits.mails_per_address`), nothing is sent. The requester cannot tell
/// these apart. (Two independent guards, the sign-in lock-out and the mail limits, make
/// the eighth argument.)
#[allow(clippy::too_many_arguments)]
pub async fn request(
    store: &Store,
    hasher: &PasswordHasher,
    lockout: &Lockout,
    limits: &Limits,
    user: &UserRow,
    new_email: &str,
    current_password: SecretString,
    issuer: &str,
    origin: Origin,
) -> Result<(), RequestError> {
    let (ip, issuer) = (origin.ip.clone(), issuer.to_owned());
    if user.password_hash.is_none() {
        return Err(RequestError::NoPassword);
    }
    let new_email = normalize_email(new_email)?;
    if new_email == user.email {
        return Err(RequestError::SameAddress);
    }
    if let Some(ip) = &ip {
        if lockout::ip_blocked(store, ip).await? {
            return Err(AccountError::TooManyAttempts.into());
        }
    }
    if !super::reauth::confirm_password(store, hasher, lockout, user, current_password, origin)
        .await?
    {
        return Err(RequestError::WrongPassword);
    }
    let now = crate::time::now();
    let user = user.clone();
    let limits = *limits;
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                tokens::delete_for_user(c, &user.id, PURPOSE)?;
                let owner = users::find_by_email(c, &new_email)?;
                audit::record(
                    c,
                    Event {
                        action: "user.email_change_requested",
                        actor: &Actor::User(user.id.clone()),
                        target: Some(&user.id),
                        ip: ip.as_deref(),
                        detail: json!({}),
                    },
                )?;
                // Any account can name any address: bound the mail it draws there.
                if !limits.mail_to(c, &new_email)? {
                    return Ok(());
                }
                // The current address hears of the request either way, so that mailbox
                // cannot tell whether the new address is taken.
                let requested = notices::email_change_requested(&issuer, &user, &new_email);
                if let Some(owner) = owner {
                    outbox::raise(c, notices::email_in_use(&issuer, &owner))?;
                    return Ok(outbox::raise(c, requested)?);
                }
                let token = random::secret_token();
                tokens::insert_with_payload(
                    c,
                    &token::hash(&token),
                    PURPOSE,
                    Some(&user.id),
                    Some(&new_email),
                    now,
                    now + LIFETIME_SECS,
                )?;
                let link = format!("{issuer}/account/email/confirm?token={token}");
                let hours = LIFETIME_SECS / 3600;
                outbox::raise(
                    c,
                    notices::email_change_link(&user, &new_email, &link, hours),
                )?;
                Ok(outbox::raise(c, requested)?)
            })
        })
        .await
}

/// The change a live link would make, without using the link (a GET must not: mail
/// scanners follow links).
pub async fn pending(store: &Store, link_token: &str) -> Result<Option<Pending>, StoreError> {
    if !token::is_well_formed(link_token) {
        return Ok(None);
    }
    let hash = token::hash(link_token);
    store
        .run(move |c| {
            let Some(row) = tokens::find_valid(c, &hash, PURPOSE, crate::time::now())? else {
                return Ok(None);
            };
            let (Some(user_id), Some(new_email)) = (row.user_id, row.payload) else {
                return Ok(None);
            };
            Ok(users::find_by_id(c, &user_id)?
                .filter(|u| !u.disabled)
                .map(|user| Pending { user, new_email }))
        })
        .await
}

/// Uses the link and sets the address, telling the old address. On any error nothing
/// changes, not even the link.
pub async fn confirm(
    store: &Store,
    link_token: &str,
    ip: Option<String>,
) -> Result<Changed, ConfirmError> {
    if !token::is_well_formed(link_token) {
        return Err(ConfirmError::InvalidToken);
    }
    let hash = token::hash(link_token);
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                let row = tokens::consume(c, &hash, PURPOSE, now)?;
                let (Some(user_id), Some(new_email)) =
                    row.map(|r| (r.user_id, r.payload)).unwrap_or((None, None))
                else {
                    return Err(ConfirmError::InvalidToken);
                };
                let user = users::find_by_id(c, &user_id)?
                    .filter(|u| !u.disabled)
                    .ok_or(ConfirmError::InvalidToken)?;
                if users::find_by_email(c, &new_email)?.is_some_and(|o| o.id != user.id) {
                    return Err(ConfirmError::AddressTaken);
                }
                // Another account may have taken the address since the check above.
                users::set_verified_email(c, &user.id, &new_email, now).map_err(|e| match e {
                    StoreError::Conflict(_) => ConfirmError::AddressTaken,
                    other => ConfirmError::Store(other),
                })?;
                tokens::delete_for_user(c, &user.id, PURPOSE)?;
                audit::record(
                    c,
                    Event {
                        action: "user.email_changed",
                        actor: &Actor::User(user.id.clone()),
                        target: Some(&user.id),
                        ip: ip.as_deref(),
                        detail: json!({}),
                    },
                )?;
                let updated = users::find_by_id(c, &user.id)?.ok_or(StoreError::NotFound)?;
                outbox::raise(
                    c,
                    notices::email_changed(&updated, &user.email, ip.as_deref()),
                )?;
                Ok(Changed {
                    user: updated,
                    old_email: user.email,
                })
            })
        })
        .await
}
