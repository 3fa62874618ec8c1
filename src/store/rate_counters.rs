//! Queries on `rate_counters`: fixed-window hit counters keyed by "purpose:subject".
//!
//! [`hit`] is atomic on both backends without `ON CONFLICT` (which MultiConnection does not
//! offer): the counting is one conditional `UPDATE ... RETURNING`, which Postgres applies
//! under the row lock and SQLite under its single writer; only a key's first hit inserts, in
//! a savepoint, and an insert that loses a race to another first hit counts again by update.

use diesel::prelude::*;

use super::schema::rate_counters as r;
use super::{DbConn, StoreError};

/// Counts one hit on `key` in the window that is current at `now` (windows are `window`
/// seconds long and start at a key's first hit after the previous one ended); returns the
/// hits in that window, this one included. Call inside a transaction.
pub fn hit(conn: &mut DbConn, key: &str, now: i64, window: i64) -> Result<i32, StoreError> {
    // A window that is over starts again at zero (the update below counts this hit).
    diesel::update(r::table.find(key).filter(r::window_start.le(now - window)))
        .set((r::hits.eq(0), r::window_start.eq(now)))
        .execute(conn)?;
    if let Some(hits) = increment(conn, key)? {
        return Ok(hits);
    }
    let inserted = super::transaction(conn, |c| {
        diesel::insert_into(r::table)
            .values((r::key.eq(key), r::hits.eq(1), r::window_start.eq(now)))
            .execute(c)
            .map_err(StoreError::from)
    });
    match inserted {
        Ok(_) => Ok(1),
        Err(StoreError::Conflict(_)) => {
            increment(conn, key)?.ok_or_else(|| StoreError::Corrupt("rate counter vanished".into()))
        }
        Err(e) => Err(e),
    }
}

fn increment(conn: &mut DbConn, key: &str) -> Result<Option<i32>, StoreError> {
    Ok(diesel::update(r::table.find(key))
        .set(r::hits.eq(r::hits + 1))
        .returning(r::hits)
        .get_result(conn)
        .optional()?)
}

/// Deletes counters whose window ended before `now - window`.
pub fn purge(conn: &mut DbConn, now: i64, window: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(r::table.filter(r::window_start.le(now - window))).execute(conn)?)
}
