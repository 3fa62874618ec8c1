//! Queries on `login_challenges`: sign-ins waiting for their second factor.

use diesel::prelude::*;

use super::schema::login_challenges as t;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
pub struct ChallengeRow {
    pub id_hash: String,
    pub user_id: String,
    /// JSON list of the methods passed so far.
    pub amr: String,
    pub return_to: String,
    pub request: Option<String>,
    pub failures: i32,
    pub created_at: i64,
    pub expires_at: i64,
    /// A step-up's session's time of authentication (`None`: the first factor just passed).
    pub auth_time: Option<i64>,
}

pub fn insert(conn: &mut DbConn, row: &ChallengeRow) -> Result<(), StoreError> {
    diesel::insert_into(t::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find(
    conn: &mut DbConn,
    id_hash: &str,
    now: i64,
) -> Result<Option<ChallengeRow>, StoreError> {
    Ok(t::table
        .filter(t::id_hash.eq(id_hash))
        .filter(t::expires_at.gt(now))
        .select(ChallengeRow::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes the challenge; `false` if it was gone already (used by a concurrent request).
pub fn delete(conn: &mut DbConn, id_hash: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(t::table.filter(t::id_hash.eq(id_hash))).execute(conn)? == 1)
}

/// Counts a wrong code; returns the new count.
pub fn add_failure(conn: &mut DbConn, id_hash: &str) -> Result<i32, StoreError> {
    diesel::update(t::table.filter(t::id_hash.eq(id_hash)))
        .set(t::failures.eq(t::failures + 1))
        .execute(conn)?;
    Ok(t::table
        .filter(t::id_hash.eq(id_hash))
        .select(t::failures)
        .first(conn)
        .optional()?
        .unwrap_or(i32::MAX))
}

/// Ends every sign-in of the user still waiting for its second factor (password changed or
/// reset, account disabled).
pub fn delete_for_user(conn: &mut DbConn, user_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(t::table.filter(t::user_id.eq(user_id))).execute(conn)?)
}

pub fn purge_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(t::table.filter(t::expires_at.le(now))).execute(conn)?)
}
