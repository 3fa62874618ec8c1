//! Factors beyond the password: passkeys (WebAuthn), used as a second factor or to sign in
//! without a password. Each factor owns its rules and storage calls; none imports actix.

pub mod passkeys;
