//! Self-registration with email confirmation (off unless `signup.enabled`).
//!
//! Invariants:
//! - The answer to a sign-up is the same whether or not the email address or the username
//!   is taken: only the address learns what happened, by mail. A taken address tells its
//!   owner that someone tried; a taken username tells the person at the new address that
//!   they must choose another one (so learning that a name exists takes a mailbox, and
//!   costs one of that address's mails in `[limits]`).
//! - The confirmation link carries a 256-bit token stored as SHA-256, single use, valid
//!   `signup.verification_lifetime_secs`; until the address is confirmed the account may
//!   sign in only if `signup.allow_unverified_sign_in`.
//! - An account still unconfirmed `signup.unconfirmed_lifetime_secs` after sign-up is
//!   deleted by [`purge_unconfirmed`] (audited), which frees its address and username.
//! - Sign-ups from one client address and mail to one address are bounded
//!   ([`crate::limits`]); beyond a bound nothing is created and nothing is sent.
//! - Every mail is queued in the transaction that decides it.

use serde_json::json;

use super::{insert_prepared, names, prepare, validate, AccountError, NewUser, PasswordPolicy};
use crate::audit::{self, Actor, Event};
use crate::crypto::password::PasswordHasher;
use crate::crypto::{random, token};
use crate::limits::Limits;
use crate::mail::{notices, outbox};
use crate::store::users::{self, UserRow};
use crate::store::{self, tokens, DbConn, Store, StoreError};

pub const PURPOSE: &str = "email_verify";

/// Where a confirmation link points and how long it lives.
#[derive(Debug, Clone, Copy)]
pub struct ConfirmLink<'a> {
    /// The links are under it.
    pub issuer: &'a str,
    /// `signup.verification_lifetime_secs`.
    pub lifetime_secs: i64,
}

/// Signs a visitor up and mails what happened (links under `link.issuer`): a new account gets
/// its confirmation link, a taken address tells its owner, a taken username tells the
/// address to pick another; over a limit nothing is created or sent. The visitor sees the
/// same page every time, so the caller learns nothing either.
pub async fn sign_up(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    limits: &Limits,
    new: NewUser,
    link: ConfirmLink<'_>,
    ip: Option<String>,
) -> Result<(), AccountError> {
    let (issuer, lifetime_secs) = (link.issuer.to_owned(), link.lifetime_secs);
    let new = NewUser {
        admin: false,
        ..new
    };
    validate(policy, &new)?;
    // Counted before the password hash is spent on the request.
    let (limits, source) = (*limits, ip.clone());
    let allowed = store
        .run(move |c| limits.mail_request(c, source.as_deref()))
        .await?;
    if !allowed {
        return Ok(());
    }
    let prepared = prepare(hasher, policy, new).await?.pending_signup();
    let outcome = store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let row = prepared.row().clone();
                let existing = users::find_by_email(c, &row.email)?;
                let name_taken = existing.is_none() && names::is_taken(c, &row.username)?;
                if !limits.mail_to(c, &row.email)? {
                    return Ok(());
                }
                if let Some(existing) = existing {
                    let notice =
                        notices::signup_existing(&issuer, &existing.username, &existing.email);
                    return Ok(outbox::raise(c, notice)?);
                }
                if name_taken {
                    let notice = notices::signup_username_taken(&issuer, &row.username, &row.email);
                    return Ok(outbox::raise(c, notice)?);
                }
                insert_prepared(c, &prepared, &Actor::Anonymous)?;
                let token = issue_confirmation(c, &row.id, lifetime_secs)?;
                audit::record(
                    c,
                    Event {
                        action: "user.signed_up",
                        actor: &Actor::Anonymous,
                        target: Some(&row.id),
                        ip: ip.as_deref(),
                        detail: json!({}),
                    },
                )?;
                let link = format!("{issuer}/signup/confirm?token={token}");
                let hours = (lifetime_secs + 3599) / 3600;
                let notice = notices::signup_confirm(&row.username, &row.email, &link, hours);
                Ok(outbox::raise(c, notice)?)
            })
        })
        .await;
    match outcome {
        // Another sign-up took the name between the check and the insert: the same
        // answer as a taken name, without its mail (that counter rolled back with it).
        Err(AccountError::UsernameTaken) => Ok(()),
        other => other,
    }
}

/// A fresh confirmation token for a self-registered account; call inside a transaction.
pub(super) fn issue_confirmation(
    c: &mut DbConn,
    user_id: &str,
    lifetime_secs: i64,
) -> Result<String, StoreError> {
    let token = random::secret_token();
    let now = crate::time::now();
    tokens::insert(
        c,
        &token::hash(&token),
        PURPOSE,
        Some(user_id),
        now,
        now + lifetime_secs,
    )?;
    Ok(token)
}

/// Deletes self-registered accounts still unconfirmed `lifetime_secs` after sign-up (their
/// tokens, sessions and grants go with them), one audit event each; returns how many.
pub async fn purge_unconfirmed(store: &Store, lifetime_secs: i64) -> Result<usize, StoreError> {
    store
        .run(move |conn| {
            let cutoff = crate::time::now() - lifetime_secs;
            let expired = users::unconfirmed_before(conn, cutoff)?;
            let mut purged = 0;
            for user in expired {
                store::transaction(conn, |c| {
                    // Confirmed in the meantime: kept.
                    if !users::delete_unconfirmed(c, &user.id, cutoff)? {
                        return Ok::<_, StoreError>(());
                    }
                    purged += 1;
                    audit::record(
                        c,
                        Event {
                            action: "user.signup_expired",
                            actor: &Actor::System,
                            target: Some(&user.id),
                            ip: None,
                            detail: json!({ "username": user.username }),
                        },
                    )
                })?;
            }
            Ok(purged)
        })
        .await
}

/// The account a confirmation token would confirm, without using the token: the link's
/// page only shows a button, because mail scanners fetch links (GET or HEAD) before the
/// user does.
pub async fn pending(store: &Store, confirmation: &str) -> Result<Option<UserRow>, StoreError> {
    if !token::is_well_formed(confirmation) {
        return Ok(None);
    }
    let hash = token::hash(confirmation);
    store
        .run(move |c| {
            let now = crate::time::now();
            let Some(user_id) = tokens::find_valid(c, &hash, PURPOSE, now)?.and_then(|t| t.user_id)
            else {
                return Ok(None);
            };
            users::find_by_id(c, &user_id)
        })
        .await
}

/// Confirms the address behind a confirmation token (single use).
pub async fn confirm(store: &Store, confirmation: &str) -> Result<Option<UserRow>, StoreError> {
    if !token::is_well_formed(confirmation) {
        return Ok(None);
    }
    let hash = token::hash(confirmation);
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                let Some(user_id) =
                    tokens::consume(c, &hash, PURPOSE, now)?.and_then(|t| t.user_id)
                else {
                    return Ok(None);
                };
                users::confirm_email(c, &user_id, now)?;
                audit::record(
                    c,
                    Event {
                        action: "user.email_verified",
                        actor: &Actor::User(user_id.clone()),
                        target: Some(&user_id),
                        ip: None,
                        detail: json!({}),
                    },
                )?;
                users::find_by_id(c, &user_id)
            })
        })
        .await
}
