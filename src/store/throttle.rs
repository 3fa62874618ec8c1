//! Queries on `login_throttle`: fixed-window failure counters keyed by client IP.

use diesel::prelude::*;

use super::schema::login_throttle as t;
use super::{DbConn, StoreError};

/// When the key is blocked until, if it is blocked at `now`.
pub fn blocked_until(conn: &mut DbConn, key: &str, now: i64) -> Result<Option<i64>, StoreError> {
    Ok(t::table
        .find(key)
        .select(t::blocked_until)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten()
        .filter(|until| *until > now))
}

/// Counts a failure in the current window (a new window starts after `window` seconds);
/// blocks the key until the window's end once `threshold` failures are reached. Returns
/// whether the key is now blocked. Call inside a transaction.
pub fn record_failure(
    conn: &mut DbConn,
    key: &str,
    now: i64,
    window: i64,
    threshold: i32,
) -> Result<bool, StoreError> {
    let current: Option<(i32, i64)> = t::table
        .find(key)
        .select((t::failures, t::window_start))
        .first(conn)
        .optional()?;
    let (failures, start) = match current {
        Some((n, start)) if now - start < window => (n + 1, start),
        _ => (1, now),
    };
    let blocked = (failures >= threshold).then_some(start + window);
    if current.is_some() {
        diesel::update(t::table.find(key))
            .set((
                t::failures.eq(failures),
                t::window_start.eq(start),
                t::blocked_until.eq(blocked),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(t::table)
            .values((
                t::key.eq(key),
                t::failures.eq(failures),
                t::window_start.eq(start),
                t::blocked_until.eq(blocked),
            ))
            .execute(conn)?;
    }
    Ok(blocked.is_some())
}

/// Deletes counters whose window and block are both over.
pub fn purge(conn: &mut DbConn, now: i64, window: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        t::table
            .filter(t::window_start.le(now - window))
            .filter(t::blocked_until.is_null().or(t::blocked_until.le(now))),
    )
    .execute(conn)?)
}
