//! Queries on `authorization_requests`: validated authorization requests waiting for the
//! user, keyed by the SHA-256 of the random id the browser carries.

use diesel::prelude::*;

use super::schema::authorization_requests as r;
use super::{DbConn, StoreError};

pub fn insert(
    conn: &mut DbConn,
    id_hash: &str,
    client_id: &str,
    params: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(r::table)
        .values((
            r::id_hash.eq(id_hash),
            r::client_id.eq(client_id),
            r::params.eq(params),
            r::created_at.eq(now),
            r::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The stored parameters and creation time, if the request exists and has not expired.
pub fn find(
    conn: &mut DbConn,
    id_hash: &str,
    now: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    Ok(r::table
        .filter(r::id_hash.eq(id_hash))
        .filter(r::expires_at.gt(now))
        .select((r::params, r::created_at))
        .first(conn)
        .optional()?)
}

pub fn set_params(conn: &mut DbConn, id_hash: &str, params: &str) -> Result<(), StoreError> {
    diesel::update(r::table.find(id_hash))
        .set(r::params.eq(params))
        .execute(conn)?;
    Ok(())
}

/// Deletes the request; true if this call removed it (so exactly one caller completes it).
pub fn delete(conn: &mut DbConn, id_hash: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(r::table.find(id_hash)).execute(conn)? == 1)
}

pub fn purge_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(r::table.filter(r::expires_at.le(now))).execute(conn)?)
}
