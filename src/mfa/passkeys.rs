//! Passkeys: WebAuthn credentials (W3C Web Authentication Level 3) through webauthn-rs.
//!
//! Invariants:
//! - The relying party is the issuer: RP ID = its host, origin = its origin. Browsers refuse
//!   an IP address as RP ID, so an issuer without a domain name has passkeys disabled.
//! - A ceremony (begin → finish) keeps its state server-side in `webauthn_ceremonies`, keyed
//!   by the SHA-256 of a random token the browser holds; it is single use (consumed before
//!   verification, so a failed finish cannot be retried with the same challenge), bound to its
//!   kind and, except for a discoverable sign-in, to its user, and expires after five minutes.
//!   Starts are bounded per client address and per account (`[limits]`), so nobody can fill
//!   the table.
//! - Registration and authentication require user verification (§6.2.3), so a passkey is a
//!   multi-factor credential in itself and can sign in without a password.
//! - The webauthn user handle is derived from the user id (no extra column), never the
//!   username, which may change and is personal data.
//! - A credential id belongs to one account only (§7.1 step 22).
//! - A signature counter that does not increase (§7.2 step 21) is refused as a possibly cloned
//!   authenticator and audited; the credential stays stored for the user or an administrator to
//!   judge. The counter is checked against the stored credential at finish time and written
//!   back with a compare-and-swap, so two racing uses cannot both pass with the same value.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::audit::{self, Actor, Event};
use crate::crypto::{random, token};
use crate::limits::Limits;
use crate::store::ceremonies::{self, CeremonyRow};
use crate::store::passkeys::{self as rows, PasskeyRow};
use crate::store::users::UserRow;
use crate::store::{self, DbConn, Store, StoreError};

/// How long a begun ceremony can be finished: long enough to find a security key and enter a
/// PIN, short enough that a leaked challenge is soon useless.
pub const CEREMONY_LIFETIME_SECS: i64 = 300;
/// Longest passkey name, in characters.
pub const NAME_MAX_CHARS: usize = 64;

const KIND_REGISTRATION: &str = "passkey.register";

/// What an authentication ceremony is for. A ceremony finishes only for the purpose it
/// began with, so an assertion made to confirm a removal cannot complete a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The second step after the password.
    SecondFactor,
    /// Confirming a sensitive change from a signed-in session.
    Reauthentication,
    /// Signing in with a discoverable credential alone.
    Passwordless,
}

impl Purpose {
    fn kind(self) -> &'static str {
        match self {
            Purpose::SecondFactor => "passkey.second_factor",
            Purpose::Reauthentication => "passkey.reauth",
            Purpose::Passwordless => "passkey.discoverable",
        }
    }
}
/// Counts a ceremony start against the limits (client address `ip`, account `user_id`).
fn admit(
    limits: Option<Limits>,
    conn: &mut DbConn,
    ip: Option<&str>,
    user_id: Option<&str>,
) -> Result<(), PasskeyError> {
    match limits {
        Some(l) if !l.ceremony(conn, ip, user_id)? => Err(PasskeyError::TooManyStarts),
        _ => Ok(()),
    }
}

/// Retries of the counter compare-and-swap before giving up on a credential in heavy use.
const UPDATE_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("Passkeys are not available on this server.")]
    Unavailable,
    #[error("Give the passkey a name of 1 to 64 characters.")]
    InvalidName,
    /// Unknown, used, expired, of another kind or for another user.
    #[error("This passkey request has expired or was already used. Start again.")]
    CeremonyInvalid,
    #[error("There is no passkey registered for this account.")]
    NoPasskeys,
    /// Too many ceremonies started from this client address or for this account.
    #[error("Too many passkey requests. Wait a few minutes and try again.")]
    TooManyStarts,
    #[error("This passkey is already registered.")]
    AlreadyRegistered,
    #[error("This passkey is not registered for this account.")]
    UnknownCredential,
    /// The browser's response failed verification (origin, RP ID, challenge, signature, user
    /// verification...). The source says which; it is for logs, not for the client.
    #[error("The passkey could not be verified.")]
    Rejected(#[source] WebauthnError),
    #[error("This passkey's signature counter went backwards, so it may have been copied. It was not accepted.")]
    CloneSuspected,
    /// webauthn-rs failed on our side (starting a ceremony).
    #[error("webauthn: {0}")]
    Webauthn(#[source] WebauthnError),
    #[error("ceremony state cannot be (de)serialised")]
    State(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A successful passkey authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user_id: String,
    /// base64url credential id (the `passkeys.id` column).
    pub credential_id: String,
    pub user_verified: bool,
    /// RFC 8176 method: `swk` for a backup-eligible (synced, software-held) credential, `hwk`
    /// for one bound to a device.
    pub amr: &'static str,
}

/// The passkey service: the relying party configuration, shared by all workers.
#[derive(Clone)]
pub struct Passkeys {
    webauthn: Option<Arc<Webauthn>>,
    /// Bounds ceremony starts per client address and per account; none in bare test setups.
    limits: Option<Limits>,
    /// For the links in the notices of added and removed passkeys.
    issuer: String,
}

impl Passkeys {
    /// The relying party for `issuer`; [`PasskeyError::Unavailable`] when its host is not a
    /// domain name (an IP address cannot be an RP ID).
    pub fn new(issuer: &str) -> Result<Self, PasskeyError> {
        let url = Url::parse(issuer).map_err(|_| PasskeyError::Unavailable)?;
        let rp_id = url.domain().ok_or(PasskeyError::Unavailable)?.to_owned();
        let origin = Url::parse(&url.origin().ascii_serialization())
            .map_err(|_| PasskeyError::Unavailable)?;
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .map_err(PasskeyError::Webauthn)?
            .rp_name("Portcullis")
            .timeout(Duration::from_secs(CEREMONY_LIFETIME_SECS.unsigned_abs()))
            .build()
            .map_err(PasskeyError::Webauthn)?;
        Ok(Self {
            webauthn: Some(Arc::new(webauthn)),
            limits: None,
            issuer: issuer.to_owned(),
        })
    }

    /// Bounds the ceremonies started per client address and per account: a start beyond a
    /// limit is [`PasskeyError::TooManyStarts`] and stores nothing.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// A service that refuses every ceremony (issuer without a domain name).
    pub fn disabled() -> Self {
        Self {
            webauthn: None,
            limits: None,
            issuer: String::new(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<Arc<Webauthn>, PasskeyError> {
        self.webauthn.clone().ok_or(PasskeyError::Unavailable)
    }

    /// Starts adding a passkey to `user`'s account. The options exclude the credentials the
    /// user has already, and ask for a discoverable credential (so it can sign in without a
    /// username) and user verification.
    pub async fn begin_registration(
        &self,
        store: &Store,
        user: &UserRow,
        ip: Option<&str>,
    ) -> Result<(String, CreationChallengeResponse), PasskeyError> {
        let webauthn = self.webauthn()?;
        let user = user.clone();
        let (limits, ip) = (self.limits, ip.map(str::to_owned));
        store
            .run(move |conn| {
                admit(limits, conn, ip.as_deref(), Some(&user.id))?;
                let exclude = rows::list_for_user(conn, &user.id)?
                    .iter()
                    .filter_map(|r| URL_SAFE_NO_PAD.decode(&r.id).ok())
                    .collect::<Vec<CredentialID>>();
                let display = user.display_name.as_deref().unwrap_or(&user.username);
                let (mut options, state) = webauthn
                    .start_passkey_registration(
                        user_handle(&user.id),
                        &user.username,
                        display,
                        Some(exclude),
                    )
                    .map_err(PasskeyError::Webauthn)?;
                // webauthn-rs asks for "discouraged" so as not to fill security keys' few
                // resident slots; a passkey that cannot sign in without a username is not
                // what users expect, and browsers treat "preferred" as "required" anyway.
                if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
                    sel.resident_key = Some(ResidentKeyRequirement::Preferred);
                }
                let token = begin_ceremony(conn, Some(&user.id), KIND_REGISTRATION, &state)?;
                Ok((token, options))
            })
            .await
    }

    /// Completes a registration begun for `user_id` and stores the passkey as `name`.
    pub async fn finish_registration(
        &self,
        store: &Store,
        ceremony: &str,
        user_id: &str,
        name: &str,
        credential: RegisterPublicKeyCredential,
        ip: Option<String>,
    ) -> Result<PasskeyRow, PasskeyError> {
        let webauthn = self.webauthn()?;
        // Checked before the ceremony is used, so the user can fix the name and resubmit
        // the credential the authenticator has already made.
        let name = valid_name(name)?;
        let id_hash = ceremony_hash(ceremony)?;
        let (user_id, issuer) = (user_id.to_owned(), self.issuer.clone());
        store
            .run(move |conn| {
                let now = crate::time::now();
                let row = ceremonies::consume(conn, &id_hash, &[KIND_REGISTRATION], now)?
                    .filter(|r| r.user_id.as_deref() == Some(user_id.as_str()))
                    .ok_or(PasskeyError::CeremonyInvalid)?;
                let state: PasskeyRegistration = parse_state(&row)?;
                let passkey = webauthn
                    .finish_passkey_registration(&credential, &state)
                    .map_err(|e| match e {
                        // webauthn-rs 0.6 reports a credential from the exclude list (one the
                        // user has already) under this misleading name.
                        WebauthnError::CredentialAlreadyExists
                        | WebauthnError::CredentialAlteredAlgFromRequest => {
                            PasskeyError::AlreadyRegistered
                        }
                        e => PasskeyError::Rejected(e),
                    })?;
                let id = URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice());
                let stored = PasskeyRow {
                    id: id.clone(),
                    user_id: user_id.clone(),
                    name,
                    credential: serde_json::to_string(&passkey).map_err(PasskeyError::State)?,
                    created_at: now,
                    last_used_at: None,
                };
                store::transaction(conn, |c| {
                    if rows::find(c, &id)?.is_some() {
                        return Err(PasskeyError::AlreadyRegistered);
                    }
                    rows::insert(c, &stored).map_err(|e| match e {
                        StoreError::Conflict(_) => PasskeyError::AlreadyRegistered,
                        e => e.into(),
                    })?;
                    audit::record(
                        c,
                        Event {
                            action: "passkey.added",
                            actor: &Actor::User(user_id.clone()),
                            target: Some(&user_id),
                            ip: ip.as_deref(),
                            detail: json!({ "credential_id": id, "name": stored.name }),
                        },
                    )?;
                    let what = format!("a passkey named \"{}\" was added", stored.name);
                    super::manage::announce(c, &issuer, &user_id, &what)?;
                    Ok(())
                })?;
                Ok(stored)
            })
            .await
    }

    /// Starts a second-factor authentication for a user identified already (by password);
    /// the browser may offer only that user's passkeys.
    pub async fn begin_authentication(
        &self,
        store: &Store,
        user_id: &str,
        purpose: Purpose,
        ip: Option<&str>,
    ) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        let webauthn = self.webauthn()?;
        let user_id = user_id.to_owned();
        let (limits, ip) = (self.limits, ip.map(str::to_owned));
        store
            .run(move |conn| {
                admit(limits, conn, ip.as_deref(), Some(&user_id))?;
                let passkeys = rows::list_for_user(conn, &user_id)?
                    .iter()
                    .map(parse_passkey)
                    .collect::<Result<Vec<_>, _>>()?;
                if passkeys.is_empty() {
                    return Err(PasskeyError::NoPasskeys);
                }
                let (options, state) = webauthn
                    .start_passkey_authentication(&passkeys)
                    .map_err(PasskeyError::Webauthn)?;
                let state = as_single_credential_state(&state)?;
                let token = begin_ceremony(conn, Some(&user_id), purpose.kind(), &state)?;
                Ok((token, options))
            })
            .await
    }

    /// Starts a passwordless sign-in: the authenticator picks a discoverable credential and
    /// tells us whose it is (the user handle). The options carry `mediation: "conditional"`
    /// for autofill-driven UIs; a button-driven UI leaves it out.
    pub async fn begin_discoverable(
        &self,
        store: &Store,
        ip: Option<&str>,
    ) -> Result<(String, RequestChallengeResponse), PasskeyError> {
        let webauthn = self.webauthn()?;
        let (limits, ip) = (self.limits, ip.map(str::to_owned));
        store
            .run(move |conn| {
                admit(limits, conn, ip.as_deref(), None)?;
                let (options, state) = webauthn
                    .start_discoverable_authentication()
                    .map_err(PasskeyError::Webauthn)?;
                let token = begin_ceremony(conn, None, Purpose::Passwordless.kind(), &state)?;
                Ok((token, options))
            })
            .await
    }

    /// Completes a second-factor or discoverable authentication. On success the stored
    /// credential's counter and backup state and its `last_used_at` are updated.
    pub async fn finish_authentication(
        &self,
        store: &Store,
        ceremony: &str,
        purpose: Purpose,
        credential: PublicKeyCredential,
        ip: Option<String>,
    ) -> Result<Authenticated, PasskeyError> {
        let webauthn = self.webauthn()?;
        let id_hash = ceremony_hash(ceremony)?;
        store
            .run(move |conn| {
                let now = crate::time::now();
                let row = ceremonies::consume(conn, &id_hash, &[purpose.kind()], now)?
                    .ok_or(PasskeyError::CeremonyInvalid)?;
                let state: DiscoverableAuthentication = parse_state(&row)?;
                let credential_id = URL_SAFE_NO_PAD.encode(credential.get_credential_id());
                let mut stored =
                    rows::find(conn, &credential_id)?.ok_or(PasskeyError::UnknownCredential)?;
                check_owner(&row, &stored, &credential)?;
                for _ in 0..UPDATE_ATTEMPTS {
                    let mut passkey = parse_passkey(&stored)?;
                    let result = match webauthn.finish_discoverable_authentication_v2(
                        &credential,
                        state.clone(),
                        &passkey,
                    ) {
                        Ok(result) => result,
                        Err(WebauthnError::CredentialPossibleCompromise) => {
                            record_clone_suspected(conn, &stored, ip.as_deref())?;
                            return Err(PasskeyError::CloneSuspected);
                        }
                        Err(e) => return Err(PasskeyError::Rejected(e)),
                    };
                    passkey.update_credential(&result);
                    let updated = serde_json::to_string(&passkey).map_err(PasskeyError::State)?;
                    if rows::update_credential(conn, &stored.id, &stored.credential, &updated, now)?
                    {
                        return Ok(Authenticated {
                            user_id: stored.user_id,
                            credential_id,
                            user_verified: result.user_verified(),
                            amr: if result.backup_eligible() {
                                "swk"
                            } else {
                                "hwk"
                            },
                        });
                    }
                    // Another use of this credential was stored meanwhile: verify again
                    // against its counter.
                    stored =
                        rows::find(conn, &credential_id)?.ok_or(PasskeyError::UnknownCredential)?;
                }
                Err(PasskeyError::CeremonyInvalid)
            })
            .await
    }

    /// A user's passkeys, oldest first.
    pub async fn list(
        &self,
        store: &Store,
        user_id: &str,
    ) -> Result<Vec<PasskeyRow>, PasskeyError> {
        let user_id = user_id.to_owned();
        Ok(store
            .run(move |conn| rows::list_for_user(conn, &user_id))
            .await?)
    }

    /// How many passkeys a user has (e.g. whether to offer a passkey as second factor).
    pub async fn count(&self, store: &Store, user_id: &str) -> Result<i64, PasskeyError> {
        let user_id = user_id.to_owned();
        Ok(store
            .run(move |conn| rows::count_for_user(conn, &user_id))
            .await?)
    }

    /// Removes one of `user_id`'s passkeys; returns whether it existed. The caller makes sure
    /// the user has just proved who they are.
    pub async fn remove(
        &self,
        store: &Store,
        user_id: &str,
        credential_id: &str,
        ip: Option<String>,
    ) -> Result<bool, PasskeyError> {
        let (user_id, issuer) = (user_id.to_owned(), self.issuer.clone());
        let credential_id = credential_id.to_owned();
        Ok(store
            .run(move |conn| {
                store::transaction(conn, |c| {
                    let removed = rows::delete(c, &user_id, &credential_id)?;
                    if removed {
                        super::manage::drop_orphaned_recovery_codes(c, &user_id)?;
                        audit::record(
                            c,
                            Event {
                                action: "passkey.removed",
                                actor: &Actor::User(user_id.clone()),
                                target: Some(&user_id),
                                ip: ip.as_deref(),
                                detail: json!({ "credential_id": credential_id }),
                            },
                        )?;
                        super::manage::announce(c, &issuer, &user_id, "a passkey was removed")?;
                    }
                    Ok::<_, StoreError>(removed)
                })
            })
            .await?)
    }
}

/// The WebAuthn user handle of a user: 16 bytes of SHA-256 over the user id, so it is stable,
/// needs no column, and reveals neither the id nor the username.
pub fn user_handle(user_id: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"portcullis webauthn user handle\0")
        .chain_update(user_id.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A trimmed passkey name: 1..=64 characters, no control characters (it is shown in pages
/// and audit details).
fn valid_name(raw: &str) -> Result<String, PasskeyError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(PasskeyError::InvalidName);
    }
    Ok(name.to_owned())
}

fn ceremony_hash(ceremony: &str) -> Result<String, PasskeyError> {
    if !token::is_well_formed(ceremony) {
        return Err(PasskeyError::CeremonyInvalid);
    }
    Ok(token::hash(ceremony))
}

/// Stores `state` for a new ceremony and returns the token the browser will present.
fn begin_ceremony(
    conn: &mut DbConn,
    user_id: Option<&str>,
    kind: &str,
    state: &impl serde::Serialize,
) -> Result<String, PasskeyError> {
    let token = random::secret_token();
    let now = crate::time::now();
    ceremonies::insert(
        conn,
        &CeremonyRow {
            id_hash: token::hash(&token),
            user_id: user_id.map(str::to_owned),
            kind: kind.to_owned(),
            state: serde_json::to_string(state).map_err(PasskeyError::State)?,
            created_at: now,
            expires_at: now + CEREMONY_LIFETIME_SECS,
        },
    )?;
    Ok(token)
}

fn parse_state<T: serde::de::DeserializeOwned>(row: &CeremonyRow) -> Result<T, PasskeyError> {
    serde_json::from_str(&row.state)
        .map_err(|e| StoreError::Corrupt(format!("webauthn ceremony state: {e}")).into())
}

fn parse_passkey(row: &PasskeyRow) -> Result<Passkey, PasskeyError> {
    serde_json::from_str(&row.credential)
        .map_err(|e| StoreError::Corrupt(format!("passkey {}: {e}", row.id)).into())
}

/// Both kinds of sign-in finish through webauthn-rs's single-credential check, which runs
/// the counter check against the credential as stored *now*; the allow-list variant would
/// compare with the copy taken at begin time, and a clone used in between would pass. The
/// two states are the same `AuthenticationState` under different wrappers.
fn as_single_credential_state(
    state: &PasskeyAuthentication,
) -> Result<DiscoverableAuthentication, PasskeyError> {
    serde_json::to_value(state)
        .and_then(serde_json::from_value)
        .map_err(PasskeyError::State)
}

/// The credential must be the ceremony user's (second factor) or the one its user handle
/// names (discoverable); a user handle, when sent, must always match (§7.2 step 6).
fn check_owner(
    ceremony: &CeremonyRow,
    stored: &PasskeyRow,
    credential: &PublicKeyCredential,
) -> Result<(), PasskeyError> {
    let handle_matches = credential
        .get_user_unique_id()
        .map(|h| h == user_handle(&stored.user_id).as_bytes());
    let owner_ok = match ceremony.user_id.as_deref() {
        Some(user_id) => user_id == stored.user_id && handle_matches != Some(false),
        None => handle_matches == Some(true),
    };
    if owner_ok {
        Ok(())
    } else {
        Err(PasskeyError::UnknownCredential)
    }
}

/// Audits a counter regression. Runs outside any transaction the refusal would roll back.
fn record_clone_suspected(
    conn: &mut DbConn,
    stored: &PasskeyRow,
    ip: Option<&str>,
) -> Result<(), StoreError> {
    tracing::warn!(
        user_id = %stored.user_id,
        credential_id = %stored.id,
        "passkey signature counter did not increase: possible cloned authenticator"
    );
    audit::record(
        conn,
        Event {
            action: "passkey.clone_suspected",
            actor: &Actor::Anonymous,
            target: Some(&stored.user_id),
            ip,
            detail: json!({ "credential_id": stored.id, "name": stored.name }),
        },
    )
}

#[cfg(test)]
mod tests;
