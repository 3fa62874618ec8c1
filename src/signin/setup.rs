//! The first administrator's set-up link: creating the account signs it in.
//!
//! Invariant: the account is created (and the link spent) before the session starts; the
//! session starts through the same completion as every other sign-in.

use super::complete::{self, Completion};
use super::{Browser, Env, SignInError, SignedIn};
use crate::accounts::policy::PasswordPolicy;
use crate::accounts::{setup, NewUser};

/// Creates the first administrator with the set-up `token` and signs them in.
pub async fn first_administrator(
    env: Env<'_>,
    browser: &Browser,
    policy: &PasswordPolicy,
    token: &str,
    new: NewUser,
) -> Result<SignedIn, SignInError> {
    let user = setup::complete(
        env.store,
        env.hasher,
        policy,
        token,
        new,
        browser.origin.ip.clone(),
    )
    .await?;
    tracing::info!(user_id = %user.id, "first administrator created through the setup link");
    let done = Completion {
        user_id: user.id,
        amr: vec!["pwd".into()],
        for_request: None,
        auth_time: None,
    };
    complete::complete(env, browser, done).await
}
