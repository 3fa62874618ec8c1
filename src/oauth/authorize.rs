//! The authorization endpoint's decisions (RFC 6749 §4.1, OIDC Core §3.1.2): whether the
//! user must sign in, must consent, or gets a code; keeping requests server-side while the
//! user does so; and issuing the code.
//!
//! Invariants: a code is issued only for a signed-in session that satisfies `prompt` and
//! `max_age`, with consent given or remembered (or a first-party client); a pending request
//! completes at most once; codes are 256-bit random and stored as SHA-256, bound to the
//! client, redirect URI, PKCE challenge and nonce; requests kept for browsers nobody is
//! signed in on are short-lived and capped per client address ([`save_pending`]).

use serde_json::json;

use super::claims::scopes_for_consent;
use super::error::{ErrorCode, FlowError, OAuthError};
use super::request::AuthorizationRequest;
use super::Provider;
use crate::crypto::{random, token};
use crate::limits::source_key;
use crate::mfa::{AcrDemand, SecondStep};
use crate::sessions::ActiveSession;
use crate::store::clients::Client;
use crate::store::grants::{self, CodeRow, GrantRow};
use crate::store::{self, authz_requests, consents, Store, StoreError};

/// What happens next with an authorization request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Login,
    /// Signed in, but without the second factor this request needs (step-up).
    SecondFactor,
    Consent,
    IssueCode,
}

/// Whether `session` is a sign-in good enough for `req`. `prompt=login` and an exceeded
/// `max_age` demand a sign-in made for this very request: the login page records the new
/// session's `sid` in the stored request (`authenticated_sid`).
pub fn login_satisfied(
    req: &AuthorizationRequest,
    session: Option<&ActiveSession>,
    now: i64,
) -> bool {
    let Some(s) = session else {
        return false;
    };
    let fresh = req.authenticated_sid.as_deref() == Some(s.sid.as_str());
    fresh || !(req.prompt_login || req.max_age.is_some_and(|max| now - s.auth_time > max))
}

/// Decides the next step. `second`: what the signed-in user's sign-in needs after the first
/// factor for this client and request (see [`crate::mfa::second_step`]).
///
/// An essential acr that no level here satisfies fails at once, signed in or not; with
/// `prompt=none`, a second factor that is compulsory (configuration, the client, an
/// essential acr) for a user who has none is `unmet_authentication_requirements`
/// (OpenID Connect Unmet Authentication Requirements 1.0), one the user has but did not
/// use is `login_required`.
pub fn decide(
    req: &AuthorizationRequest,
    session: Option<&ActiveSession>,
    client: &Client,
    consented: &[String],
    second: SecondStep,
    now: i64,
) -> Result<Next, OAuthError> {
    if req.acr_demand() == AcrDemand::Unmeetable {
        return Err(OAuthError::new(
            ErrorCode::UnmetAuthenticationRequirements,
            "no authentication offered here satisfies the essential acr",
        ));
    }
    if !login_satisfied(req, session, now) {
        return if req.prompt_none {
            Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user must sign in",
            ))
        } else {
            Ok(Next::Login)
        };
    }
    if second != SecondStep::None && !session.is_some_and(|s| crate::mfa::has_mfa(&s.amr)) {
        return match (req.prompt_none, second) {
            (false, _) => Ok(Next::SecondFactor),
            (true, SecondStep::Ask) => Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the user must sign in with a second factor",
            )),
            (true, _) => Err(OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "a second factor is required and the user has none set up",
            )),
        };
    }
    let wanted = scopes_for_consent(&req.scopes, req.claims.as_ref());
    let needs_consent = !client.skip_consent
        && (req.prompt_consent || wanted.iter().any(|s| !consented.contains(s)));
    if needs_consent {
        return if req.prompt_none {
            Err(OAuthError::new(
                ErrorCode::ConsentRequired,
                "the user must consent",
            ))
        } else {
            Ok(Next::Consent)
        };
    }
    Ok(Next::IssueCode)
}

pub async fn consented_scopes(
    store: &Store,
    user_id: &str,
    client_id: &str,
) -> Result<Vec<String>, StoreError> {
    let (user_id, client_id) = (user_id.to_owned(), client_id.to_owned());
    store
        .run(move |c| {
            Ok(consents::find(c, &user_id, &client_id)?
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default())
        })
        .await
}

/// Keeps a validated request server-side; returns the random id for the browser.
///
/// A request from a browser nobody is signed in on (`signed_in` false) is the only state
/// anyone can make us keep without an account: it lives `pending_unauthenticated` seconds
/// and counts against its client address (`ip`, IPv6 per /64). Beyond
/// `pending_per_source` live ones, that source's oldest are dropped, so a flood from one
/// address cannot fill the table and the newest sign-in still proceeds.
pub async fn save_pending(
    provider: &Provider,
    req: &AuthorizationRequest,
    signed_in: bool,
    ip: Option<&str>,
) -> Result<String, StoreError> {
    let id = random::secret_token();
    let hash = token::hash(&id);
    let params = serde_json::to_string(req).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let client_id = req.client_id.clone();
    let lifetimes = provider.lifetimes;
    let source = (!signed_in).then(|| ip.map_or_else(|| "unknown".into(), source_key));
    provider
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let now = crate::time::now();
                let lifetime = match &source {
                    Some(source) => {
                        let keep = lifetimes.pending_per_source - 1;
                        authz_requests::trim_source(c, source, keep, now)?;
                        lifetimes.pending_unauthenticated
                    }
                    None => lifetimes.pending_request,
                };
                authz_requests::insert(
                    c,
                    &hash,
                    &client_id,
                    &params,
                    now,
                    now + lifetime,
                    source.as_deref(),
                )
            })
        })
        .await?;
    Ok(id)
}

/// A user is signed in for the pending request: from now on it has the full
/// `pending_request` lifetime (from its creation) and no longer counts against its source.
pub async fn promote(provider: &Provider, id: &str) -> Result<(), StoreError> {
    if !token::is_well_formed(id) {
        return Ok(());
    }
    let hash = token::hash(id);
    let lifetime = provider.lifetimes.pending_request;
    provider
        .store
        .run(move |c| authz_requests::promote(c, &hash, lifetime))
        .await
}

/// A pending request and when it was made, if the id is live.
pub async fn load_pending(
    store: &Store,
    id: &str,
) -> Result<Option<(AuthorizationRequest, i64)>, StoreError> {
    if !token::is_well_formed(id) {
        return Ok(None);
    }
    let hash = token::hash(id);
    store
        .run(move |c| {
            Ok(
                authz_requests::find(c, &hash, crate::time::now())?.and_then(
                    |(params, created)| {
                        serde_json::from_str(&params).ok().map(|req| (req, created))
                    },
                ),
            )
        })
        .await
}

/// Records that the user signed in for this pending request, with session `sid`.
pub async fn mark_authenticated(store: &Store, id: &str, sid: &str) -> Result<(), StoreError> {
    let Some((mut req, _)) = load_pending(store, id).await? else {
        return Ok(());
    };
    req.authenticated_sid = Some(sid.to_owned());
    let params = serde_json::to_string(&req).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let hash = token::hash(id);
    store
        .run(move |c| authz_requests::set_params(c, &hash, &params))
        .await
}

/// Drops a pending request (the user denied, or it failed).
pub async fn discard_pending(store: &Store, id: &str) -> Result<(), StoreError> {
    let hash = token::hash(id);
    store
        .run(move |c| authz_requests::delete(c, &hash).map(|_| ()))
        .await
}

/// Issues a code for the signed-in user. With `pending`, that request is completed in the
/// same transaction (a second completion fails). With `consent_given`, the consented scopes
/// are remembered.
pub async fn issue_code(
    provider: &Provider,
    req: &AuthorizationRequest,
    session: &ActiveSession,
    pending: Option<&str>,
    consent_given: bool,
) -> Result<String, FlowError> {
    let code = random::secret_token();
    let now = crate::time::now();
    let grant = GrantRow {
        id: random::identifier(),
        client_id: req.client_id.clone(),
        user_id: Some(session.user.id.clone()),
        scope: req.scopes.join(" "),
        claims: req.claims.as_ref().map(|c| c.to_string()),
        auth_time: Some(session.auth_time),
        amr: serde_json::to_string(&session.amr).unwrap_or_else(|_| "[]".into()),
        acr: Some(crate::mfa::acr_reported(&session.amr, req.essential_acr().as_deref()).into()),
        sid: Some(session.sid.clone()),
        created_at: now,
        expires_at: now + provider.lifetimes.refresh_absolute,
        revoked_at: None,
    };
    let code_row = CodeRow {
        code_hash: token::hash(&code),
        grant_id: grant.id.clone(),
        client_id: req.client_id.clone(),
        redirect_uri: req.target.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        created_at: now,
        expires_at: now + provider.lifetimes.code,
        used_at: None,
    };
    let pending_hash = pending.map(token::hash);
    let consent = consent_given.then(|| {
        (
            session.user.id.clone(),
            scopes_for_consent(&req.scopes, req.claims.as_ref()),
        )
    });
    provider
        .store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if let Some(hash) = &pending_hash {
                    if !authz_requests::delete(c, hash)? {
                        return Err(FlowError::OAuth(OAuthError::invalid_request(
                            "this authorization request was already completed",
                        )));
                    }
                }
                if let Some((user_id, mut scopes)) = consent {
                    let previous: Vec<String> = consents::find(c, &user_id, &grant.client_id)?
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_default();
                    for s in previous {
                        if !scopes.contains(&s) {
                            scopes.push(s);
                        }
                    }
                    consents::save(
                        c,
                        &user_id,
                        &grant.client_id,
                        &json!(scopes).to_string(),
                        now,
                    )?;
                }
                grants::insert_grant(c, &grant)?;
                grants::insert_code(c, &code_row)?;
                Ok(())
            })
        })
        .await?;
    Ok(code)
}

#[cfg(test)]
mod tests;
