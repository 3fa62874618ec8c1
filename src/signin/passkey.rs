//! Passkeys at sign-in: passwordless (a discoverable credential verified with user
//! verification, two factors in itself) and as the second step after a password.
//!
//! Invariants: password failures never hold back a passwordless sign-in (a passkey has
//! nothing to guess); an account that may not sign in, a source locked out by wrong codes
//! (second step only) and an assertion without user verification are all refused exactly
//! like an unknown credential, so the answer reveals nothing about the account; the second
//! step's challenge is consumed once.

use webauthn_rs::prelude::PublicKeyCredential;

use super::complete::{self, Completion};
use super::password::Destination;
use super::{Browser, Env, SignInError, SignedIn};
use crate::accounts::eligibility::may_sign_in;
use crate::accounts::lockout::{self, Origin};
use crate::mfa::challenge::Challenge;
use crate::mfa::passkeys::{PasskeyError, Purpose};
use crate::mfa::second_factor::combined_amr;
use crate::store::challenges;
use crate::store::users::{self, UserRow};

/// A finished WebAuthn assertion ceremony.
#[derive(Debug)]
pub struct Assertion {
    pub ceremony: String,
    pub credential: PublicKeyCredential,
}

/// The account a passkey proved, if it may sign in now and, for a second step
/// (`locked_out`), the browser's source is not locked out of it by wrong codes since.
async fn usable_user(
    env: Env<'_>,
    user_id: &str,
    locked_out: Option<Origin>,
) -> Result<UserRow, SignInError> {
    let user_id = user_id.to_owned();
    let user = env
        .store
        .run(move |c| {
            let locked = match &locked_out {
                Some(o) => lockout::is_locked_out(c, &user_id, o, crate::time::now())?,
                None => false,
            };
            Ok::<_, crate::store::StoreError>(users::find_by_id(c, &user_id)?.filter(|_| !locked))
        })
        .await?;
    user.filter(|u| may_sign_in(u, env.allow_unconfirmed).is_ok())
        .ok_or_else(|| PasskeyError::UnknownCredential.into())
}

/// Passwordless sign-in with a discoverable passkey.
pub async fn passwordless(
    env: Env<'_>,
    browser: &Browser,
    assertion: Assertion,
    destination: Destination,
) -> Result<SignedIn, SignInError> {
    let auth = env
        .passkeys
        .finish_authentication(
            env.store,
            &assertion.ceremony,
            Purpose::Passwordless,
            assertion.credential,
            browser.origin.ip.clone(),
        )
        .await?;
    // Passkeys are registered and asserted with user verification required; an assertion
    // without it is not the two-factor sign-in a passkey stands for.
    if !auth.user_verified {
        return Err(PasskeyError::UnknownCredential.into());
    }
    let user = usable_user(env, &auth.user_id, None).await?;
    let done = Completion {
        user_id: user.id,
        amr: vec![auth.amr.to_owned(), "mfa".into()],
        for_request: destination.for_request,
        auth_time: None,
    };
    complete::complete(env, browser, done).await
}

/// A passkey as the second step of `challenge`'s sign-in. Returns the session and where
/// the browser goes next.
pub async fn second_factor(
    env: Env<'_>,
    browser: &Browser,
    challenge: &Challenge,
    assertion: Assertion,
) -> Result<(SignedIn, String), SignInError> {
    let auth = env
        .passkeys
        .finish_authentication(
            env.store,
            &assertion.ceremony,
            Purpose::SecondFactor,
            assertion.credential,
            browser.origin.ip.clone(),
        )
        .await?;
    if auth.user_id != challenge.user_id {
        return Err(PasskeyError::UnknownCredential.into());
    }
    // Locked out (by wrong codes from this browser) or disabled since the password:
    // refused like any other failure.
    usable_user(env, &challenge.user_id, Some(browser.origin.clone())).await?;
    let id_hash = challenge.id_hash.clone();
    let consumed = env
        .store
        .run(move |c| challenges::delete(c, &id_hash))
        .await?;
    if !consumed {
        return Err(SignInError::NoChallenge);
    }
    let done = Completion {
        user_id: challenge.user_id.clone(),
        amr: combined_amr(&challenge.amr, auth.amr),
        for_request: challenge.request.clone(),
        auth_time: challenge.auth_time,
    };
    let signed_in = complete::complete(env, browser, done).await?;
    Ok((signed_in, challenge.return_to.clone()))
}
