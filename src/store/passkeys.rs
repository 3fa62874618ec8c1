//! Queries on `passkeys`: a user's WebAuthn credentials. `id` is the base64url credential
//! id, unique across all users (an authenticator's credential belongs to one account);
//! `credential` is webauthn-rs's serialized `Passkey` (public key and signature counter).

use diesel::prelude::*;

use super::schema::passkeys as p;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = p)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Fails with [`StoreError::Conflict`] when the credential id is registered already.
pub fn insert(conn: &mut DbConn, row: &PasskeyRow) -> Result<(), StoreError> {
    diesel::insert_into(p::table).values(row).execute(conn)?;
    Ok(())
}

/// A user's passkeys, oldest first (the order they were added in).
pub fn list_for_user(conn: &mut DbConn, user_id: &str) -> Result<Vec<PasskeyRow>, StoreError> {
    Ok(p::table
        .filter(p::user_id.eq(user_id))
        .order((p::created_at.asc(), p::id.asc()))
        .select(PasskeyRow::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<PasskeyRow>, StoreError> {
    Ok(p::table
        .find(id)
        .select(PasskeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores the credential after a use (new counter, backup state) and the time of use, but
/// only if the stored credential is still `expected`: two sign-ins racing with the same
/// credential cannot both write, so a counter check is never made against a stale value.
/// Returns whether the row was updated.
pub fn update_credential(
    conn: &mut DbConn,
    id: &str,
    expected: &str,
    credential: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(p::table.find(id).filter(p::credential.eq(expected)))
        .set((p::credential.eq(credential), p::last_used_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Deletes one of a user's passkeys; another user's id deletes nothing.
pub fn delete(conn: &mut DbConn, user_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(p::table.find(id).filter(p::user_id.eq(user_id))).execute(conn)? == 1)
}

pub fn delete_all_for_user(conn: &mut DbConn, user_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(p::table.filter(p::user_id.eq(user_id))).execute(conn)?)
}

pub fn count_for_user(conn: &mut DbConn, user_id: &str) -> Result<i64, StoreError> {
    Ok(p::table
        .filter(p::user_id.eq(user_id))
        .count()
        .get_result(conn)?)
}
