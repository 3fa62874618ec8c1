//! User accounts: creation, sign-in by password, enabling and disabling, the first
//! administrator's setup link.
//!
//! Invariants: usernames (see [`names`]) and emails are stored normalised and are unique; a password is
//! stored only as an argon2id hash; sign-in failure looks the same whether the account is
//! unknown, disabled, has no password, or the password is wrong (same message, same work).

pub mod devices;
pub mod eligibility;
pub mod email_change;
pub mod lockout;
pub mod names;
mod password_check;
pub mod policy;
pub mod profile;
pub mod reauth;
pub mod reset;
pub mod self_service;
pub mod setup;
pub mod signup;

use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::crypto::password::{PasswordError, PasswordHasher};
use crate::crypto::SecretString;
use crate::store::users::UserRow;
use crate::store::{self, roles, users, Store, StoreError};
pub use lockout::{Lockout, LockoutPolicy, Origin};
pub(crate) use names::find_login;
pub use names::normalize_username;
use password_check::Checked;
pub use policy::{PasswordPolicy, PolicyViolation};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    #[error("invalid email address")]
    InvalidEmail,
    #[error("invalid display name: {0}")]
    InvalidDisplayName(&'static str),
    #[error("{0}")]
    WeakPassword(#[from] PolicyViolation),
    #[error("that username is already taken")]
    UsernameTaken,
    #[error("that email address is already in use")]
    EmailTaken,
    #[error("no such user")]
    UnknownUser,
    /// Deliberately vague: unknown user, wrong password and disabled account look alike.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The right password, but a self-registered account whose address is not confirmed.
    #[error("confirm your email address first: we sent you a link")]
    Unconfirmed,
    /// Too many failed sign-ins from this client address; says nothing about accounts.
    #[error("too many failed sign-in attempts; try again later")]
    TooManyAttempts,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What is needed to create an account.
#[derive(Debug)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `None` creates an account that cannot sign in with a password.
    pub password: Option<SecretString>,
    pub admin: bool,
}

/// A user as listings show it.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub disabled: bool,
    pub has_password: bool,
    /// Global roles held now, by name (what `mfa.required_roles` matches).
    pub roles: Vec<String>,
    /// Roles held now inside an organization, as `role@organization`.
    pub org_roles: Vec<String>,
    pub created_at: i64,
    /// Why the username breaks today's rules (a legacy name, kept as it is), if it does.
    pub username_problem: Option<String>,
}

/// A pragmatic check (one `@`, non-empty parts, a dot-free or dotted domain without
/// spaces); real verification is the link sent to the address.
pub fn normalize_email(raw: &str) -> Result<String, AccountError> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@').ok_or(AccountError::InvalidEmail)?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && !domain.is_empty()
        && email.len() <= 254
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\"[]\\".contains(c));
    if ok {
        Ok(email)
    } else {
        Err(AccountError::InvalidEmail)
    }
}

fn normalize_display_name(raw: Option<String>) -> Result<Option<String>, AccountError> {
    let Some(name) = raw.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > 128 {
        return Err(AccountError::InvalidDisplayName(
            "use at most 128 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AccountError::InvalidDisplayName(
            "control characters are not allowed",
        ));
    }
    Ok(Some(name))
}

/// A validated account, ready to insert: the expensive hash is already computed so the
/// transaction that inserts it stays short.
pub struct PreparedUser {
    row: UserRow,
    admin: bool,
}

/// Every check [`prepare`] makes, without the expensive hash: lets a caller refuse bad
/// input before spending a hash (or a rate-limit hit) on it.
pub fn validate(policy: &PasswordPolicy, new: &NewUser) -> Result<(), AccountError> {
    let username = normalize_username(&new.username)?;
    let email = normalize_email(&new.email)?;
    normalize_display_name(new.display_name.clone())?;
    if let Some(password) = &new.password {
        policy.check(password.expose(), &[&username, &email])?;
    }
    Ok(())
}

/// Validates and hashes; touches no database.
pub async fn prepare(
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    new: NewUser,
) -> Result<PreparedUser, AccountError> {
    let username = normalize_username(&new.username)?;
    let email = normalize_email(&new.email)?;
    let display_name = normalize_display_name(new.display_name)?;
    let password_hash = match new.password {
        Some(password) => {
            policy.check(password.expose(), &[&username, &email])?;
            Some(hasher.hash(password).await?)
        }
        None => None,
    };
    let now = crate::time::now();
    Ok(PreparedUser {
        row: UserRow {
            id: crate::crypto::random::identifier(),
            username,
            email,
            email_verified: false,
            password_hash,
            display_name,
            disabled: false,
            locked_until: None,
            failed_logins: 0,
            created_at: now,
            updated_at: now,
            signup_pending: false,
        },
        admin: new.admin,
    })
}

impl PreparedUser {
    /// Marks the account as self-registered, pending email confirmation.
    pub fn pending_signup(mut self) -> Self {
        self.row.signup_pending = true;
        self
    }

    pub fn row(&self) -> &UserRow {
        &self.row
    }
}

/// Inserts a prepared user (and the admin role) with its audit event; call inside a
/// transaction.
pub fn insert_prepared(
    conn: &mut store::DbConn,
    prepared: &PreparedUser,
    actor: &Actor,
) -> Result<(), AccountError> {
    let row = &prepared.row;
    if names::is_taken(conn, &row.username)? {
        return Err(AccountError::UsernameTaken);
    }
    users::insert(conn, row).map_err(|e| match e {
        StoreError::Conflict(what) if what.contains("email") => AccountError::EmailTaken,
        StoreError::Conflict(_) => AccountError::UsernameTaken,
        other => AccountError::Store(other),
    })?;
    if prepared.admin {
        roles::grant(conn, &row.id, roles::SUPER_ADMIN, row.created_at)?;
        // An administrator exists now: an outstanding setup link must not make another.
        crate::store::tokens::delete_purpose(conn, setup::PURPOSE)?;
    }
    audit::record(
        conn,
        Event {
            action: "user.created",
            actor,
            target: Some(&row.id),
            ip: None,
            detail: json!({ "username": row.username, "admin": prepared.admin }),
        },
    )?;
    Ok(())
}

pub async fn create(
    store: &Store,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    new: NewUser,
    actor: Actor,
) -> Result<UserRow, AccountError> {
    let prepared = prepare(hasher, policy, new).await?;
    store
        .run(move |conn| {
            store::transaction(conn, |c| insert_prepared(c, &prepared, &actor))?;
            Ok(prepared.row)
        })
        .await
}

/// Checks a username (or email) and password from `origin` under the lock-out rules (see
/// [`lockout`]). Every failure costs one argon2 verification and returns
/// [`AccountError::InvalidCredentials`], also from a source locked out of the account; an
/// address over its failure budget gets [`AccountError::TooManyAttempts`] before any
/// password is checked, unless the browser is one the account knows.
pub async fn authenticate(
    store: &Store,
    hasher: &PasswordHasher,
    lockout: &Lockout,
    login: &str,
    password: SecretString,
    origin: Origin,
    allow_unconfirmed: bool,
) -> Result<UserRow, AccountError> {
    let login = login.to_owned();
    let user = store.run(move |c| find_login(c, &login)).await?;
    let Some(user) = user else {
        if let Some(ip) = &origin.ip {
            if lockout::ip_blocked(store, ip).await? {
                return Err(AccountError::TooManyAttempts);
            }
        }
        hasher.verify(password, None).await?;
        password_check::fail(store, lockout, None, None, &origin).await?;
        return Err(AccountError::InvalidCredentials);
    };
    let rehash_source = password.clone();
    let checked =
        password_check::check_password(store, hasher, lockout, &user, password, &origin, true)
            .await?;
    let Checked::Right { needs_rehash } = checked else {
        return Err(AccountError::InvalidCredentials);
    };
    match eligibility::may_sign_in(&user, allow_unconfirmed) {
        Ok(()) => {}
        Err(eligibility::Ineligible::Disabled) => return Err(AccountError::InvalidCredentials),
        Err(eligibility::Ineligible::Unconfirmed) => return Err(AccountError::Unconfirmed),
    }
    // The failure counts are reset when the whole sign-in completes (the session starts),
    // not here: a second factor may still be due, and a right password must not wipe the
    // count of wrong codes before it.
    if needs_rehash {
        let hash = hasher.hash(rehash_source).await?;
        let (id, now) = (user.id.clone(), crate::time::now());
        store
            .run(move |c| users::set_password_hash(c, &id, &hash, now))
            .await?;
    }
    Ok(user)
}

/// Disabling also ends every session of the user.
pub async fn set_disabled(
    store: &Store,
    username: &str,
    disabled: bool,
    actor: Actor,
) -> Result<(), AccountError> {
    let username = username.to_owned();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let user =
                    names::find_by_username(c, &username)?.ok_or(AccountError::UnknownUser)?;
                users::set_disabled(c, &user.id, disabled, crate::time::now())?;
                if disabled {
                    crate::store::sessions::delete_for_user(c, &user.id)?;
                    crate::store::challenges::delete_for_user(c, &user.id)?;
                }
                audit::record(
                    c,
                    Event {
                        action: if disabled {
                            "user.disabled"
                        } else {
                            "user.enabled"
                        },
                        actor: &actor,
                        target: Some(&user.id),
                        ip: None,
                        detail: json!({}),
                    },
                )?;
                Ok(())
            })
        })
        .await
}

/// Stored usernames that break today's rules (see [`names`]).
pub async fn legacy_usernames(store: &Store) -> Result<Vec<names::LegacyName>, AccountError> {
    Ok(store.run(names::legacy_usernames).await?)
}

pub async fn list(store: &Store) -> Result<Vec<UserSummary>, AccountError> {
    store
        .run(|conn| {
            users::list(conn)?
                .into_iter()
                .map(|u| {
                    let now = crate::time::now();
                    let roles = roles::names_for_user(conn, &u.id, now)?;
                    let org_roles = roles::org_names_for_user(conn, &u.id, now)?;
                    Ok(UserSummary {
                        username_problem: names::problem(&u.username),
                        has_password: u.password_hash.is_some(),
                        id: u.id,
                        username: u.username,
                        email: u.email,
                        email_verified: u.email_verified,
                        display_name: u.display_name,
                        disabled: u.disabled,
                        roles,
                        org_roles,
                        created_at: u.created_at,
                    })
                })
                .collect()
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(" Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "a b@c.d",
            "a@.com",
            "a@b..c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
