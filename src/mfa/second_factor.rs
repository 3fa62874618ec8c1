//! Checking the second factor of a sign-in (TOTP code or recovery code).
//!
//! Invariants: wrong codes count toward the same account lock-out and per-IP throttle as
//! wrong passwords, and a locked account's right code fails exactly like a wrong one; the
//! check, the spending of the code (TOTP step or recovery code) and the consumption of the
//! challenge happen in one transaction.

use super::challenge::Challenge;
use super::{recovery, totp, Mfa, MfaError};
use crate::accounts::lockout::{self, LockoutPolicy};
use crate::crypto::SecretString;
use crate::store::users::{self, UserRow};
use crate::store::{self, challenges, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    Recovery,
}

impl Method {
    /// The `amr` value (RFC 8176) for this method; recovery codes have none registered.
    pub fn amr(self) -> &'static str {
        match self {
            Method::Totp => "otp",
            Method::Recovery => "rec",
        }
    }
}

/// A passed second factor.
#[derive(Debug)]
pub struct Passed {
    pub user: UserRow,
    /// The challenge's methods plus this one and `mfa`.
    pub amr: Vec<String>,
    /// Recovery codes left, when one was used.
    pub recovery_codes_left: Option<i64>,
}

enum Outcome {
    Passed(Passed),
    Wrong { exhausted: bool },
    Gone,
}

/// The methods of a sign-in that passed `first` and then `second`.
pub fn combined_amr(first: &[String], second: &str) -> Vec<String> {
    let mut amr: Vec<String> = first.iter().filter(|m| *m != "mfa").cloned().collect();
    if !amr.iter().any(|m| m == second) {
        amr.push(second.to_owned());
    }
    amr.push("mfa".into());
    amr
}

pub async fn verify(
    store: &Store,
    mfa: &Mfa,
    lockout_policy: &LockoutPolicy,
    challenge: &Challenge,
    method: Method,
    code: SecretString,
    ip: Option<String>,
) -> Result<Passed, MfaError> {
    if let Some(ip) = &ip {
        if lockout::ip_blocked(store, ip).await? {
            return Err(MfaError::TooManyAttempts);
        }
    }
    let (mfa, policy, challenge) = (mfa.clone(), *lockout_policy, challenge.clone());
    let outcome = store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                let Some(user) = users::find_by_id(c, &challenge.user_id)?.filter(|u| !u.disabled)
                else {
                    return Ok(Outcome::Gone);
                };
                let usable = !lockout::is_locked(&user, now);
                let (ok, left) = match method {
                    _ if !usable => (false, None),
                    Method::Totp => (
                        totp::verify(c, &mfa.kek, &user.id, code.expose(), now)?,
                        None,
                    ),
                    Method::Recovery => {
                        let left = recovery::redeem(c, &user.id, code.expose(), now)?;
                        (left.is_some(), left)
                    }
                };
                if !ok {
                    lockout::record_failure(
                        c,
                        &policy,
                        Some(&user),
                        ip.as_deref(),
                        method.amr(),
                        now,
                    )?;
                    let failures = challenges::add_failure(c, &challenge.id_hash)?;
                    let exhausted = failures >= mfa.policy.max_code_attempts;
                    if exhausted {
                        challenges::delete(c, &challenge.id_hash)?;
                    }
                    return Ok(Outcome::Wrong { exhausted });
                }
                if !challenges::delete(c, &challenge.id_hash)? {
                    return Ok(Outcome::Gone);
                }
                if user.failed_logins > 0 || user.locked_until.is_some() {
                    users::set_failures(c, &user.id, 0, None)?;
                }
                Ok::<_, MfaError>(Outcome::Passed(Passed {
                    amr: combined_amr(&challenge.amr, method.amr()),
                    user,
                    recovery_codes_left: left,
                }))
            })
        })
        .await?;
    match outcome {
        Outcome::Passed(p) => Ok(p),
        Outcome::Wrong { exhausted: true } => Err(MfaError::ChallengeExhausted),
        Outcome::Wrong { exhausted: false } => Err(MfaError::InvalidCode),
        Outcome::Gone => Err(MfaError::NoChallenge),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_lists_each_method_once_and_mfa_last() {
        let pwd = vec!["pwd".to_owned()];
        assert_eq!(combined_amr(&pwd, "otp"), ["pwd", "otp", "mfa"]);
        let stepped = vec!["pwd".to_owned(), "otp".into(), "mfa".into()];
        assert_eq!(combined_amr(&stepped, "otp"), ["pwd", "otp", "mfa"]);
        assert_eq!(combined_amr(&stepped, "hwk"), ["pwd", "otp", "hwk", "mfa"]);
    }
}
