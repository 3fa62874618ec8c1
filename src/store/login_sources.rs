//! Queries on `login_sources`: sign-in failures per account and source, and the source's
//! lock for that account.
//!
//! An attempt is reserved (counted as a failure) before the password is checked and
//! released if it was right, with a conditional `UPDATE` that takes the row lock: on
//! Postgres a concurrent reservation waits for it and re-checks the lock on the new row, on
//! SQLite the writer's transaction (`BEGIN IMMEDIATE`) serialises them, so no more attempts
//! are ever evaluated than the threshold allows, however many arrive at once.

use diesel::prelude::*;

use super::schema::login_sources as t;
use super::{DbConn, StoreError};

/// A reserved attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The source's failure count with this attempt in it.
    pub failures: i32,
    /// The lock this attempt set (it reached the threshold), to be lifted if it succeeds.
    pub locks_until: Option<i64>,
}

/// Makes sure the row exists (an idempotent insert: a concurrent insert of the same key is
/// waited for, not failed on).
fn ensure(conn: &mut DbConn, user_id: &str, source: &str, now: i64) -> Result<(), StoreError> {
    let row = (
        t::user_id.eq(user_id),
        t::source.eq(source),
        t::failures.eq(0),
        t::updated_at.eq(now),
    );
    super::insert_or_ignore!(conn, t::table, row)?;
    Ok(())
}

/// Reserves one attempt from `source` for the account unless the source is locked for it
/// (`None`). The attempt that reaches `threshold` locks the source at once, until
/// `now + lock_for(failures)`, so concurrent attempts behind it are refused. Call inside a
/// transaction.
pub fn reserve(
    conn: &mut DbConn,
    user_id: &str,
    source: &str,
    now: i64,
    threshold: i32,
    lock_for: impl Fn(i32) -> i64,
) -> Result<Option<Reservation>, StoreError> {
    ensure(conn, user_id, source, now)?;
    let failures: Option<i32> = diesel::update(
        t::table
            .find((user_id, source))
            .filter(t::locked_until.is_null().or(t::locked_until.le(now))),
    )
    .set((t::failures.eq(t::failures + 1), t::updated_at.eq(now)))
    .returning(t::failures)
    .get_result(conn)
    .optional()?;
    let Some(failures) = failures else {
        return Ok(None);
    };
    let locks_until = (failures >= threshold).then(|| now.saturating_add(lock_for(failures)));
    if locks_until.is_some() {
        diesel::update(t::table.find((user_id, source)))
            .set(t::locked_until.eq(locks_until))
            .execute(conn)?;
    }
    Ok(Some(Reservation {
        failures,
        locks_until,
    }))
}

/// Gives back a reserved attempt that turned out right: it no longer counts, and the lock
/// it set (if any) is lifted.
pub fn release(
    conn: &mut DbConn,
    user_id: &str,
    source: &str,
    reserved: Reservation,
) -> Result<(), StoreError> {
    let row = t::table.find((user_id, source)).filter(t::failures.gt(0));
    match reserved.locks_until {
        Some(until) => diesel::update(row.filter(t::locked_until.eq(until)))
            .set((
                t::failures.eq(t::failures - 1),
                t::locked_until.eq(None::<i64>),
            ))
            .execute(conn)?,
        None => diesel::update(row)
            .set(t::failures.eq(t::failures - 1))
            .execute(conn)?,
    };
    Ok(())
}

/// Until when `source` is locked for the account, if it is at `now`.
pub fn locked_until(
    conn: &mut DbConn,
    user_id: &str,
    source: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(t::table
        .find((user_id, source))
        .select(t::locked_until)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten()
        .filter(|until| *until > now))
}

/// Forgets the failures of one source (it completed a sign-in).
pub fn clear(conn: &mut DbConn, user_id: &str, source: &str) -> Result<(), StoreError> {
    diesel::delete(t::table.find((user_id, source))).execute(conn)?;
    Ok(())
}

/// Forgets every source's failures and locks for the account; returns how many there were.
pub fn clear_all(conn: &mut DbConn, user_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(t::table.filter(t::user_id.eq(user_id))).execute(conn)?)
}

/// Deletes sources whose last failure and lock both ended before `before`; a source
/// whose lock ended more recently keeps its count, so its next lock is longer still.
pub fn purge(conn: &mut DbConn, before: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        t::table
            .filter(t::updated_at.lt(before))
            .filter(t::locked_until.is_null().or(t::locked_until.lt(before))),
    )
    .execute(conn)?)
}
