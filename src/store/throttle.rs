//! Queries on `login_throttle`: fixed-window failure counters, keyed by client address
//! (`ip:...`) or by account (`burst:<user id>`, for the owner's notice of a burst).

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
/// blocks the key until the window's end once `threshold` failures are reached. Returns the
/// window's failure count with this one. Call inside a transaction.
///
/// Concurrent first failures for a key must not collide on its primary key, so the row is
/// created with `INSERT ... ON CONFLICT DO NOTHING` (written per backend: the shared
/// `MultiConnection` DSL has no upsert), and then counted with conditional `UPDATE`s, which
/// hold the row lock until the transaction ends.
pub fn record_failure(
    conn: &mut DbConn,
    key: &str,
    now: i64,
    window: i64,
    threshold: i32,
) -> Result<i32, StoreError> {
    let row = (
        t::key.eq(key),
        t::failures.eq(0),
        t::window_start.eq(now),
        t::blocked_until.eq(None::<i64>),
    );
    super::insert_or_ignore!(conn, t::table, row)?;
    // A window that is over starts again with this failure.
    diesel::update(t::table.find(key).filter(t::window_start.le(now - window)))
        .set((
            t::failures.eq(0),
            t::window_start.eq(now),
            t::blocked_until.eq(None::<i64>),
        ))
        .execute(conn)?;
    let (failures, start): (i32, i64) = diesel::update(t::table.find(key))
        .set(t::failures.eq(t::failures + 1))
        .returning((t::failures, t::window_start))
        .get_result(conn)?;
    if failures >= threshold {
        diesel::update(t::table.find(key))
            .set(t::blocked_until.eq(Some(start + window)))
            .execute(conn)?;
    }
    Ok(failures)
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
