//! Queries on `totp_credentials`: at most one authenticator app per user.

use diesel::prelude::*;

use super::schema::totp_credentials as t;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct TotpRow {
    pub user_id: String,
    /// Envelope-encrypted secret (context: `totp:<user id>`).
    pub secret_enc: String,
    /// While pending: the SHA-256 of the challenge or session token that started it.
    pub pending_for: Option<String>,
    /// `None` while enrolment waits for the first valid code.
    pub confirmed_at: Option<i64>,
    /// The last accepted time step; codes for it or earlier steps are refused.
    pub last_step: i64,
    pub created_at: i64,
}

pub fn find(conn: &mut DbConn, user_id: &str) -> Result<Option<TotpRow>, StoreError> {
    Ok(t::table
        .filter(t::user_id.eq(user_id))
        .select(TotpRow::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces any unconfirmed enrolment of the user with a new pending one for `owner`.
pub fn insert_pending(
    conn: &mut DbConn,
    user_id: &str,
    secret_enc: &str,
    owner: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::delete(
        t::table
            .filter(t::user_id.eq(user_id))
            .filter(t::confirmed_at.is_null()),
    )
    .execute(conn)?;
    diesel::insert_into(t::table)
        .values((
            t::user_id.eq(user_id),
            t::secret_enc.eq(secret_enc),
            t::pending_for.eq(Some(owner)),
            t::confirmed_at.eq(None::<i64>),
            t::last_step.eq(0_i64),
            t::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the enrolment confirmed with its first accepted step.
pub fn confirm(conn: &mut DbConn, user_id: &str, step: i64, now: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        t::table
            .filter(t::user_id.eq(user_id))
            .filter(t::confirmed_at.is_null()),
    )
    .set((
        t::confirmed_at.eq(Some(now)),
        t::last_step.eq(step),
        t::pending_for.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Advances the replay guard; `false` if `step` is not newer than the stored one (a
/// concurrent request accepted it first).
pub fn advance_step(conn: &mut DbConn, user_id: &str, step: i64) -> Result<bool, StoreError> {
    let n = diesel::update(
        t::table
            .filter(t::user_id.eq(user_id))
            .filter(t::confirmed_at.is_not_null())
            .filter(t::last_step.lt(step)),
    )
    .set(t::last_step.eq(step))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn delete(conn: &mut DbConn, user_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(t::table.filter(t::user_id.eq(user_id))).execute(conn)? > 0)
}
