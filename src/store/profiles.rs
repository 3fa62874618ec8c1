//! Queries on the standard-claim columns of `users` (OIDC Core §5.1). Kept apart from
//! [`super::users::UserRow`] so that sign-in and sessions never load them; the values are
//! validated by `accounts::profile` before they get here. `address` is a JSON object.

use diesel::prelude::*;

use super::schema::users;
use super::{DbConn, StoreError};

/// Serialises with the claim names (`address` is decoded by the domain).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable, AsChangeset, serde::Serialize,
)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct ProfileRow {
    /// Released as `name`.
    #[serde(rename = "name")]
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub middle_name: Option<String>,
    pub nickname: Option<String>,
    pub preferred_username: Option<String>,
    pub profile: Option<String>,
    pub picture: Option<String>,
    pub website: Option<String>,
    pub gender: Option<String>,
    pub birthdate: Option<String>,
    pub zoneinfo: Option<String>,
    pub locale: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    #[serde(skip)]
    pub address: Option<String>,
    /// Read here, written only by [`set_email_verified`]: a profile save must never undo a
    /// confirmation that happened while the form was open.
    #[diesel(skip_update)]
    pub email_verified: bool,
}

pub fn find(conn: &mut DbConn, user_id: &str) -> Result<Option<ProfileRow>, StoreError> {
    Ok(users::table
        .find(user_id)
        .select(ProfileRow::as_select())
        .first(conn)
        .optional()?)
}

/// Writes every profile column except `email_verified`, and `updated_at` (the `updated_at`
/// claim).
pub fn update(
    conn: &mut DbConn,
    user_id: &str,
    row: &ProfileRow,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id))
        .set((row, users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Marking the address verified also ends a pending self-registration: the address is
/// proven (by the operator's word), so the account may sign in and is no longer purged as
/// an expired sign-up.
pub fn set_email_verified(
    conn: &mut DbConn,
    user_id: &str,
    verified: bool,
) -> Result<(), StoreError> {
    if verified {
        diesel::update(users::table.find(user_id))
            .set((
                users::email_verified.eq(true),
                users::signup_pending.eq(false),
            ))
            .execute(conn)?;
    } else {
        diesel::update(users::table.find(user_id))
            .set(users::email_verified.eq(false))
            .execute(conn)?;
    }
    Ok(())
}
