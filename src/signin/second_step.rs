//! The step between the first factor and the session: deciding whether a second factor
//! is due, holding the challenge, checking a TOTP or recovery code, and setting up an
//! authenticator app inside the sign-in for an account that must have one.
//!
//! Invariants: a challenge completes at most once (its consumption is in the transaction
//! that checks the code, see `mfa::second_factor`); the set-up shown during a sign-in
//! belongs to that challenge only; a right code from a refused account is a gone challenge.

use super::complete::{self, Completion};
use super::{Browser, Env, Outcome, Refusal, SignInError, SignedIn};
use crate::crypto::SecretString;
use crate::mfa::challenge::{self, Challenge, NewChallenge};
use crate::mfa::second_factor::{self, Attempt, Method};
use crate::mfa::{self, totp, Enrollment, Factors, MfaError, SecondStep};
use crate::store;

/// What a sign-in has established before its second step.
#[derive(Debug)]
pub struct FirstFactor {
    pub user_id: String,
    pub amr: Vec<String>,
    /// A step-up's session's time of authentication; `None`: the first factor just passed.
    pub auth_time: Option<i64>,
}

/// What second step, if any, `user_id` needs for a sign-in made for `for_request`. A
/// missing or stale request demands nothing beyond the account's own rules.
pub async fn due(
    env: Env<'_>,
    user_id: &str,
    for_request: Option<&str>,
) -> Result<SecondStep, SignInError> {
    let pending = match for_request {
        Some(id) => crate::oauth::authorize::load_pending(env.store, id).await?,
        None => None,
    };
    let policy = std::sync::Arc::clone(&env.mfa.policy);
    let user_id = user_id.to_owned();
    Ok(env
        .store
        .run(move |c| {
            let pending = match pending {
                Some((req, _)) => {
                    store::clients::find(c, &req.client_id)?.map(|client| (req, client))
                }
                None => None,
            };
            let (client, acr) = match &pending {
                Some((req, client)) => (Some(client), req.acr_demand()),
                None => (None, mfa::AcrDemand::Nothing),
            };
            mfa::second_step(c, &policy, &user_id, client, acr)
        })
        .await?)
}

/// After the first factor: the session when it is enough, a challenge when a second
/// factor (or its enrolment) is due.
pub async fn after_first_factor(
    env: Env<'_>,
    browser: &Browser,
    first: FirstFactor,
    for_request: Option<String>,
    return_to: String,
) -> Result<Outcome, SignInError> {
    match due(env, &first.user_id, for_request.as_deref()).await? {
        SecondStep::None => {
            let done = Completion {
                user_id: first.user_id,
                amr: first.amr,
                for_request,
                auth_time: first.auth_time,
            };
            let signed_in = complete::complete(env, browser, done).await?;
            Ok(Outcome::SignedIn(Box::new(signed_in)))
        }
        SecondStep::Ask | SecondStep::Enrol => {
            let challenge = start(env, first, return_to, for_request).await?;
            Ok(Outcome::NeedsSecondFactor { challenge })
        }
        SecondStep::Unavailable => Ok(Outcome::MustEnrolElsewhere),
    }
}

/// Leaves a challenge for the second step; the token is the challenge cookie's value.
pub(super) async fn start(
    env: Env<'_>,
    first: FirstFactor,
    return_to: String,
    for_request: Option<String>,
) -> Result<SecretString, SignInError> {
    Ok(challenge::start(
        env.store,
        env.mfa.policy.challenge_secs,
        NewChallenge {
            user_id: first.user_id,
            amr: first.amr,
            return_to,
            request: for_request,
            auth_time: first.auth_time,
        },
    )
    .await?)
}

/// The live challenge named by the browser's challenge cookie, if any.
pub async fn current(env: Env<'_>, cookie: Option<&str>) -> Result<Option<Challenge>, SignInError> {
    match cookie {
        Some(token) => Ok(challenge::load(env.store, token).await?),
        None => Ok(None),
    }
}

/// What the second-step page offers for a challenge. (No `Debug`: an enrolment holds the
/// new TOTP secret.)
pub enum View {
    /// The account's second factors: ask for one.
    Ask(Factors),
    /// The account must have a second factor and has none: set up an authenticator app.
    Enrol(Enrollment),
    /// The account has none and need not set one up here; the request still wants one.
    MustEnrolElsewhere,
    /// The challenge's account is gone.
    StartOver,
}

/// What to show for `challenge`'s second step.
pub async fn view(env: Env<'_>, challenge: &Challenge) -> Result<View, SignInError> {
    let (user_id, policy) = (
        challenge.user_id.clone(),
        std::sync::Arc::clone(&env.mfa.policy),
    );
    let (factors, enrol) = env
        .store
        .run(move |c| {
            let enrol = mfa::enrolment_required(c, &policy, &user_id)?;
            Ok::<_, store::StoreError>((mfa::factors(c, &user_id)?, enrol))
        })
        .await?;
    if factors.any() {
        return Ok(View::Ask(factors));
    }
    match enrol {
        true => enrolment(env, challenge).await,
        false => Ok(View::MustEnrolElsewhere),
    }
}

/// The authenticator-app set-up of this challenge (begun now, or the one begun before).
pub async fn enrolment(env: Env<'_>, challenge: &Challenge) -> Result<View, SignInError> {
    let (mfa, ch) = (env.mfa.clone(), challenge.clone());
    let enrollment = env
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let user =
                    store::users::find_by_id(c, &ch.user_id)?.ok_or(MfaError::NoChallenge)?;
                let label = (mfa.label.as_str(), user.username.as_str());
                // The set-up belongs to this challenge: no other browser is ever shown it.
                totp::pending_or_begin(
                    c,
                    &mfa.kek,
                    &user.id,
                    &ch.id_hash,
                    label,
                    crate::time::now(),
                )
            })
        })
        .await;
    match enrollment {
        Ok(e) => Ok(View::Enrol(e)),
        Err(MfaError::NoChallenge) => Ok(View::StartOver),
        Err(e) => Err(e.into()),
    }
}

/// What a second-factor code led to.
#[derive(Debug)]
pub enum CodeOutcome {
    /// The code passed and the session exists; for an enrolment, with the new recovery
    /// codes, to be shown this once.
    SignedIn {
        signed_in: Box<SignedIn>,
        return_to: String,
        new_recovery_codes: Option<Vec<String>>,
    },
    /// [`Refusal::InvalidCode`], [`Refusal::TooManyAttempts`] or [`Refusal::StartOver`].
    Refused(Refusal),
}

/// Checks `code` for `challenge` with `method` from `browser` (see
/// `mfa::second_factor::verify` for the lock-out rules and the notices it queues) and, when
/// it passes, completes the sign-in.
pub async fn with_code(
    env: Env<'_>,
    browser: &Browser,
    challenge: &Challenge,
    method: Method,
    code: SecretString,
) -> Result<CodeOutcome, SignInError> {
    let outcome = second_factor::verify(
        env.store,
        env.mfa,
        env.lockout,
        challenge,
        Attempt {
            method,
            code,
            origin: browser.origin.clone(),
        },
        env.allow_unconfirmed,
    )
    .await;
    let passed = match outcome {
        Ok(passed) => passed,
        Err(MfaError::InvalidCode) => return Ok(CodeOutcome::Refused(Refusal::InvalidCode)),
        Err(MfaError::TooManyAttempts) => {
            return Ok(CodeOutcome::Refused(Refusal::TooManyAttempts))
        }
        Err(MfaError::ChallengeExhausted | MfaError::NoChallenge) => {
            return Ok(CodeOutcome::Refused(Refusal::StartOver))
        }
        Err(MfaError::NotEnrolling) if method == Method::TotpEnrolment => {
            return Ok(CodeOutcome::Refused(Refusal::StartOver))
        }
        Err(e) => return Err(e.into()),
    };
    let done = Completion {
        user_id: challenge.user_id.clone(),
        amr: passed.amr,
        for_request: challenge.request.clone(),
        auth_time: challenge.auth_time,
    };
    let signed_in = complete::complete(env, browser, done).await?;
    Ok(CodeOutcome::SignedIn {
        signed_in: Box::new(signed_in),
        return_to: challenge.return_to.clone(),
        new_recovery_codes: match method {
            Method::TotpEnrolment => Some(passed.new_recovery_codes.unwrap_or_default()),
            _ => None,
        },
    })
}
