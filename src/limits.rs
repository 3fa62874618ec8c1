//! Bounds on the work anyone can make Portcullis do without signing in: mail sent to one
//! address, mail-sending requests and passkey ceremonies started from one client address.
//!
//! Invariants: every limit is a fixed-window counter in `rate_counters` (one atomic upsert
//! per hit, shared by all instances on the database); a client address is counted as its
//! IPv6 /64 (one subscriber's whole prefix) or its IPv4 address; a refused hit still counts,
//! so hammering does not reopen the window early. Callers answer a refused mail request
//! exactly as an accepted one (nothing is revealed) and send nothing.

use crate::config::LimitSettings;
use crate::store::{rate_counters, DbConn, StoreError};

/// The configured limits (see `[limits]` in config/default.toml).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    mail_window: i64,
    mails_per_address: i32,
    requests_per_source: i32,
    ceremony_window: i64,
    ceremonies_per_source: i32,
    ceremonies_per_user: i32,
}

impl Limits {
    pub fn from_settings(s: &LimitSettings) -> Self {
        let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        Limits {
            mail_window: crate::time::secs(s.mail_window_secs),
            mails_per_address: count(s.mails_per_address),
            requests_per_source: count(s.requests_per_source),
            ceremony_window: crate::time::secs(s.ceremony_window_secs),
            ceremonies_per_source: count(s.ceremonies_per_source),
            ceremonies_per_user: count(s.ceremonies_per_user),
        }
    }

    /// A request that may send mail (sign-up, reset) from `ip`: whether it may proceed.
    pub fn mail_request(&self, conn: &mut DbConn, ip: Option<&str>) -> Result<bool, StoreError> {
        let Some(ip) = ip else { return Ok(true) };
        within(
            conn,
            &format!("mail-request:{}", source_key(ip)),
            self.requests_per_source,
            self.mail_window,
        )
    }

    /// One more mail to `address` on someone's unauthenticated request: whether to send it.
    pub fn mail_to(&self, conn: &mut DbConn, address: &str) -> Result<bool, StoreError> {
        within(
            conn,
            &format!("mail:{}", address.to_lowercase()),
            self.mails_per_address,
            self.mail_window,
        )
    }

    /// A passkey ceremony started from `ip`, for `user_id` when one is known.
    pub fn ceremony(
        &self,
        conn: &mut DbConn,
        ip: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        if let Some(ip) = ip {
            let key = format!("ceremony:{}", source_key(ip));
            if !within(conn, &key, self.ceremonies_per_source, self.ceremony_window)? {
                return Ok(false);
            }
        }
        match user_id {
            Some(id) => within(
                conn,
                &format!("ceremony-user:{id}"),
                self.ceremonies_per_user,
                self.ceremony_window,
            ),
            None => Ok(true),
        }
    }

    /// The longest window: counters older than this are dead.
    pub fn longest_window(&self) -> i64 {
        self.mail_window.max(self.ceremony_window)
    }
}

fn within(conn: &mut DbConn, key: &str, limit: i32, window: i64) -> Result<bool, StoreError> {
    let hits = crate::store::transaction(conn, |c| {
        rate_counters::hit(c, key, crate::time::now(), window)
    })?;
    Ok(hits <= limit)
}

/// Deletes counters whose window is over.
pub fn purge(conn: &mut DbConn, limits: &Limits) -> Result<usize, StoreError> {
    rate_counters::purge(conn, crate::time::now(), limits.longest_window())
}

/// The bucket a client address counts in: an IPv6 address as its /64 (an IPv4-mapped one
/// as the IPv4 address), an IPv4 address as itself; anything unparsable as given.
pub fn source_key(ip: &str) -> String {
    use std::net::IpAddr;
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::source_key;

    #[test]
    fn ipv6_addresses_count_per_64() {
        assert_eq!(source_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(source_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(source_key("2001:db8:1:2:aa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            source_key("2001:db8:1:2:ffff::9"),
            source_key("2001:db8:1:2::1")
        );
        assert_ne!(source_key("2001:db8:1:3::1"), source_key("2001:db8:1:2::1"));
    }
}
