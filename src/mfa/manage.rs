//! A signed-in user managing their own second factors: setting up and removing the
//! authenticator app, and generating new recovery codes; and an operator removing them all.
//! Every change is audited and announced to the user by mail (links under `issuer`), both
//! in the transaction that makes it: whoever makes a change, the owner hears of it.

use serde_json::json;

use super::{factors, recovery, totp, Enrollment, Mfa, MfaError};
use crate::audit::{self, Actor, Event};
use crate::mail::{notices, outbox};
use crate::store::users::UserRow;
use crate::store::{self, recovery_codes, DbConn, Store, StoreError};

fn record(
    c: &mut DbConn,
    action: &'static str,
    user_id: &str,
    ip: Option<&str>,
) -> Result<(), StoreError> {
    audit::record(
        c,
        Event {
            action,
            actor: &Actor::User(user_id.to_owned()),
            target: Some(user_id),
            ip,
            detail: json!({}),
        },
    )
}

/// Queues "the sign-in methods of your account changed: `what`" for the user. Call inside
/// the transaction of the change.
pub(crate) fn announce(
    c: &mut DbConn,
    issuer: &str,
    user_id: &str,
    what: &str,
) -> Result<(), StoreError> {
    let user = crate::store::users::find_by_id(c, user_id)?.ok_or(StoreError::NotFound)?;
    outbox::raise(c, notices::mfa_changed(issuer, &user, what))
}

/// The set-up this session started, starting one if there is none. `owner` is the session's
/// `id_hash`: a set-up is only ever shown to the browser that began it.
pub async fn begin_totp(
    store: &Store,
    mfa: &Mfa,
    user: &UserRow,
    owner: &str,
) -> Result<Enrollment, MfaError> {
    let (mfa, user, owner) = (mfa.clone(), user.clone(), owner.to_owned());
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let label = (mfa.label.as_str(), user.username.as_str());
                totp::pending_or_begin(c, &mfa.kek, &user.id, &owner, label, crate::time::now())
            })
        })
        .await
}

/// Turns the pending authenticator app on. Returns new recovery codes when the user had
/// none left (to show once).
pub async fn confirm_totp(
    store: &Store,
    mfa: &Mfa,
    user_id: &str,
    owner: &str,
    code: String,
    issuer: &str,
    ip: Option<String>,
) -> Result<Option<Vec<String>>, MfaError> {
    let (mfa, user_id, owner) = (mfa.clone(), user_id.to_owned(), owner.to_owned());
    let issuer = issuer.to_owned();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                if !totp::confirm(c, &mfa.kek, &user_id, &owner, &code, now)? {
                    return Err(MfaError::InvalidCode);
                }
                record(c, "mfa.totp_enabled", &user_id, ip.as_deref())?;
                announce(c, &issuer, &user_id, "an authenticator app was set up")?;
                if recovery::remaining(c, &user_id)? > 0 {
                    return Ok(None);
                }
                Ok(Some(recovery::regenerate(c, &user_id, now)?))
            })
        })
        .await
}

/// Removes the authenticator app; with no second factor left, the recovery codes go too
/// (they would recover nothing). Returns whether one was set up.
pub async fn remove_totp(
    store: &Store,
    user_id: &str,
    issuer: &str,
    ip: Option<String>,
) -> Result<bool, MfaError> {
    let (user_id, issuer) = (user_id.to_owned(), issuer.to_owned());
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if !crate::store::totp::delete(c, &user_id)? {
                    return Ok(false);
                }
                drop_orphaned_recovery_codes(c, &user_id)?;
                record(c, "mfa.totp_removed", &user_id, ip.as_deref())?;
                announce(c, &issuer, &user_id, "the authenticator app was removed")?;
                Ok(true)
            })
        })
        .await
}

/// The first set of recovery codes for a user whose first second factor needed none to be
/// shown (a passkey added through the JSON ceremony). No password is asked: nothing is
/// replaced, and once issued, only [`regenerate_recovery`] (with the password) makes more.
pub async fn first_recovery_codes(
    store: &Store,
    user_id: &str,
    ip: Option<String>,
) -> Result<Vec<String>, MfaError> {
    issue_recovery(store, user_id, ip, None).await
}

/// A new set of recovery codes (the old set stops working); only for a user with a
/// second factor. The caller has checked the password.
pub async fn regenerate_recovery(
    store: &Store,
    user_id: &str,
    issuer: &str,
    ip: Option<String>,
) -> Result<Vec<String>, MfaError> {
    issue_recovery(store, user_id, ip, Some(issuer.to_owned())).await
}

/// Issues recovery codes: the first set (nothing is replaced, nothing announced) when
/// `replacing` is `None`, else a new set announced under that issuer.
async fn issue_recovery(
    store: &Store,
    user_id: &str,
    ip: Option<String>,
    replacing: Option<String>,
) -> Result<Vec<String>, MfaError> {
    let user_id = user_id.to_owned();
    let first_only = replacing.is_none();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let f = factors(c, &user_id)?;
                if !f.any() {
                    return Err(MfaError::NoSecondFactor);
                }
                if first_only && f.recovery_issued {
                    return Err(MfaError::RecoveryCodesIssued);
                }
                let codes = recovery::regenerate(c, &user_id, crate::time::now())?;
                record(c, "mfa.recovery_codes_generated", &user_id, ip.as_deref())?;
                if let Some(issuer) = &replacing {
                    let what = "new recovery codes were generated (the old ones no longer work)";
                    announce(c, issuer, &user_id, what)?;
                }
                Ok(codes)
            })
        })
        .await
}

/// What `portcullis user reset-mfa` removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reset {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes: usize,
}

/// Removes every second factor of `username` (an operator helping a user who lost them
/// all), and tells the user, as if they had removed them themselves (someone who talked an
/// operator into this must not go unnoticed). Their sessions stay; the next sign-in needs
/// only the password, or leads to a new set-up where MFA is required.
pub async fn reset_all(
    store: &Store,
    username: &str,
    actor: Actor,
    issuer: &str,
) -> Result<Option<Reset>, MfaError> {
    let (username, issuer) = (username.to_owned(), issuer.to_owned());
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let Some(user) = crate::accounts::names::find_by_username(c, &username)? else {
                    return Ok(None);
                };
                let reset = Reset {
                    totp: crate::store::totp::delete(c, &user.id)?,
                    passkeys: crate::store::passkeys::delete_all_for_user(c, &user.id)?,
                    recovery_codes: recovery_codes::delete_all(c, &user.id)?,
                };
                audit::record(
                    c,
                    Event {
                        action: "mfa.reset",
                        actor: &actor,
                        target: Some(&user.id),
                        ip: None,
                        detail: json!({
                            "totp": reset.totp,
                            "passkeys": reset.passkeys,
                            "recovery_codes": reset.recovery_codes,
                        }),
                    },
                )?;
                if reset != Reset::default() {
                    let what = "an administrator removed every second factor \
                                (authenticator app, passkeys, recovery codes)";
                    outbox::raise(c, notices::mfa_changed(&issuer, &user, what))?;
                }
                Ok(Some(reset))
            })
        })
        .await
}

/// After a second factor went: with none left, the recovery codes go too (they would
/// recover nothing, and a later first factor starts with a fresh set). Call inside the
/// transaction that removed the factor.
pub fn drop_orphaned_recovery_codes(c: &mut DbConn, user_id: &str) -> Result<(), StoreError> {
    if !factors(c, user_id)?.any() {
        recovery_codes::delete_all(c, user_id)?;
    }
    Ok(())
}
