//! Self-registration with email confirmation (off unless `signup.enabled`).
//!
//! Invariants: the answer to a sign-up is the same whether or not the email address already
//! belongs to an account (the owner of an existing address is told by mail instead); the
//! confirmation link carries a 256-bit token stored as SHA-256, single use, valid
//! `signup.verification_lifetime_secs`; until the address is confirmed the account may sign
//! in only if `signup.allow_unverified_sign_in`.

use serde_json::json;

use super::{insert_prepared, prepare, AccountError, NewUser, PasswordPolicy};
use crate::audit::{self, Actor, Event};
use crate::crypto::password::PasswordHasher;
use crate::crypto::{random, token};
use crate::store::users::{self, UserRow};
use crate::store::{self, tokens, Store, StoreError};

pub const PURPOSE: &str = "email_verify";

/// What happened, for the caller to mail; the visitor sees the same page either way.
pub enum Outcome {
    /// A new account and its confirmation token.
    Created(UserRow, String),
    /// The address already has an account (whose owner should be told).
    EmailTaken(UserRow),
}

pub async fn sign_up(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    new: NewUser,
    lifetime_secs: i64,
    ip: Option<String>,
) -> Result<Outcome, AccountError> {
    let prepared = prepare(
        hasher,
        policy,
        NewUser {
            admin: false,
            ..new
        },
    )
    .await?
    .pending_signup();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let row = prepared.row().clone();
                if let Some(existing) = users::find_by_email(c, &row.email)? {
                    return Ok(Outcome::EmailTaken(existing));
                }
                insert_prepared(c, &prepared, &Actor::Anonymous)?;
                let token = random::secret_token();
                let now = crate::time::now();
                tokens::insert(
                    c,
                    &token::hash(&token),
                    PURPOSE,
                    Some(&row.id),
                    now,
                    now + lifetime_secs,
                )?;
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
                Ok(Outcome::Created(row, token))
            })
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
