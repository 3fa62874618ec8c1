//! Queries on `sessions`. Rows are keyed by the SHA-256 of the cookie token.

use diesel::prelude::*;

use super::schema::{sessions, users};
use super::users::UserRow;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub auth_time: i64,
    pub amr: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Public session id for the ID token `sid` claim (never the cookie token).
    pub sid: String,
}

pub fn insert(conn: &mut DbConn, row: &SessionRow) -> Result<(), StoreError> {
    diesel::insert_into(sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The session and its user, if the session is neither past its absolute lifetime nor idle
/// for longer than `idle_secs`, and the user is not disabled.
pub fn find_active(
    conn: &mut DbConn,
    id_hash: &str,
    now: i64,
    idle_secs: i64,
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::id_hash.eq(id_hash))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(now - idle_secs))
        .filter(users::disabled.eq(false))
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?)
}

pub fn touch(conn: &mut DbConn, id_hash: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(sessions::table.find(id_hash))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub fn exists(conn: &mut DbConn, id_hash: &str) -> Result<bool, StoreError> {
    Ok(user_of(conn, id_hash)?.is_some())
}

/// The owner of a session, whatever its expiry.
pub fn user_of(conn: &mut DbConn, id_hash: &str) -> Result<Option<String>, StoreError> {
    Ok(sessions::table
        .find(id_hash)
        .select(sessions::user_id)
        .first(conn)
        .optional()?)
}

pub fn delete(conn: &mut DbConn, id_hash: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(sessions::table.find(id_hash)).execute(conn)? == 1)
}

pub fn delete_for_user(conn: &mut DbConn, user_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?)
}

pub fn count_for_user(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .count()
        .get_result(conn)?)
}

/// Deletes sessions past their absolute lifetime or idle for longer than `idle_secs`.
pub fn purge_expired(conn: &mut DbConn, now: i64, idle_secs: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        sessions::table.filter(
            sessions::expires_at
                .le(now)
                .or(sessions::last_seen_at.le(now - idle_secs)),
        ),
    )
    .execute(conn)?)
}

/// A user's sessions, most recently used first.
pub fn list_for_user(conn: &mut DbConn, user_id: &str) -> Result<Vec<SessionRow>, StoreError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order(sessions::last_seen_at.desc())
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// Ends one of a user's sessions by its public id.
pub fn delete_by_sid(conn: &mut DbConn, user_id: &str, sid: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::sid.eq(sid)),
    )
    .execute(conn)?
        == 1)
}

/// Ends every session of a user but `keep` (the one making the request).
pub fn delete_others(conn: &mut DbConn, user_id: &str, keep: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id_hash.ne(keep)),
    )
    .execute(conn)?)
}
