//! Step-up: a browser with a session whose authorization request needs a second factor the
//! session lacks.
//!
//! Invariants: a step-up keeps the session's time of authentication and never counts as a
//! fresh sign-in for `prompt=login` or `max_age`; setting up a second factor here needs a
//! recent first factor (`accounts::reauth::is_recent`), as on /account/security, so a
//! borrowed, stale session cannot add an authenticator.

use super::second_step::{self, FirstFactor};
use super::{Env, SignInError};
use crate::crypto::SecretString;
use crate::mfa::SecondStep;
use crate::sessions::ActiveSession;

/// What a step-up for an authorization request leads to.
#[derive(Debug)]
pub enum StepUp {
    /// The request is stale or unknown.
    UnknownRequest,
    /// Nothing is missing (set up meanwhile in another tab): back to the request.
    AlreadyMet,
    /// The session is too old to set up a second factor: the first factor again.
    SignInAgain,
    /// The second step is due: the challenge cookie's value.
    NeedsSecondFactor { challenge: SecretString },
    /// A second factor is demanded that the account cannot set up here.
    MustEnrolElsewhere,
}

/// Starts a step-up of `session` for the pending request `request`; the browser goes on
/// to `continue_to` once it is done.
pub async fn start(
    env: Env<'_>,
    session: ActiveSession,
    request: &str,
    continue_to: String,
) -> Result<StepUp, SignInError> {
    // The request must exist (and so belong to this flow).
    let Some((pending, _)) = crate::oauth::authorize::load_pending(env.store, request).await?
    else {
        return Ok(StepUp::UnknownRequest);
    };
    let client_id = pending.client_id.clone();
    let known = env
        .store
        .run(move |c| crate::store::clients::find(c, &client_id))
        .await?;
    if known.is_none() {
        return Ok(StepUp::UnknownRequest);
    }
    match second_step::due(env, &session.user.id, Some(request)).await? {
        SecondStep::None => Ok(StepUp::AlreadyMet),
        SecondStep::Enrol if !crate::accounts::reauth::is_recent(&session, crate::time::now()) => {
            Ok(StepUp::SignInAgain)
        }
        SecondStep::Ask | SecondStep::Enrol => {
            // The second factor completes this session's sign-in, made at its auth_time;
            // it does not make the sign-in fresh.
            let first = FirstFactor {
                user_id: session.user.id,
                amr: session.amr,
                auth_time: Some(session.auth_time),
            };
            let challenge =
                second_step::start(env, first, continue_to, Some(request.to_owned())).await?;
            Ok(StepUp::NeedsSecondFactor { challenge })
        }
        SecondStep::Unavailable => Ok(StepUp::MustEnrolElsewhere),
    }
}
