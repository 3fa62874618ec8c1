//! Brute-force protection for sign-in.
//!
//! Invariants: failures are counted per account and per client IP. An account locks after
//! `lockout.account_threshold` consecutive failures, for `lockout.lock_secs` doubling with
//! each further failure (capped at a day); while locked even the right password fails with
//! the same answer as a wrong one, so a response never tells whether an account exists or
//! is locked, and failures during a lock do not extend it. An IP that fails
//! `lockout.ip_threshold` times within `lockout.ip_window_secs` is refused until the window
//! ends, whatever username it tries, before any password is checked. A successful sign-in
//! resets the account's count; `portcullis user unlock` resets it by hand.

use serde_json::json;

use super::AccountError;
use crate::audit::{self, Actor, Event};
use crate::config::LockoutSettings;
use crate::store::users::{self, UserRow};
use crate::store::{self, throttle, DbConn, Store, StoreError};

const MAX_LOCK_SECS: i64 = 86_400;

#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub account_threshold: i32,
    pub lock_secs: i64,
    pub ip_threshold: i32,
    pub ip_window_secs: i64,
}

impl LockoutPolicy {
    pub fn from_settings(s: &LockoutSettings) -> Self {
        LockoutPolicy {
            account_threshold: i32::try_from(s.account_threshold).unwrap_or(i32::MAX),
            lock_secs: crate::time::secs(s.lock_secs),
            ip_threshold: i32::try_from(s.ip_threshold).unwrap_or(i32::MAX),
            ip_window_secs: crate::time::secs(s.ip_window_secs),
        }
    }

    /// How long the account locks after its `failures`-th consecutive failure.
    fn lock_duration(&self, failures: i32) -> i64 {
        let doublings = u32::try_from(failures - self.account_threshold)
            .unwrap_or(0)
            .min(20);
        self.lock_secs
            .saturating_mul(1 << doublings)
            .min(MAX_LOCK_SECS)
    }
}

/// The throttle key for a client address. An IPv6 client usually holds a whole /64 and can
/// pick a fresh address from it for every attempt, so IPv6 addresses count per /64.
fn ip_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => format!("ip:{ip}"),
    }
}

pub fn is_locked(user: &UserRow, now: i64) -> bool {
    user.locked_until.is_some_and(|until| until > now)
}

pub async fn ip_blocked(store: &Store, ip: &str) -> Result<bool, StoreError> {
    let key = ip_key(ip);
    store
        .run(move |c| Ok(throttle::blocked_until(c, &key, crate::time::now())?.is_some()))
        .await
}

/// Records a failed sign-in step (`method`: pwd, otp, rec) against the IP and, if it exists
/// and is not locked already, the account, with audit events. Wrong second-factor codes
/// count like wrong passwords, so guessing codes locks the account just the same. Call
/// inside a transaction.
pub fn record_failure(
    c: &mut DbConn,
    policy: &LockoutPolicy,
    user: Option<&UserRow>,
    ip: Option<&str>,
    method: &str,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(ip) = ip {
        throttle::record_failure(
            c,
            &ip_key(ip),
            now,
            policy.ip_window_secs,
            policy.ip_threshold,
        )?;
    }
    let target = user.map(|u| u.id.as_str());
    audit::record(
        c,
        Event {
            action: "login.failed",
            actor: &Actor::Anonymous,
            target,
            ip,
            detail: json!({ "method": method }),
        },
    )?;
    let Some(user) = user.filter(|u| !is_locked(u, now)) else {
        return Ok(());
    };
    let failures = users::add_failure(c, &user.id)?;
    let locked_until =
        (failures >= policy.account_threshold).then(|| now + policy.lock_duration(failures));
    if locked_until.is_some() {
        users::set_lock(c, &user.id, locked_until)?;
    }
    if let Some(until) = locked_until {
        audit::record(
            c,
            Event {
                action: "user.locked",
                actor: &Actor::System,
                target: Some(&user.id),
                ip,
                detail: json!({ "failures": failures, "until": until }),
            },
        )?;
    }
    Ok(())
}

/// Clears an account's failure count and lock (`portcullis user unlock`).
pub async fn unlock(store: &Store, username: &str, actor: Actor) -> Result<(), AccountError> {
    let username = super::normalize_username(username).map_err(|_| AccountError::UnknownUser)?;
    store
        .run(move |conn| {
            store::transaction(conn, |c| {
                let user =
                    users::find_by_username(c, &username)?.ok_or(AccountError::UnknownUser)?;
                users::set_failures(c, &user.id, 0, None)?;
                audit::record(
                    c,
                    Event {
                        action: "user.unlocked",
                        actor: &actor,
                        target: Some(&user.id),
                        ip: None,
                        detail: json!({}),
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
        let p = LockoutPolicy {
            account_threshold: 5,
            lock_secs: 300,
            ip_threshold: 30,
            ip_window_secs: 900,
        };
        assert_eq!(p.lock_duration(5), 300);
        assert_eq!(p.lock_duration(6), 600);
        assert_eq!(p.lock_duration(7), 1200);
        assert_eq!(p.lock_duration(40), 86_400);
    }
}
