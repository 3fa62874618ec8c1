//! Queries on `users`.

use diesel::prelude::*;

use super::schema::users;
use super::{DbConn, StoreError};

#[derive(Queryable, Selectable, Insertable, Clone)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub display_name: Option<String>,
    pub disabled: bool,
    pub locked_until: Option<i64>,
    pub failed_logins: i32,
    pub created_at: i64,
    pub updated_at: i64,
    /// Created by self-registration and the email address not yet confirmed.
    pub signup_pending: bool,
}

/// Leaves the password hash out: an argon2 hash is an offline-cracking target.
impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

pub fn insert(conn: &mut DbConn, row: &UserRow) -> Result<(), StoreError> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_by_id(conn: &mut DbConn, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut DbConn) -> Result<Vec<UserRow>, StoreError> {
    Ok(users::table
        .order(users::username.asc())
        .select(UserRow::as_select())
        .load(conn)?)
}

/// Returns whether a user with that id existed.
pub fn set_disabled(
    conn: &mut DbConn,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(users::table.find(id))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn set_password_hash(
    conn: &mut DbConn,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Sets the failure count and lock of an account.
/// Resets the failure count and lock, writing only when there is something to reset.
pub fn clear_failures(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
    diesel::update(
        users::table.find(id).filter(
            users::failed_logins
                .ne(0)
                .or(users::locked_until.is_not_null()),
        ),
    )
    .set((
        users::failed_logins.eq(0),
        users::locked_until.eq(None::<i64>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Counts one more failure in the database itself (so concurrent failures all count) and
/// returns the new count.
pub fn add_failure(conn: &mut DbConn, id: &str) -> Result<i32, StoreError> {
    diesel::update(users::table.find(id))
        .set(users::failed_logins.eq(users::failed_logins + 1))
        .execute(conn)?;
    Ok(users::table
        .find(id)
        .select(users::failed_logins)
        .first(conn)?)
}

/// The account's consecutive failures from all sources.
pub fn failed_logins(conn: &mut DbConn, id: &str) -> Result<Option<i32>, StoreError> {
    Ok(users::table
        .find(id)
        .select(users::failed_logins)
        .first(conn)
        .optional()?)
}

/// Takes the account-wide ceiling's slot at `now_ms` unless an earlier taker holds it,
/// leaving it free again at `next_ms`; whether it was taken. One conditional `UPDATE`: on
/// Postgres a concurrent taker waits for the row lock and then finds the slot gone, on
/// SQLite the writer's transaction serialises them.
pub fn take_ceiling_slot(
    conn: &mut DbConn,
    id: &str,
    now_ms: i64,
    next_ms: i64,
) -> Result<bool, StoreError> {
    let taken = diesel::update(
        users::table.find(id).filter(
            users::ceiling_next_attempt_ms
                .is_null()
                .or(users::ceiling_next_attempt_ms.le(now_ms)),
        ),
    )
    .set(users::ceiling_next_attempt_ms.eq(next_ms))
    .execute(conn)?;
    Ok(taken == 1)
}

pub fn set_lock(conn: &mut DbConn, id: &str, locked_until: Option<i64>) -> Result<(), StoreError> {
    diesel::update(users::table.find(id))
        .set(users::locked_until.eq(locked_until))
        .execute(conn)?;
    Ok(())
}

pub fn set_failures(
    conn: &mut DbConn,
    id: &str,
    failures: i32,
    locked_until: Option<i64>,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(failures),
            users::locked_until.eq(locked_until),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the address confirmed (and a self-registration complete).
pub fn confirm_email(conn: &mut DbConn, id: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(users::table.find(id))
        .set((
            users::email_verified.eq(true),
            users::signup_pending.eq(false),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the address with one just proven by a link sent to it: it is verified, and a
/// self-registration waiting for a verified address is complete. A unique violation comes
/// back as [`StoreError::Conflict`].
pub fn set_verified_email(
    conn: &mut DbConn,
    id: &str,
    email: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(email),
            users::email_verified.eq(true),
            users::signup_pending.eq(false),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Self-registrations still unconfirmed that were created at or before `cutoff` (a bounded
/// batch; the purge job comes back for the rest).
pub fn unconfirmed_before(conn: &mut DbConn, cutoff: i64) -> Result<Vec<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::signup_pending.eq(true))
        .filter(users::email_verified.eq(false))
        .filter(users::created_at.le(cutoff))
        .order(users::created_at.asc())
        .limit(500)
        .select(UserRow::as_select())
        .load(conn)?)
}

/// Deletes the account if it is still an unconfirmed self-registration created at or before
/// `cutoff`; returns whether it did.
pub fn delete_unconfirmed(conn: &mut DbConn, id: &str, cutoff: i64) -> Result<bool, StoreError> {
    let n = diesel::delete(
        users::table
            .find(id)
            .filter(users::signup_pending.eq(true))
            .filter(users::email_verified.eq(false))
            .filter(users::created_at.le(cutoff)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Every account's id and username, by username.
pub fn ids_and_usernames(conn: &mut DbConn) -> Result<Vec<(String, String)>, StoreError> {
    Ok(users::table
        .order(users::username.asc())
        .select((users::id, users::username))
        .load(conn)?)
}
