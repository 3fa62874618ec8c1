//! The password as first factor.
//!
//! Invariants: an unknown account, a wrong password and a disabled account are one refusal
//! ([`Refusal::InvalidCredentials`]) at the same cost (see `accounts::authenticate`); the
//! lock-out (`accounts::lockout`) is consulted before the password is checked; a right
//! password alone never starts a session when a second factor is due.

use super::second_step::{self, FirstFactor};
use super::{Browser, Env, Outcome, Refusal, SignInError};
use crate::accounts::{self, AccountError};
use crate::crypto::SecretString;

/// Where a sign-in leads once it is complete.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Where the browser goes afterwards (already checked to be local).
    pub return_to: String,
    /// The pending authorization request this sign-in is for.
    pub for_request: Option<String>,
}

/// Signs `login` in with `password` from `browser`.
pub async fn with_password(
    env: Env<'_>,
    browser: &Browser,
    login: &str,
    password: SecretString,
    destination: Destination,
) -> Result<Outcome, SignInError> {
    let outcome = accounts::authenticate(
        env.store,
        env.hasher,
        env.lockout,
        login,
        password,
        browser.origin.clone(),
        env.allow_unconfirmed,
    )
    .await;
    let user = match outcome {
        Ok(user) => user,
        Err(AccountError::InvalidCredentials) => {
            return Ok(Outcome::Refused(Refusal::InvalidCredentials))
        }
        Err(AccountError::TooManyAttempts) => {
            return Ok(Outcome::Refused(Refusal::TooManyAttempts))
        }
        Err(AccountError::Unconfirmed) => return Ok(Outcome::Refused(Refusal::Unconfirmed)),
        Err(e) => return Err(e.into()),
    };
    let first = FirstFactor {
        user_id: user.id,
        amr: vec!["pwd".into()],
        auth_time: None,
    };
    second_step::after_first_factor(
        env,
        browser,
        first,
        destination.for_request,
        destination.return_to,
    )
    .await
}
