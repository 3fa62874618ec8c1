//! PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) computed in caller-provided memory.
//!
//! The argon2 crate's `PasswordHasher`/`PasswordVerifier` allocate the working memory on every
//! call; these do the same work in a pooled buffer and produce and read the same strings, so
//! hashes stay interchangeable with the stock implementation in both directions.
//! Invariant: the derived key is compared in constant time (`subtle`).

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;

use super::PasswordError;

/// The largest salt a PHC string can carry (password-hash's `Salt::MAX_LENGTH`).
const MAX_SALT_BYTES: usize = 64;

/// Hashes `password` with `argon2` (which must be argon2id v19 with `params`) into a PHC string.
pub(super) fn hash(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &SaltString,
    memory: &mut [Block],
) -> Result<String, PasswordError> {
    let salt = salt.as_salt();
    let mut salt_bytes = [0u8; MAX_SALT_BYTES];
    let salt_bytes = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password, salt_bytes, out, &mut *memory)
            .map_err(Into::into)
    })
    .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| PasswordError::Hash(e.to_string()))?,
        salt: Some(salt),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// A stored hash, parsed and checked before any work is spent on it.
pub(super) struct StoredHash<'a> {
    parsed: PasswordHash<'a>,
    argon2: Argon2<'static>,
    salt: ([u8; MAX_SALT_BYTES], usize),
    expected: Output,
}

impl<'a> StoredHash<'a> {
    /// `None` for anything the stock argon2 verifier would refuse too: another algorithm, an
    /// unknown version, parameters out of range, a missing salt or hash.
    pub(super) fn parse(stored: &'a str) -> Option<Self> {
        let parsed = PasswordHash::new(stored).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let mut salt = [0u8; MAX_SALT_BYTES];
        let salt_len = parsed.salt?.decode_b64(&mut salt).ok()?.len();
        let expected = parsed.hash?;
        Some(Self {
            argon2: Argon2::new(algorithm, version, params),
            parsed,
            salt: (salt, salt_len),
            expected,
        })
    }

    pub(super) fn parsed(&self) -> &PasswordHash<'a> {
        &self.parsed
    }

    /// Memory blocks this hash needs (more or fewer than today's parameters for a legacy hash).
    pub(super) fn blocks(&self) -> usize {
        self.argon2.params().block_count()
    }

    /// Derives the key from `password` in `memory` and compares it in constant time.
    pub(super) fn matches(&self, password: &[u8], memory: &mut [Block]) -> bool {
        let mut derived = vec![0u8; self.expected.len()];
        let salt = &self.salt.0[..self.salt.1];
        if self
            .argon2
            .hash_password_into_with_memory(password, salt, &mut derived, memory)
            .is_err()
        {
            return false;
        }
        self.expected.as_bytes().ct_eq(&derived).into()
    }
}
