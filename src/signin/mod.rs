//! Sign-in orchestration: every way into a session (password, second factor, passkey,
//! step-up, enrolment during sign-in, the first administrator's set-up link) as domain
//! functions that say what happened; the pages only translate those outcomes into HTTP.
//!
//! Invariants:
//! - whether an account may sign in is decided once, by
//!   [`crate::accounts::eligibility::may_sign_in`], for every method;
//! - a session exists only once every factor the sign-in needs has passed: the first factor
//!   alone leaves a challenge ([`crate::mfa::challenge`]), never a session;
//! - every completed sign-in goes through [`complete::complete`], which ends the browser's
//!   previous session, resets the lock-out counts, answers the authorization request's
//!   `prompt=login`/`max_age` (unless it is a step-up), records the device and decides the
//!   new-device notice;
//! - the notices a sign-in raises (new device, recovery code used, authenticator set up)
//!   are queued in the transaction that records what they announce (`devices::sighted`,
//!   `mfa::second_factor::verify`), never by a handler.

pub mod complete;
pub mod passkey;
pub mod password;
pub mod second_step;
pub mod setup;
pub mod step_up;

use crate::accounts::lockout::{Lockout, Origin};
use crate::accounts::setup::SetupError;
use crate::accounts::AccountError;
use crate::crypto::password::PasswordHasher;
use crate::crypto::SecretString;
use crate::mfa::passkeys::{PasskeyError, Passkeys};
use crate::mfa::{Mfa, MfaError};
use crate::sessions::SessionPolicy;
use crate::store::{Store, StoreError};

pub use complete::SignedIn;

/// The services a sign-in uses, borrowed from the application state.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub store: &'a Store,
    pub hasher: &'a PasswordHasher,
    pub lockout: &'a Lockout,
    pub sessions: SessionPolicy,
    pub mfa: &'a Mfa,
    pub passkeys: &'a Passkeys,
    /// For the links and names in notices.
    pub issuer: &'a str,
    /// `signup.allow_unverified_sign_in`.
    pub allow_unconfirmed: bool,
}

/// The browser a sign-in comes from.
#[derive(Debug, Clone)]
pub struct Browser {
    /// Client address and device cookie: the lock-out's source, the device's identity.
    pub origin: Origin,
    pub user_agent: Option<String>,
    /// The browser's session cookie, live or not: a new session replaces it.
    pub session_cookie: Option<SecretString>,
}

/// What a first factor (or an existing session, for a step-up) leads to.
#[derive(Debug)]
pub enum Outcome {
    /// Every factor the sign-in needs has passed: the session exists.
    SignedIn(Box<SignedIn>),
    /// A second factor is due, or, for an account that must have one and has none, its
    /// enrolment: the challenge token goes into the challenge cookie and the browser to
    /// the second step.
    NeedsSecondFactor { challenge: SecretString },
    /// The client or request demands a second factor this account does not have and
    /// cannot set up inside the sign-in.
    MustEnrolElsewhere,
    /// The first factor failed; nothing about the account is revealed.
    Refused(Refusal),
}

/// Why a sign-in step was refused, as the browser may learn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown account, wrong password, disabled account: indistinguishable.
    InvalidCredentials,
    /// Too many failures from the client's address (or, for codes, this source).
    TooManyAttempts,
    /// The right password for a self-registered account not yet confirmed.
    Unconfirmed,
    /// A wrong second-factor code; the challenge stays.
    InvalidCode,
    /// The challenge expired, was used, or had too many wrong codes: start over.
    StartOver,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The second step's challenge is gone (expired, used, or never there).
    #[error("this sign-in has expired; sign in again")]
    NoChallenge,
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Mfa(#[from] MfaError),
    #[error(transparent)]
    Passkey(#[from] PasskeyError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
