//! Brute-force protection for sign-in, after OWASP's "Slow Down Online Guessing Attacks with
//! Device Cookies": lock out the guesser, never the owner.
//!
//! Invariants:
//! - Failures (wrong passwords and wrong second-factor codes) count per account AND per
//!   source. A source is a browser whose device cookie is known to belong to *this*
//!   account (`known_devices`), else the client address (IPv6 per /64). A source locks out
//!   of that account after `lockout.account_threshold` consecutive failures, for
//!   `lockout.lock_secs` doubling with each further failure (at most a day; the count is
//!   kept for `lockout.source_memory_secs` after the last failure and lock, so the
//!   doubling persists across locks); other sources,
//!   and so the owner's own browser, are unaffected. A known browser has a budget of its
//!   own, so a stolen device cookie cannot guess freely either.
//! - An attempt is reserved (counted) before its secret is checked and given back if it was
//!   right, atomically (see `store::login_sources`): however many arrive at once, no more
//!   are evaluated than the budget allows. A refused attempt checks nothing and answers
//!   exactly like a wrong one, so a lock reveals neither itself nor the account.
//! - The account as a whole never locks, but past `lockout.account_ceiling` consecutive
//!   failures from all sources, attempts (passwords and second-factor codes) from sources
//!   the account does not know are checked one per account-wide slot: each takes the slot
//!   for `lockout.ceiling_delay_ms`, doubling with each further failure up to
//!   `lockout.ceiling_max_delay_ms`, with a conditional `UPDATE` (see
//!   `store::users::take_ceiling_slot`). An attempt that finds the slot taken is refused
//!   unchecked, answered like a wrong one after the same work, and audited (`ceiling`).
//!   So the guess rate on an account is bounded however many addresses guess, while the
//!   owner's known browsers are never slowed. Nobody waits inside a request: a sleep would
//!   bound nothing (parallel requests sleep in parallel) and would tell known usernames
//!   from unknown ones by its timing.
//! - Passkeys have nothing to guess and are phishing-resistant: password failures never
//!   block a passkey sign-in, and a wrong password for an account without one counts
//!   nothing against the account.
//! - An address that fails `lockout.ip_threshold` times within `lockout.ip_window_secs`,
//!   whatever the usernames, is refused before any password is checked, except from a
//!   browser the account knows.
//! - `lockout.burst_threshold` failures within `lockout.burst_window_secs` send the owner
//!   one notice per window, decided and queued in the transaction that audits the failure.
//! - A completed sign-in clears its source and the account-wide count;
//!   `portcullis user unlock` clears every source of the account.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::AccountError;
use crate::audit::{self, Actor, Event};
use crate::config::LockoutSettings;
use crate::crypto::token;
use crate::mail::{notices, outbox};
use crate::store::login_sources::{self, Reservation};
use crate::store::users::{self, UserRow};
use crate::store::{self, devices, throttle, DbConn, Store, StoreError};

const MAX_LOCK_SECS: i64 = 86_400;

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub account_threshold: i32,
    pub lock_secs: i64,
    pub ip_threshold: i32,
    pub ip_window_secs: i64,
    pub account_ceiling: i32,
    pub ceiling_delay_ms: u64,
    pub ceiling_max_delay_ms: u64,
    pub burst_threshold: i32,
    pub burst_window_secs: i64,
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl LockoutPolicy {
    pub fn from_settings(s: &LockoutSettings) -> Self {
        LockoutPolicy {
            account_threshold: int(s.account_threshold),
            lock_secs: crate::time::secs(s.lock_secs),
            ip_threshold: int(s.ip_threshold),
            ip_window_secs: crate::time::secs(s.ip_window_secs),
            account_ceiling: int(s.account_ceiling),
            ceiling_delay_ms: s.ceiling_delay_ms,
            ceiling_max_delay_ms: s.ceiling_max_delay_ms,
            burst_threshold: int(s.burst_threshold),
            burst_window_secs: crate::time::secs(s.burst_window_secs),
        }
    }

    /// How long a source locks after its `failures`-th consecutive failure.
    fn lock_duration(&self, failures: i32) -> i64 {
        let doublings = u32::try_from(failures - self.account_threshold)
            .unwrap_or(0)
            .min(20);
        self.lock_secs
            .saturating_mul(1 << doublings)
            .min(MAX_LOCK_SECS)
    }

    /// How long an attempt from an unknown source holds the account-wide slot when the
    /// account has had `failures` consecutive failures: nothing below the ceiling, then
    /// doubling, bounded.
    pub fn ceiling_delay(&self, failures: i32) -> Duration {
        let Ok(over) = u32::try_from(failures - self.account_ceiling) else {
            return Duration::ZERO;
        };
        let ms = self
            .ceiling_delay_ms
            .saturating_mul(1u64 << over.min(20))
            .min(self.ceiling_max_delay_ms);
        Duration::from_millis(ms)
    }
}

/// The lock-out rules and what they need to tell an owner about a burst of failures.
#[derive(Clone)]
pub struct Lockout {
    pub policy: LockoutPolicy,
    /// For the links and names in the notices the lock-out and the second step raise.
    pub issuer: Arc<str>,
}

impl Lockout {
    pub fn new(settings: &LockoutSettings, issuer: &str) -> Self {
        Lockout {
            policy: LockoutPolicy::from_settings(settings),
            issuer: issuer.into(),
        }
    }
}

/// Where an attempt comes from, as the HTTP layer saw it: the client address and the
/// browser's device cookie, if any. The cookie is a secret of the browser: never logged.
#[derive(Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub device: Option<String>,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("ip", &self.ip)
            .field("device", &self.device.as_ref().map(|_| "…"))
            .finish()
    }
}

/// The source an attempt counts against, for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    key: String,
    known_device: bool,
}

impl Source {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A browser that has signed in to this account before.
    pub fn is_known_device(&self) -> bool {
        self.known_device
    }

    fn kind(&self) -> &'static str {
        if self.known_device {
            "device"
        } else {
            "address"
        }
    }
}

/// The throttle key for a client address. An IPv6 client usually holds a whole /64 and can
/// pick a fresh address from it for every attempt, so IPv6 addresses count per /64.
fn ip_key(ip: &str) -> String {
    format!("ip:{}", crate::limits::source_key(ip))
}

/// The source of an attempt on `user_id`: its device, if the account knows the browser's
/// cookie, else its address.
pub fn source_for(c: &mut DbConn, user_id: &str, origin: &Origin) -> Result<Source, StoreError> {
    if let Some(cookie) = origin
        .device
        .as_deref()
        .filter(|c| token::is_well_formed(c))
    {
        let hash = token::hash(cookie);
        if devices::is_known(c, user_id, &hash)? {
            return Ok(Source {
                key: format!("dev:{hash}"),
                known_device: true,
            });
        }
    }
    Ok(Source {
        key: ip_key(origin.ip.as_deref().unwrap_or("unknown")),
        known_device: false,
    })
}

/// Whether the address of `origin` is over its failure budget (whatever the account).
pub fn address_blocked(c: &mut DbConn, origin: &Origin, now: i64) -> Result<bool, StoreError> {
    match origin.ip.as_deref() {
        Some(ip) => Ok(throttle::blocked_until(c, &ip_key(ip), now)?.is_some()),
        None => Ok(false),
    }
}

pub async fn ip_blocked(store: &Store, ip: &str) -> Result<bool, StoreError> {
    let key = ip_key(ip);
    store
        .run(move |c| Ok(throttle::blocked_until(c, &key, crate::time::now())?.is_some()))
        .await
}

/// An attempt admitted for checking: its source and the reservation to give back if right.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub source: Source,
    reservation: Reservation,
}

/// Reserves one attempt on `user` from `source`; `None` when the source is locked out of
/// the account. Call inside a transaction.
fn reserve(
    c: &mut DbConn,
    policy: &LockoutPolicy,
    user_id: &str,
    source: &Source,
    now: i64,
) -> Result<Option<Ticket>, StoreError> {
    let reservation = login_sources::reserve(
        c,
        user_id,
        source.key(),
        now,
        policy.account_threshold,
        |failures| policy.lock_duration(failures),
    )?;
    Ok(reservation.map(|reservation| Ticket {
        source: source.clone(),
        reservation,
    }))
}

/// Whether an attempt on the account may be checked: admitted with its reservation, or
/// refused unchecked.
#[derive(Debug)]
pub enum Admission {
    Admitted(Ticket),
    /// The source is locked out of the account.
    Locked(Source),
    /// Past the account-wide ceiling, and another attempt holds the slot.
    Slowed(Source),
}

impl Admission {
    /// This attempt as a failure to record, if its secret was wrong or it was refused.
    pub fn as_failure(&self) -> Failed<'_> {
        match self {
            Admission::Admitted(ticket) => Failed::Checked(ticket),
            Admission::Locked(source) => Failed::Refused(source),
            Admission::Slowed(source) => Failed::Slowed(source),
        }
    }
}

/// Admits one attempt on `user_id` from `source`: first the account-wide ceiling's slot
/// (sources the account knows need none), then the source's own budget. Call inside a
/// transaction.
pub fn admit(
    c: &mut DbConn,
    policy: &LockoutPolicy,
    user_id: &str,
    source: &Source,
    now: i64,
) -> Result<Admission, StoreError> {
    if !source.is_known_device() {
        let failures = users::failed_logins(c, user_id)?.unwrap_or(0);
        let delay = policy.ceiling_delay(failures);
        if !delay.is_zero() {
            let now_ms = crate::time::now_ms();
            let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
            let next_ms = now_ms.saturating_add(delay_ms);
            if !users::take_ceiling_slot(c, user_id, now_ms, next_ms)? {
                return Ok(Admission::Slowed(source.clone()));
            }
        }
    }
    Ok(match reserve(c, policy, user_id, source, now)? {
        Some(ticket) => Admission::Admitted(ticket),
        None => Admission::Locked(source.clone()),
    })
}

/// Gives back the attempt of a right secret. Call inside a transaction.
pub fn release(c: &mut DbConn, user_id: &str, ticket: &Ticket) -> Result<(), StoreError> {
    login_sources::release(c, user_id, ticket.source.key(), ticket.reservation)
}

/// What a failed attempt was.
pub enum Failed<'a> {
    /// Checked and wrong, against the reservation in the ticket.
    Checked(&'a Ticket),
    /// Refused unchecked: the source is locked out of the account.
    Refused(&'a Source),
    /// Refused unchecked: past the account-wide ceiling, the slot was taken.
    Slowed(&'a Source),
    /// Counts against the address only: no such account, or one the secret cannot open
    /// (no password), so there is nothing of the account's to protect.
    Uncounted,
}

/// Records a failed sign-in step (`method`: pwd, otp, rec) with its audit event, against the
/// address and, when it concerns an account, the account; when this failure starts a burst,
/// queues the owner's notice with it. Call inside a transaction.
pub fn record_failure(
    c: &mut DbConn,
    lockout: &Lockout,
    user: Option<&UserRow>,
    failed: Failed<'_>,
    ip: Option<&str>,
    method: &str,
    now: i64,
) -> Result<(), StoreError> {
    let policy = &lockout.policy;
    if let Some(ip) = ip {
        throttle::record_failure(
            c,
            &ip_key(ip),
            now,
            policy.ip_window_secs,
            policy.ip_threshold,
        )?;
    }
    let detail = match &failed {
        Failed::Checked(t) => json!({ "method": method, "source": t.source.kind() }),
        Failed::Refused(s) => json!({ "method": method, "source": s.kind(), "locked": true }),
        Failed::Slowed(s) => json!({ "method": method, "source": s.kind(), "ceiling": true }),
        Failed::Uncounted => json!({ "method": method }),
    };
    let target = user.map(|u| u.id.as_str());
    audit::record(
        c,
        Event {
            action: "login.failed",
            actor: &Actor::Anonymous,
            target,
            ip,
            detail,
        },
    )?;
    let Some(user) = user else { return Ok(()) };
    match failed {
        Failed::Uncounted => return Ok(()),
        Failed::Refused(_) | Failed::Slowed(_) => {}
        Failed::Checked(ticket) => {
            users::add_failure(c, &user.id)?;
            if let Some(until) = ticket.reservation.locks_until {
                audit::record(
                    c,
                    Event {
                        action: "login.source_locked",
                        actor: &Actor::System,
                        target: Some(&user.id),
                        ip,
                        detail: json!({
                            "source": ticket.source.kind(),
                            "failures": ticket.reservation.failures,
                            "until": until,
                        }),
                    },
                )?;
            }
        }
    }
    let failures = throttle::record_failure(
        c,
        &format!("burst:{}", user.id),
        now,
        policy.burst_window_secs,
        policy.burst_threshold,
    )?;
    if failures != policy.burst_threshold {
        return Ok(());
    }
    audit::record(
        c,
        Event {
            action: "login.failure_burst",
            actor: &Actor::System,
            target: Some(&user.id),
            ip,
            detail: json!({ "failures": failures, "window_secs": policy.burst_window_secs }),
        },
    )?;
    let window = policy.burst_window_secs;
    outbox::raise(
        c,
        notices::failure_burst(&lockout.issuer, user, failures, window),
    )
}

/// After a completed sign-in (every factor passed) from `origin`: its source's failures and
/// the account-wide count start over. Other sources keep theirs.
pub async fn signed_in(store: &Store, user_id: &str, origin: &Origin) -> Result<(), StoreError> {
    let (user_id, origin) = (user_id.to_owned(), origin.clone());
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let source = source_for(c, &user_id, &origin)?;
                login_sources::clear(c, &user_id, source.key())?;
                users::clear_failures(c, &user_id)
            })
        })
        .await
}

/// Whether `origin` is locked out of the account now.
pub fn is_locked_out(
    c: &mut DbConn,
    user_id: &str,
    origin: &Origin,
    now: i64,
) -> Result<bool, StoreError> {
    let source = source_for(c, user_id, origin)?;
    Ok(login_sources::locked_until(c, user_id, source.key(), now)?.is_some())
}

/// Clears the account's failure count and every source's lock (`portcullis user unlock`).
pub async fn unlock(store: &Store, username: &str, actor: Actor) -> Result<(), AccountError> {
    let username = username.to_owned();
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                // Through the names module, so a legacy name that breaks today's rules can
                // still be unlocked.
                let user = super::names::find_by_username(c, &username)?
                    .ok_or(AccountError::UnknownUser)?;
                users::set_failures(c, &user.id, 0, None)?;
                let sources = login_sources::clear_all(c, &user.id)?;
                audit::record(
                    c,
                    Event {
                        action: "user.unlocked",
                        actor: &actor,
                        target: Some(&user.id),
                        ip: None,
                        detail: json!({ "sources": sources }),
                    },
                )?;
                Ok(())
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            account_threshold: 5,
            lock_secs: 300,
            ip_threshold: 30,
            ip_window_secs: 900,
            account_ceiling: 20,
            ceiling_delay_ms: 1000,
            ceiling_max_delay_ms: 10_000,
            burst_threshold: 10,
            burst_window_secs: 3600,
        }
    }

    #[test]
    fn ipv6_clients_are_throttled_per_64_and_ipv4_per_address() {
        assert_eq!(
            ip_key("2001:db8:1:2:aaaa::1"),
            ip_key("2001:db8:1:2:ffff::9")
        );
        assert_ne!(ip_key("2001:db8:1:2::1"), ip_key("2001:db8:1:3::1"));
        assert_eq!(ip_key("::ffff:192.0.2.7"), ip_key("192.0.2.7"));
        assert_ne!(ip_key("192.0.2.7"), ip_key("192.0.2.8"));
    }

    #[test]
    fn the_lock_doubles_with_each_failure_and_is_capped_at_a_day() {
        let p = policy();
        assert_eq!(p.lock_duration(5), 300);
        assert_eq!(p.lock_duration(6), 600);
        assert_eq!(p.lock_duration(7), 1200);
        assert_eq!(p.lock_duration(40), 86_400);
    }

    #[test]
    fn the_ceiling_delays_from_its_threshold_on_and_is_bounded() {
        let p = policy();
        assert_eq!(p.ceiling_delay(19), Duration::ZERO);
        assert_eq!(p.ceiling_delay(20), Duration::from_secs(1));
        assert_eq!(p.ceiling_delay(21), Duration::from_secs(2));
        assert_eq!(p.ceiling_delay(24), Duration::from_secs(10));
        assert_eq!(p.ceiling_delay(i32::MAX), Duration::from_secs(10));
    }
}
