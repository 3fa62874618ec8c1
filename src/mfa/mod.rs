//! Second factors (TOTP, recovery codes, passkeys) and the sign-in step between the first
//! factor and a session.
//!
//! Invariants: a session exists only once every factor the sign-in needs has passed, so
//! nothing that takes a session (consent, code issuance, the account page) can be reached
//! with the password alone; a user who has a second factor is always asked for it; `amr`
//! records exactly the methods that passed and `mfa` only when two independent ones did.

pub mod challenge;
pub mod manage;
pub mod passkeys;
pub mod recovery;
pub mod second_factor;
pub mod totp;

use std::sync::Arc;

use crate::config::MfaSettings;
use crate::crypto::envelope::Kek;
use crate::store::clients::Client;
use crate::store::{roles, DbConn, StoreError};
pub use totp::Enrollment;

/// `acr` for a sign-in with one factor.
pub const ACR_SINGLE_FACTOR: &str = "urn:portcullis:loa:1";
/// `acr` for a sign-in with two independent factors.
pub const ACR_MFA: &str = "urn:portcullis:loa:2";

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("an authenticator app is already set up; remove it first")]
    AlreadyEnrolled,
    #[error("there is no authenticator app set-up in progress")]
    NotEnrolling,
    #[error("set up an authenticator app or a passkey first")]
    NoSecondFactor,
    #[error("your recovery codes were issued already; generate new ones with your password")]
    RecoveryCodesIssued,
    #[error("that code is not valid")]
    InvalidCode,
    /// Too many wrong codes within one sign-in: it must start over.
    #[error("too many wrong codes; sign in again")]
    ChallengeExhausted,
    /// The sign-in step expired or was already completed.
    #[error("this sign-in has expired; sign in again")]
    NoChallenge,
    #[error("too many failed attempts from your network; try again later")]
    TooManyAttempts,
    #[error("{0}")]
    Unexpected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who must use a second factor, and how the second step behaves.
#[derive(Debug, Clone)]
pub struct MfaPolicy {
    pub required: bool,
    pub required_roles: Vec<String>,
    pub challenge_secs: i64,
    pub max_code_attempts: i32,
}

impl MfaPolicy {
    pub fn from_settings(s: &MfaSettings) -> Self {
        MfaPolicy {
            required: s.required,
            required_roles: s
                .required_roles
                .iter()
                .map(|r| current_role_name(r))
                .collect(),
            challenge_secs: crate::time::secs(s.challenge_secs),
            max_code_attempts: i32::try_from(s.max_code_attempts).unwrap_or(i32::MAX),
        }
    }
}

/// The built-in `admin` role of earlier releases is `super_admin` now; a configuration that
/// still names it keeps requiring a second factor of the same people.
fn current_role_name(name: &str) -> String {
    if name == "admin" {
        tracing::warn!(
            "mfa.required_roles names \"admin\", which is now \"super_admin\"; write that"
        );
        return roles::SUPER_ADMIN.to_owned();
    }
    name.to_owned()
}

/// Second-factor configuration and the key that seals TOTP secrets.
#[derive(Clone)]
pub struct Mfa {
    pub kek: Kek,
    pub policy: Arc<MfaPolicy>,
    /// Names Portcullis in authenticator apps: the issuer's host.
    pub label: String,
}

impl Mfa {
    pub fn new(kek: Kek, settings: &MfaSettings, issuer: &str) -> Self {
        let label = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Portcullis".into());
        Mfa {
            kek,
            policy: Arc::new(MfaPolicy::from_settings(settings)),
            label,
        }
    }
}

/// The second factors a user has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: i64,
    pub recovery_codes: i64,
    /// Whether a set of recovery codes was ever issued (spent ones included).
    pub recovery_issued: bool,
}

impl Factors {
    /// Recovery codes alone are a fallback, not a factor to be asked for.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

pub fn factors(c: &mut DbConn, user_id: &str) -> Result<Factors, StoreError> {
    Ok(Factors {
        totp: totp::is_enrolled(c, user_id)?,
        passkeys: crate::store::passkeys::count_for_user(c, user_id)?,
        recovery_codes: recovery::remaining(c, user_id)?,
        recovery_issued: crate::store::recovery_codes::count_all(c, user_id)? > 0,
    })
}

/// What a relying party's request demands of the authentication. `acr_values` is only a
/// preference list (OIDC Core §3.1.2.1, voluntary) and demands nothing; an `acr` requested
/// as essential through the `claims` parameter (§5.5.1.1) does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AcrDemand {
    /// Any level will do.
    #[default]
    Nothing,
    /// Only [`ACR_MFA`] is acceptable: a second factor is compulsory.
    SecondFactor,
    /// None of the essential values is one this provider offers: it can never be met
    /// (OpenID Connect Unmet Authentication Requirements 1.0).
    Unmeetable,
}

impl AcrDemand {
    /// From the values of an essential `acr` request; `None` when acr is not essential, an
    /// empty list when it is essential without values (any acr, as long as there is one).
    pub fn essential(values: Option<&[String]>) -> Self {
        match values {
            None | Some([]) => AcrDemand::Nothing,
            Some(v) if v.iter().any(|a| a == ACR_SINGLE_FACTOR) => AcrDemand::Nothing,
            Some(v) if v.iter().any(|a| a == ACR_MFA) => AcrDemand::SecondFactor,
            Some(_) => AcrDemand::Unmeetable,
        }
    }
}

/// What a sign-in needs after its first factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondStep {
    /// Nothing: the first factor is enough.
    None,
    /// The second factor the user has.
    Ask,
    /// Configuration demands a second factor and the user has none: set one up now.
    Enrol,
    /// The client or an essential `acr` demands a second factor the user has none of. Setting one
    /// up in the middle of this sign-in would let whoever knows the password choose the
    /// "second" factor, so the user must set it up from their account first.
    Unavailable,
}

/// Whether configuration (globally or through one of the user's roles) demands a second
/// factor of this user.
pub fn enrolment_required(
    c: &mut DbConn,
    policy: &MfaPolicy,
    user_id: &str,
) -> Result<bool, StoreError> {
    if policy.required {
        return Ok(true);
    }
    if policy.required_roles.is_empty() {
        return Ok(false);
    }
    // Held anywhere or inherited: a role under a required one carries its permissions, so
    // it carries the requirement too.
    let roles = roles::names_held_or_inherited(c, user_id, crate::time::now())?;
    Ok(roles.iter().any(|r| policy.required_roles.contains(r)))
}

/// The second step of a sign-in for `user_id`, for `client` and what its request demands
/// when the sign-in is for one. A user who has a second factor is always asked for it (so
/// a voluntary `acr_values` preferring [`ACR_MFA`] steps such a user up); a user who has
/// none is held to a second factor only by configuration, the client or an essential acr.
pub fn second_step(
    c: &mut DbConn,
    policy: &MfaPolicy,
    user_id: &str,
    client: Option<&Client>,
    acr: AcrDemand,
) -> Result<SecondStep, StoreError> {
    if factors(c, user_id)?.any() {
        return Ok(SecondStep::Ask);
    }
    if enrolment_required(c, policy, user_id)? {
        return Ok(SecondStep::Enrol);
    }
    if client.is_some_and(|c| c.require_mfa) || acr == AcrDemand::SecondFactor {
        return Ok(SecondStep::Unavailable);
    }
    Ok(SecondStep::None)
}

/// Whether a session's methods include a second factor.
pub fn has_mfa(amr: &[String]) -> bool {
    amr.iter().any(|m| m == "mfa")
}

/// The `acr` a sign-in with these methods earns.
pub fn acr_for(amr: &[String]) -> &'static str {
    if has_mfa(amr) {
        ACR_MFA
    } else {
        ACR_SINGLE_FACTOR
    }
}

/// The `acr` to report for a sign-in with these methods: the level achieved, except that an
/// essential request for [`ACR_SINGLE_FACTOR`] only, met with two factors, is answered
/// with the value asked for (OIDC Core §5.5.1: the claim is one of the requested values;
/// two factors satisfy the single-factor class).
pub fn acr_reported(amr: &[String], essential: Option<&[String]>) -> &'static str {
    let achieved = acr_for(amr);
    match essential {
        Some(values)
            if !values.is_empty()
                && !values.iter().any(|v| v == achieved)
                && values.iter().any(|v| v == ACR_SINGLE_FACTOR) =>
        {
            ACR_SINGLE_FACTOR
        }
        _ => achieved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn only_an_essential_acr_demands_anything() {
        assert_eq!(AcrDemand::essential(None), AcrDemand::Nothing);
        assert_eq!(AcrDemand::essential(Some(&[])), AcrDemand::Nothing);
        for (values, demand) in [
            (vec![ACR_MFA], AcrDemand::SecondFactor),
            (vec!["urn:other", ACR_MFA], AcrDemand::SecondFactor),
            (vec![ACR_MFA, ACR_SINGLE_FACTOR], AcrDemand::Nothing),
            (vec![ACR_SINGLE_FACTOR], AcrDemand::Nothing),
            (vec!["urn:other"], AcrDemand::Unmeetable),
            (vec![""], AcrDemand::Unmeetable),
        ] {
            assert_eq!(
                AcrDemand::essential(Some(&list(&values))),
                demand,
                "{values:?}"
            );
        }
    }

    #[test]
    fn the_reported_acr_is_achieved_and_among_essential_values() {
        let two = list(&["pwd", "otp", "mfa"]);
        let one = list(&["pwd"]);
        assert_eq!(acr_reported(&two, None), ACR_MFA);
        assert_eq!(acr_reported(&one, None), ACR_SINGLE_FACTOR);
        assert_eq!(acr_reported(&two, Some(&[])), ACR_MFA);
        assert_eq!(acr_reported(&two, Some(&list(&[ACR_MFA]))), ACR_MFA);
        assert_eq!(
            acr_reported(&two, Some(&list(&[ACR_SINGLE_FACTOR]))),
            ACR_SINGLE_FACTOR
        );
        assert_eq!(
            acr_reported(&two, Some(&list(&[ACR_SINGLE_FACTOR, ACR_MFA]))),
            ACR_MFA
        );
        assert_eq!(
            acr_reported(&one, Some(&list(&[ACR_SINGLE_FACTOR, ACR_MFA]))),
            ACR_SINGLE_FACTOR
        );
    }
}
