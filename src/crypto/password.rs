//! Password hashing with argon2id (RFC 9106; OWASP parameters from config).
//!
//! Invariants: hashing runs on tokio's blocking pool behind a semaphore, so a flood of
//! logins queues instead of starving the server or exhausting memory (each hash holds
//! `memory_kib` of RAM); verification of an unknown user still costs one full hash, against a
//! dummy, so response time does not reveal whether an account exists; comparison of the
//! derived key is constant-time (done inside the argon2 crate).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::SecretString;

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
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let mut hasher = Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy_hash: Arc::from(""),
        };
        let dummy = hasher.hash_blocking(&super::random::secret_token())?;
        hasher.dummy_hash = Arc::from(dummy);
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes on the calling thread; for the CLI and start-up only.
    pub fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        let salt = SaltString::encode_b64(&super::random::salt())
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    fn verify_blocking(&self, password: &str, stored: Option<&str>) -> Verification {
        let parsed = stored.and_then(|s| PasswordHash::new(s).ok());
        let Some(parsed) = parsed else {
            // Unknown user, no password set, or an unreadable hash: spend the same work.
            if let Ok(dummy) = PasswordHash::new(&self.dummy_hash) {
                let _ = self.argon2().verify_password(password.as_bytes(), &dummy);
            }
            return Verification::Mismatch;
        };
        // verify_password uses the parameters stored in the hash itself.
        if self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Verification::Mismatch;
        }
        Verification::Match {
            needs_rehash: !self.is_current(&parsed),
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
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.hash_blocking(password.expose())
        })
        .await
        .map_err(|_| PasswordError::Task)?
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
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.verify_blocking(password.expose(), stored.as_deref())
        })
        .await
        .map_err(|_| PasswordError::Task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(m: u32, t: u32) -> PasswordHasher {
        PasswordHasher::new(m, t, 1, 2).unwrap()
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let h = hasher(8192, 1);
        let stored = h
            .hash(SecretString::new("a long enough passphrase"))
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));
        assert_eq!(
            h.verify(
                SecretString::new("a long enough passphrase"),
                Some(stored.clone())
            )
            .await
            .unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify(SecretString::new("a long enough passphrasE"), Some(stored))
                .await
                .unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn unknown_user_and_garbage_hash_are_mismatches() {
        let h = hasher(8192, 1);
        assert_eq!(
            h.verify(SecretString::new("whatever"), None).await.unwrap(),
            Verification::Mismatch
        );
        assert_eq!(
            h.verify(SecretString::new("whatever"), Some("not-a-hash".into()))
                .await
                .unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = hasher(8192, 1);
        let stored = old
            .hash(SecretString::new("a long enough passphrase"))
            .await
            .unwrap();
        let new = hasher(8192, 2);
        assert_eq!(
            new.verify(SecretString::new("a long enough passphrase"), Some(stored))
                .await
                .unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }
}
