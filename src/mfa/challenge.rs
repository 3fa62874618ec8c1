//! A sign-in between its first and second factor.
//!
//! Invariants: the browser holds a random 256-bit token, the database only its SHA-256;
//! a challenge expires after `mfa.challenge_secs`, is deleted after
//! `mfa.max_code_attempts` wrong codes and is consumed by the step that completes the
//! sign-in, in the same transaction that checks the code, so it completes at most once.

use crate::crypto::{random, token, SecretString};
use crate::store::challenges::{self as rows, ChallengeRow};
use crate::store::{Store, StoreError};

/// What the first factor established.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id_hash: String,
    pub user_id: String,
    pub amr: Vec<String>,
    /// Where the browser goes once signed in.
    pub return_to: String,
    /// The pending authorization request the sign-in is for.
    pub request: Option<String>,
    /// For a step-up, when the session it adds a factor to authenticated; `None` when the
    /// first factor was passed for this very sign-in.
    pub auth_time: Option<i64>,
}

impl Challenge {
    /// A step-up adds a second factor to an existing sign-in: it authenticates nobody
    /// afresh, so it answers no `prompt=login` or `max_age`.
    pub fn is_step_up(&self) -> bool {
        self.auth_time.is_some()
    }
}

pub struct NewChallenge {
    pub user_id: String,
    pub amr: Vec<String>,
    pub return_to: String,
    pub request: Option<String>,
    pub auth_time: Option<i64>,
}

pub async fn start(
    store: &Store,
    lifetime_secs: i64,
    new: NewChallenge,
) -> Result<SecretString, StoreError> {
    let token = random::secret_token();
    let now = crate::time::now();
    let row = ChallengeRow {
        id_hash: token::hash(&token),
        user_id: new.user_id,
        amr: serde_json::to_string(&new.amr).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        return_to: new.return_to,
        request: new.request,
        failures: 0,
        created_at: now,
        expires_at: now + lifetime_secs,
        auth_time: new.auth_time,
    };
    store.run(move |c| rows::insert(c, &row)).await?;
    Ok(SecretString::new(token))
}

pub fn from_row(row: ChallengeRow) -> Challenge {
    Challenge {
        amr: serde_json::from_str(&row.amr).unwrap_or_default(),
        id_hash: row.id_hash,
        user_id: row.user_id,
        return_to: row.return_to,
        request: row.request,
        auth_time: row.auth_time,
    }
}

/// The live challenge for a cookie token, if any.
pub async fn load(store: &Store, cookie_token: &str) -> Result<Option<Challenge>, StoreError> {
    if !token::is_well_formed(cookie_token) {
        return Ok(None);
    }
    let id_hash = token::hash(cookie_token);
    store
        .run(move |c| Ok(rows::find(c, &id_hash, crate::time::now())?.map(from_row)))
        .await
}
