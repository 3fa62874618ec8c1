//! Password hashing with argon2id (RFC 9106; OWASP parameters from config).
//!
//! Invariants: hashing runs on tokio's blocking pool behind a semaphore, so a flood of
//! logins queues instead of starving the server or exhausting memory; each permit's hash runs
//! in a pooled buffer (`pool`), so working memory is bounded by the number of permits and is
//! given back when sign-ins stop; verification of an unknown user still costs one full hash,
//! against a dummy, so response time does not reveal whether an account exists; comparison of
//! the derived key is constant-time (`phc`).

mod phc;
mod pool;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use self::phc::StoredHash;
use self::pool::BlockPool;
use super::SecretString;

/// How long the pooled argon2 memory outlives the last hash. Long enough that a steady trickle
/// of sign-ins reuses it, short enough that an idle server is back to its idle size within a
/// minute.
const RELEASE_MEMORY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Task,
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right; `needs_rehash` when the stored hash used other parameters.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    pool: Arc<BlockPool>,
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Computes the dummy hash once, so this takes as long as one hash.
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        max_concurrent: usize,
    ) -> Result<Self, PasswordError> {
        Self::with_release_after(
            memory_kib,
            iterations,
            parallelism,
            max_concurrent,
            RELEASE_MEMORY_AFTER,
        )
    }

    fn with_release_after(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        max_concurrent: usize,
        release_after: Duration,
    ) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let permits = max_concurrent.max(1);
        let mut hasher = Self {
            pool: Arc::new(BlockPool::new(params.block_count(), permits, release_after)),
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy_hash: Arc::from(""),
        };
        let dummy = hasher.hash_blocking(&super::random::secret_token())?;
        hasher.dummy_hash = Arc::from(dummy);
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes on the calling thread; for the CLI and start-up only (its memory is not kept).
    pub fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        self.hash_in_pool(password, false)
    }

    fn hash_in_pool(&self, password: &str, keep: bool) -> Result<String, PasswordError> {
        let salt = SaltString::encode_b64(&super::random::salt())
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        let mut lease = self.pool.lend(self.params.block_count(), keep);
        phc::hash(
            &self.argon2(),
            &self.params,
            password.as_bytes(),
            &salt,
            lease.blocks(),
        )
    }

    fn verify_blocking(&self, password: &str, stored: Option<&str>) -> Verification {
        let Some(stored) = stored.and_then(StoredHash::parse) else {
            // Unknown user, no password set, or an unreadable hash: spend the same work.
            if let Some(dummy) = StoredHash::parse(&self.dummy_hash) {
                let mut lease = self.pool.lend(dummy.blocks(), true);
                let _ = dummy.matches(password.as_bytes(), lease.blocks());
            }
            return Verification::Mismatch;
        };
        // The stored hash's own parameters decide the work (and the memory) needed.
        let mut lease = self.pool.lend(stored.blocks(), true);
        if !stored.matches(password.as_bytes(), lease.blocks()) {
            return Verification::Mismatch;
        }
        Verification::Match {
            needs_rehash: !self.is_current(stored.parsed()),
        }
    }

    fn is_current(&self, parsed: &PasswordHash<'_>) -> bool {
        parsed.algorithm == Algorithm::Argon2id.ident()
            && parsed.version == Some(Version::V0x13.into())
            && Params::try_from(parsed).is_ok_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            })
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Task)?;
        let this = self.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.hash_in_pool(password.expose(), true)
        })
        .await
        .map_err(|_| PasswordError::Task)?;
        self.pool.schedule_release();
        hashed
    }

    /// `stored` is `None` for an unknown user or one without a password; the work done is
    /// the same either way.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verification, PasswordError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Task)?;
        let this = self.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.verify_blocking(password.expose(), stored.as_deref())
        })
        .await
        .map_err(|_| PasswordError::Task);
        self.pool.schedule_release();
        verified
    }
}
