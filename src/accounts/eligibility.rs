//! Whether an account may sign in at all, whatever the method.
//!
//! Invariant: this is the one place that says so. The password, the second step, a
//! passwordless passkey and the set-up link all ask [`may_sign_in`]; callers hide the
//! reason from the browser where the account's existence must not show (a disabled account
//! looks like a wrong password or an unknown passkey).

use crate::store::users::UserRow;

/// Why an account that proved who it is may still not sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// An administrator disabled it.
    Disabled,
    /// Self-registered and the address is not confirmed yet (and unconfirmed sign-in is
    /// not allowed by `signup.allow_unverified_sign_in`).
    Unconfirmed,
}

/// Decides whether `user` may start a session now. `allow_unconfirmed` is
/// `signup.allow_unverified_sign_in`. A disabled account is refused before anything else,
/// so that a disabled, unconfirmed account never learns that its address is unconfirmed.
pub fn may_sign_in(user: &UserRow, allow_unconfirmed: bool) -> Result<(), Ineligible> {
    if user.disabled {
        return Err(Ineligible::Disabled);
    }
    if user.signup_pending && !allow_unconfirmed {
        return Err(Ineligible::Unconfirmed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(disabled: bool, signup_pending: bool) -> UserRow {
        UserRow {
            id: "u1".into(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            email_verified: !signup_pending,
            display_name: None,
            password_hash: None,
            disabled,
            locked_until: None,
            failed_logins: 0,
            created_at: 0,
            updated_at: 0,
            signup_pending,
        }
    }

    #[test]
    fn an_active_confirmed_account_may_sign_in() {
        assert_eq!(may_sign_in(&user(false, false), false), Ok(()));
        assert_eq!(may_sign_in(&user(false, false), true), Ok(()));
    }

    #[test]
    fn a_disabled_account_never_may_and_says_disabled_first() {
        for pending in [false, true] {
            for allow in [false, true] {
                assert_eq!(
                    may_sign_in(&user(true, pending), allow),
                    Err(Ineligible::Disabled)
                );
            }
        }
    }

    #[test]
    fn an_unconfirmed_account_may_only_when_the_setting_allows_it() {
        assert_eq!(
            may_sign_in(&user(false, true), false),
            Err(Ineligible::Unconfirmed)
        );
        assert_eq!(may_sign_in(&user(false, true), true), Ok(()));
    }
}
