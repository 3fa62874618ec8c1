//! Cryptographic building blocks: randomness, token hashing, constant-time comparison,
//! password hashing and a secret string type that never prints.

pub mod envelope;
pub mod password;
pub mod random;
mod secret;
pub mod token;

pub use secret::SecretString;
