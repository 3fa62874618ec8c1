//! Queries on `roles` and `role_assignments`.

use diesel::prelude::*;

use super::schema::{role_assignments, roles};
use super::{DbConn, StoreError};

/// The built-in global role that holds every permission; the setup link makes the first one.
pub const SUPER_ADMIN: &str = "super_admin";

/// Gives a user a role everywhere (no organization, no expiry). Granting again changes nothing.
pub fn grant(conn: &mut DbConn, user_id: &str, role_id: &str, now: i64) -> Result<(), StoreError> {
    super::insert_or_ignore!(
        conn,
        role_assignments::table,
        (
            role_assignments::id.eq(crate::crypto::random::identifier()),
            role_assignments::role_id.eq(role_id),
            role_assignments::user_id.eq(user_id),
            role_assignments::created_at.eq(now),
        )
    )?;
    Ok(())
}

/// How many users hold the role everywhere, now.
pub fn count_members(conn: &mut DbConn, role_id: &str, now: i64) -> Result<i64, StoreError> {
    Ok(role_assignments::table
        .filter(role_assignments::role_id.eq(role_id))
        .filter(role_assignments::user_id.is_not_null())
        .filter(role_assignments::org_id.is_null())
        .filter(
            role_assignments::expires_at
                .is_null()
                .or(role_assignments::expires_at.gt(now)),
        )
        .count()
        .get_result(conn)?)
}

/// Names of the global roles a user holds now (granted directly, not inherited), sorted.
pub fn names_for_user(
    conn: &mut DbConn,
    user_id: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(role_assignments::table
        .inner_join(roles::table)
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::org_id.is_null())
        .filter(
            role_assignments::expires_at
                .is_null()
                .or(role_assignments::expires_at.gt(now)),
        )
        .select(roles::name)
        .order(roles::name.asc())
        .load(conn)?)
}
