//! Single-use tokens delivered out of band (setup link, password reset, email
//! verification, email change). Only the SHA-256 of a token is stored; consuming one is a
//! single `DELETE ... RETURNING`, so two concurrent uses cannot both succeed. A token may
//! carry a payload (the new address of an email change) so that what the link does is
//! fixed when it is issued, not chosen by whoever follows it.

use diesel::prelude::*;

use super::schema::one_time_tokens as t;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable)]
pub struct TokenRow {
    pub purpose: String,
    pub user_id: Option<String>,
    pub expires_at: i64,
    pub payload: Option<String>,
}

pub fn insert(
    conn: &mut DbConn,
    token_hash: &str,
    purpose: &str,
    user_id: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    insert_with_payload(conn, token_hash, purpose, user_id, None, now, expires_at)
}

/// [`insert`] with a payload that [`consume`] hands back.
pub fn insert_with_payload(
    conn: &mut DbConn,
    token_hash: &str,
    purpose: &str,
    user_id: Option<&str>,
    payload: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(t::table)
        .values((
            t::token_hash.eq(token_hash),
            t::purpose.eq(purpose),
            t::user_id.eq(user_id),
            t::created_at.eq(now),
            t::expires_at.eq(expires_at),
            t::payload.eq(payload),
        ))
        .execute(conn)?;
    Ok(())
}

/// Whether an unexpired token with this hash and purpose exists (without using it).
pub fn is_valid(
    conn: &mut DbConn,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n: i64 = t::table
        .filter(t::token_hash.eq(token_hash))
        .filter(t::purpose.eq(purpose))
        .filter(t::expires_at.gt(now))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Deletes the token and returns it if it was still valid. An expired token is deleted too.
pub fn consume(
    conn: &mut DbConn,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<TokenRow>, StoreError> {
    let row: Option<TokenRow> = diesel::delete(
        t::table
            .filter(t::token_hash.eq(token_hash))
            .filter(t::purpose.eq(purpose)),
    )
    .returning((t::purpose, t::user_id, t::expires_at, t::payload))
    .get_result(conn)
    .optional()?;
    Ok(row.filter(|r| r.expires_at > now))
}

/// The unexpired token with this hash and purpose, without using it.
pub fn find_valid(
    conn: &mut DbConn,
    token_hash: &str,
    purpose: &str,
    now: i64,
) -> Result<Option<TokenRow>, StoreError> {
    Ok(t::table
        .filter(t::token_hash.eq(token_hash))
        .filter(t::purpose.eq(purpose))
        .filter(t::expires_at.gt(now))
        .select((t::purpose, t::user_id, t::expires_at, t::payload))
        .first(conn)
        .optional()?)
}

/// Deletes a user's tokens of one purpose (e.g. reset links after a password change).
pub fn delete_for_user(
    conn: &mut DbConn,
    user_id: &str,
    purpose: &str,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        t::table
            .filter(t::user_id.eq(user_id))
            .filter(t::purpose.eq(purpose)),
    )
    .execute(conn)?)
}

pub fn delete_purpose(conn: &mut DbConn, purpose: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(t::table.filter(t::purpose.eq(purpose))).execute(conn)?)
}

pub fn purge_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(t::table.filter(t::expires_at.le(now))).execute(conn)?)
}
