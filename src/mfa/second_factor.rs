//! Checking the second factor of a sign-in (TOTP code or recovery code).
//!
//! Invariants: wrong codes count toward the same per-(account, source) lock-out, account-wide
//! ceiling and per-IP throttle as wrong passwords, and the right code from a locked-out
//! source, or from an unknown source that finds the ceiling's slot taken, fails exactly like
//! a wrong one, unchecked; the
//! check, the spending of the code (TOTP step or recovery code) and the consumption of the
//! challenge happen in one transaction.

use super::challenge::Challenge;
use super::{recovery, totp, Mfa, MfaError};
use crate::accounts::eligibility::may_sign_in;
use crate::accounts::lockout::{self, Admission, Lockout, Origin};
use crate::crypto::SecretString;
use crate::mail::{notices, outbox};
use crate::store::users::{self, UserRow};
use crate::store::{self, challenges, DbConn, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    Recovery,
    /// The first code of an authenticator app set up during this very sign-in.
    TotpEnrolment,
}

impl Method {
    /// The `amr` value (RFC 8176) for this method; recovery codes have none registered.
    pub fn amr(self) -> &'static str {
        match self {
            Method::Totp | Method::TotpEnrolment => "otp",
            Method::Recovery => "rec",
        }
    }
}

/// A passed second factor.
#[derive(Debug)]
pub struct Passed {
    pub user: UserRow,
    /// The challenge's methods plus this one (and `mfa`, see [`combined_amr`]).
    pub amr: Vec<String>,
    /// Recovery codes left, when one was used.
    pub recovery_codes_left: Option<i64>,
    /// The recovery codes issued with an authenticator set up during the sign-in.
    pub new_recovery_codes: Option<Vec<String>>,
}

enum Outcome {
    Passed(Box<Passed>),
    Wrong { exhausted: bool },
    Throttled,
    Gone,
}

/// The methods of a sign-in that passed `first` and then `second`: `mfa` is added only when
/// `second` is a method independent of the ones before (or they had `mfa` already).
pub fn combined_amr(first: &[String], second: &str) -> Vec<String> {
    let had_mfa = first.iter().any(|m| m == "mfa");
    let mut amr: Vec<String> = first.iter().filter(|m| *m != "mfa").cloned().collect();
    let independent = !amr.is_empty() && !amr.iter().any(|m| m == second);
    if !amr.iter().any(|m| m == second) {
        amr.push(second.to_owned());
    }
    if had_mfa || independent {
        amr.push("mfa".into());
    }
    amr
}

/// What a right code yields besides the sign-in.
struct Checked {
    recovery_codes_left: Option<i64>,
    new_recovery_codes: Option<Vec<String>>,
}

/// Checks the code for `method` against the challenge's user and spends it (or, for an
/// enrolment, turns the app on and issues recovery codes). Call inside a transaction.
/// `Ok(None)` means the code was wrong.
fn check(
    c: &mut DbConn,
    mfa: &Mfa,
    user: &UserRow,
    challenge: &Challenge,
    method: Method,
    code: &str,
    now: i64,
) -> Result<Option<Checked>, MfaError> {
    Ok(match method {
        Method::Totp => totp::verify(c, &mfa.kek, &user.id, code, now)?.then_some(Checked {
            recovery_codes_left: None,
            new_recovery_codes: None,
        }),
        Method::Recovery => recovery::redeem(c, &user.id, code, now)?.map(|left| Checked {
            recovery_codes_left: Some(left),
            new_recovery_codes: None,
        }),
        Method::TotpEnrolment => {
            if !totp::confirm(c, &mfa.kek, &user.id, &challenge.id_hash, code, now)? {
                return Ok(None);
            }
            crate::audit::record(
                c,
                crate::audit::Event {
                    action: "mfa.totp_enabled",
                    actor: &crate::audit::Actor::User(user.id.clone()),
                    target: Some(&user.id),
                    ip: None,
                    detail: serde_json::json!({ "during": "sign-in" }),
                },
            )?;
            Some(Checked {
                recovery_codes_left: None,
                new_recovery_codes: Some(recovery::regenerate(c, &user.id, now)?),
            })
        }
    })
}

/// One try at the second step: a code for `method`, from `origin`.
pub struct Attempt {
    pub method: Method,
    pub code: SecretString,
    pub origin: Origin,
}

/// Checks a second-factor code for a sign-in challenge from `origin` and, when it passes,
/// consumes the challenge. The attempt is reserved against the account's budget for that
/// source before the code is checked (a locked source is refused unchecked); a wrong code
/// counts toward it, the address's throttle and the challenge's own attempt budget, and
/// that counting is committed.
pub async fn verify(
    store: &Store,
    mfa: &Mfa,
    lockout: &Lockout,
    challenge: &Challenge,
    attempt: Attempt,
    allow_unconfirmed: bool,
) -> Result<Passed, MfaError> {
    let Attempt {
        method,
        code,
        origin,
    } = attempt;
    let (mfa, lockout, challenge) = (mfa.clone(), lockout.clone(), challenge.clone());
    let outcome = store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                // Disabled (or no longer allowed in) since the first factor: gone.
                let Some(user) = users::find_by_id(c, &challenge.user_id)?
                    .filter(|u| may_sign_in(u, allow_unconfirmed).is_ok())
                else {
                    return Ok(Outcome::Gone);
                };
                if method == Method::TotpEnrolment && super::factors(c, &user.id)?.any() {
                    // Set up elsewhere meanwhile: this sign-in starts over.
                    return Ok(Outcome::Gone);
                }
                let source = lockout::source_for(c, &user.id, &origin)?;
                if !source.is_known_device() && lockout::address_blocked(c, &origin, now)? {
                    return Ok(Outcome::Throttled);
                }
                let admission = lockout::admit(c, &lockout.policy, &user.id, &source, now)?;
                let passed = match &admission {
                    Admission::Admitted(_) => {
                        check(c, &mfa, &user, &challenge, method, code.expose(), now)?
                    }
                    Admission::Locked(_) | Admission::Slowed(_) => None,
                };
                let (Some(checked), Admission::Admitted(ticket)) = (passed, &admission) else {
                    lockout::record_failure(
                        c,
                        &lockout,
                        Some(&user),
                        admission.as_failure(),
                        origin.ip.as_deref(),
                        method.amr(),
                        now,
                    )?;
                    let failures = challenges::add_failure(c, &challenge.id_hash)?;
                    let exhausted = failures >= mfa.policy.max_code_attempts;
                    if exhausted {
                        challenges::delete(c, &challenge.id_hash)?;
                    }
                    return Ok(Outcome::Wrong { exhausted });
                };
                lockout::release(c, &user.id, ticket)?;
                if !challenges::delete(c, &challenge.id_hash)? {
                    return Ok(Outcome::Gone);
                }
                // The owner hears of a spent recovery code or an app set up while signing in,
                // whoever drives the sign-in, exactly when it commits.
                if let Some(left) = checked.recovery_codes_left {
                    let left = usize::try_from(left).unwrap_or(0);
                    outbox::raise(c, notices::recovery_code_used(&lockout.issuer, &user, left))?;
                }
                if method == Method::TotpEnrolment {
                    outbox::raise(
                        c,
                        notices::mfa_changed(
                            &lockout.issuer,
                            &user,
                            "an authenticator app was set up while signing in",
                        ),
                    )?;
                }
                Ok::<_, MfaError>(Outcome::Passed(Box::new(Passed {
                    amr: combined_amr(&challenge.amr, method.amr()),
                    user,
                    recovery_codes_left: checked.recovery_codes_left,
                    new_recovery_codes: checked.new_recovery_codes,
                })))
            })
        })
        .await?;
    match outcome {
        Outcome::Passed(p) => Ok(*p),
        Outcome::Wrong { exhausted } => match exhausted {
            true => Err(MfaError::ChallengeExhausted),
            false => Err(MfaError::InvalidCode),
        },
        Outcome::Throttled => Err(MfaError::TooManyAttempts),
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
        // The same method twice, or a second method with nothing before it, is one factor.
        let hwk = vec!["hwk".to_owned()];
        assert_eq!(combined_amr(&hwk, "hwk"), ["hwk"]);
        assert_eq!(combined_amr(&[], "otp"), ["otp"]);
    }
}
