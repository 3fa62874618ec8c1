//! Queries on `known_devices`: the browsers a user has signed in from, by the SHA-256 of
//! the long-lived device cookie. Rows go with their user (foreign key cascade).

use diesel::prelude::*;

use super::schema::known_devices as d;
use super::{DbConn, StoreError};

/// Moves `last_seen` of a known device; returns whether the device was known.
pub fn touch(
    conn: &mut DbConn,
    user_id: &str,
    device_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(d::table.find((user_id, device_hash)))
        .set(d::last_seen.eq(now))
        .execute(conn)?;
    Ok(n > 0)
}

pub fn insert(
    conn: &mut DbConn,
    user_id: &str,
    device_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(d::table)
        .values((
            d::user_id.eq(user_id),
            d::device_hash.eq(device_hash),
            d::first_seen.eq(now),
            d::last_seen.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn count_for_user(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    Ok(d::table
        .filter(d::user_id.eq(user_id))
        .count()
        .get_result(conn)?)
}

/// Whether the browser with this device cookie hash has signed in to the account before.
pub fn is_known(conn: &mut DbConn, user_id: &str, device_hash: &str) -> Result<bool, StoreError> {
    Ok(d::table
        .find((user_id, device_hash))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}
