//! Queries on `roles` and `user_roles`.

use diesel::prelude::*;

use super::schema::{roles, user_roles};
use super::{DbConn, StoreError};

/// The built-in role seeded by the first migration.
pub const ADMIN: &str = "admin";

pub fn grant(conn: &mut DbConn, user_id: &str, role_id: &str, now: i64) -> Result<(), StoreError> {
    diesel::insert_into(user_roles::table)
        .values((
            user_roles::user_id.eq(user_id),
            user_roles::role_id.eq(role_id),
            user_roles::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn count_members(conn: &mut DbConn, role_id: &str) -> Result<i64, StoreError> {
    Ok(user_roles::table
        .filter(user_roles::role_id.eq(role_id))
        .count()
        .get_result(conn)?)
}

/// Names of the roles granted directly to a user, sorted.
pub fn names_for_user(conn: &mut DbConn, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(user_roles::table
        .inner_join(roles::table)
        .filter(user_roles::user_id.eq(user_id))
        .select(roles::name)
        .order(roles::name.asc())
        .load(conn)?)
}
