//! Queries on `recovery_codes` (SHA-256 of each code only).

use diesel::prelude::*;

use super::schema::recovery_codes as t;
use super::{DbConn, StoreError};

/// Replaces all of the user's codes with these hashes.
pub fn replace(
    conn: &mut DbConn,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), StoreError> {
    diesel::delete(t::table.filter(t::user_id.eq(user_id))).execute(conn)?;
    for hash in hashes {
        diesel::insert_into(t::table)
            .values((
                t::code_hash.eq(hash),
                t::user_id.eq(user_id),
                t::created_at.eq(now),
                t::used_at.eq(None::<i64>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Spends the code if it is the user's and unused; a single conditional UPDATE, so two
/// concurrent uses cannot both succeed.
pub fn spend(conn: &mut DbConn, user_id: &str, hash: &str, now: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        t::table
            .filter(t::code_hash.eq(hash))
            .filter(t::user_id.eq(user_id))
            .filter(t::used_at.is_null()),
    )
    .set(t::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn remaining(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    Ok(t::table
        .filter(t::user_id.eq(user_id))
        .filter(t::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// All of the user's codes, spent or not: zero means none were ever issued (or the last
/// second factor went, taking them along).
pub fn count_all(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    Ok(t::table
        .filter(t::user_id.eq(user_id))
        .count()
        .get_result(conn)?)
}

pub fn delete_all(conn: &mut DbConn, user_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(t::table.filter(t::user_id.eq(user_id))).execute(conn)?)
}
