//! Server-side browser sessions.
//!
//! Invariants: the cookie carries a random 256-bit token and the database only its SHA-256,
//! so a database leak yields no usable session; every sign-in creates a new token (and ends
//! the session the browser had), so a planted token never becomes authenticated (session
//! fixation); a session ends after `idle_timeout_secs` without use or `absolute_lifetime_secs`
//! after sign-in, whichever comes first, and immediately when its user is disabled.

use serde_json::json;

use crate::audit::{self, Actor, Event};
use crate::crypto::{random, token, SecretString};
use crate::store::sessions::{self as rows, SessionRow};
use crate::store::users::UserRow;
use crate::store::{self, Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_secs: i64,
    pub absolute_secs: i64,
}

impl SessionPolicy {
    /// Refreshing `last_seen_at` on every request would write on every page view; a tenth
    /// of the idle timeout (at most a minute) keeps the expiry accurate enough.
    fn touch_interval(&self) -> i64 {
        (self.idle_secs / 10).clamp(0, 60)
    }
}

/// A signed-in browser session.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub id_hash: String,
    /// Public session id (the `sid` claim).
    pub sid: String,
    pub user: UserRow,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub created_at: i64,
}

pub struct NewSession {
    pub user_id: String,
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The token of the session the browser had before, ended in the same transaction.
    pub replaces: Option<SecretString>,
}

/// Starts a session and returns the token for the cookie.
pub async fn start(
    store: &Store,
    policy: SessionPolicy,
    new: NewSession,
) -> Result<(SecretString, ActiveSession), StoreError> {
    start_at(store, policy, new, None).await
}

/// Starts a session whose user authenticated (passed a first factor) at `auth_time`, or
/// now. A step-up, a second factor added to an existing session, passes that session's
/// `auth_time`: a second factor alone is not a fresh authentication (`max_age`, recent
/// sign-in), and the session ends when the one it replaces would have.
pub async fn start_at(
    store: &Store,
    policy: SessionPolicy,
    new: NewSession,
    auth_time: Option<i64>,
) -> Result<(SecretString, ActiveSession), StoreError> {
    let token = random::secret_token();
    let id_hash = token::hash(&token);
    let now = crate::time::now();
    let auth_time = auth_time.map_or(now, |t| t.min(now));
    let amr_json =
        serde_json::to_string(&new.amr).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let row = SessionRow {
        id_hash: id_hash.clone(),
        user_id: new.user_id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: auth_time.saturating_add(policy.absolute_secs),
        auth_time,
        amr: amr_json,
        ip: new.ip.clone(),
        user_agent: new.user_agent.map(|ua| ua.chars().take(256).collect()),
        sid: random::identifier(),
    };
    let sid = row.sid.clone();
    let old_hash = new.replaces.as_ref().map(|t| token::hash(t.expose()));
    let amr = new.amr.clone();
    let user = store
        .run(move |conn| {
            store::transaction(conn, |c| {
                if let Some(old) = &old_hash {
                    rows::delete(c, old)?;
                }
                rows::insert(c, &row)?;
                // A completed sign-in (every factor passed) clears the failure count.
                crate::store::users::clear_failures(c, &row.user_id)?;
                audit::record(
                    c,
                    Event {
                        action: "session.started",
                        actor: &Actor::User(row.user_id.clone()),
                        target: Some(&row.user_id),
                        ip: row.ip.as_deref(),
                        detail: json!({ "amr": new.amr }),
                    },
                )?;
                crate::store::users::find_by_id(c, &row.user_id)?.ok_or(StoreError::NotFound)
            })
        })
        .await?;
    let session = ActiveSession {
        id_hash,
        sid,
        user,
        auth_time,
        amr,
        created_at: now,
    };
    Ok((SecretString::new(token), session))
}

/// The live session for a cookie token, if any; refreshes its idle timer.
pub async fn lookup(
    store: &Store,
    policy: SessionPolicy,
    cookie_token: &str,
) -> Result<Option<ActiveSession>, StoreError> {
    if !token::is_well_formed(cookie_token) {
        return Ok(None);
    }
    let id_hash = token::hash(cookie_token);
    store
        .run(move |conn| {
            let now = crate::time::now();
            let Some((row, user)) = rows::find_active(conn, &id_hash, now, policy.idle_secs)?
            else {
                return Ok(None);
            };
            if now - row.last_seen_at >= policy.touch_interval() && now > row.last_seen_at {
                rows::touch(conn, &id_hash, now)?;
            }
            Ok(Some(ActiveSession {
                amr: serde_json::from_str(&row.amr).unwrap_or_default(),
                sid: row.sid,
                id_hash: row.id_hash,
                user,
                auth_time: row.auth_time,
                created_at: row.created_at,
            }))
        })
        .await
}

/// Ends the session for this cookie token; returns whether one existed.
pub async fn end(
    store: &Store,
    cookie_token: &str,
    ip: Option<String>,
) -> Result<bool, StoreError> {
    if !token::is_well_formed(cookie_token) {
        return Ok(false);
    }
    let id_hash = token::hash(cookie_token);
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let user_id = rows::user_of(c, &id_hash)?;
                let existed = rows::delete(c, &id_hash)?;
                if let Some(user_id) = user_id.filter(|_| existed) {
                    record_ended(c, &user_id, ip.as_deref(), "logout")?;
                }
                Ok(existed)
            })
        })
        .await
}

/// Audits a session the user ended themselves. Call inside the transaction that ended it.
pub fn record_ended(
    c: &mut crate::store::DbConn,
    user_id: &str,
    ip: Option<&str>,
    reason: &str,
) -> Result<(), StoreError> {
    audit::record(
        c,
        Event {
            action: "session.ended",
            actor: &Actor::User(user_id.to_owned()),
            target: Some(user_id),
            ip,
            detail: json!({ "reason": reason }),
        },
    )
}

/// Deletes expired sessions, one-time tokens, pending authorization requests, codes,
/// token records, grants, WebAuthn ceremonies and sign-in challenges; returns how many rows went.
pub async fn purge_expired(store: &Store, policy: SessionPolicy) -> Result<usize, StoreError> {
    store
        .run(move |conn| {
            let now = crate::time::now();
            Ok(rows::purge_expired(conn, now, policy.idle_secs)?
                + crate::store::tokens::purge_expired(conn, now)?
                + crate::store::authz_requests::purge_expired(conn, now)?
                + crate::store::grants::purge_expired(conn, now)?
                + crate::store::ceremonies::purge_expired(conn, now)?
                + crate::store::challenges::purge_expired(conn, now)?)
        })
        .await
}
