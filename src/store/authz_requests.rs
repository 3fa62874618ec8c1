//! Queries on `authorization_requests`: validated authorization requests waiting for the
//! user, keyed by the SHA-256 of the random id the browser carries.

use diesel::prelude::*;

use super::schema::authorization_requests as r;
use super::{DbConn, StoreError};

/// `source`: the client address of a request made before anyone signed in.
pub fn insert(
    conn: &mut DbConn,
    id_hash: &str,
    client_id: &str,
    params: &str,
    now: i64,
    expires_at: i64,
    source: Option<&str>,
) -> Result<(), StoreError> {
    diesel::insert_into(r::table)
        .values((
            r::id_hash.eq(id_hash),
            r::client_id.eq(client_id),
            r::params.eq(params),
            r::created_at.eq(now),
            r::expires_at.eq(expires_at),
            r::source.eq(source),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the oldest live requests of `source` until at most `keep` remain; returns how
/// many went.
pub fn trim_source(
    conn: &mut DbConn,
    source: &str,
    keep: i64,
    now: i64,
) -> Result<usize, StoreError> {
    let live: Vec<String> = r::table
        .filter(r::source.eq(source))
        .filter(r::expires_at.gt(now))
        .order((r::created_at.desc(), r::expires_at.desc()))
        .select(r::id_hash)
        .load(conn)?;
    let Ok(keep) = usize::try_from(keep) else {
        return Ok(0);
    };
    if live.len() <= keep {
        return Ok(0);
    }
    Ok(diesel::delete(r::table.filter(r::id_hash.eq_any(&live[keep..]))).execute(conn)?)
}

/// A user signed in for the request: it no longer counts against its source and lives
/// `lifetime` seconds from its creation.
pub fn promote(conn: &mut DbConn, id_hash: &str, lifetime: i64) -> Result<(), StoreError> {
    diesel::update(r::table.find(id_hash).filter(r::source.is_not_null()))
        .set((
            r::source.eq(None::<String>),
            r::expires_at.eq(r::created_at + lifetime),
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
