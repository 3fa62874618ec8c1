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

/// A row of `roles`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    pub id: String,
    pub org_id: Option<String>,
    pub name: String,
    pub description: String,
    pub parent_id: Option<String>,
    pub builtin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A row of `role_assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = role_assignments)]
pub struct AssignmentRow {
    pub id: String,
    pub role_id: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub org_id: Option<String>,
    pub reason: Option<String>,
    pub granted_by: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// The role with this id.
pub fn find(conn: &mut DbConn, role_id: &str) -> Result<Option<RoleRow>, StoreError> {
    Ok(roles::table
        .find(role_id)
        .select(RoleRow::as_select())
        .first(conn)
        .optional()?)
}

/// The permission names stored for a custom role (built-in roles have none).
pub fn permission_names(conn: &mut DbConn, role_id: &str) -> Result<Vec<String>, StoreError> {
    use super::schema::role_permissions as rp;
    Ok(rp::table
        .filter(rp::role_id.eq(role_id))
        .select(rp::permission)
        .order(rp::permission.asc())
        .load(conn)?)
}

/// Which assignments of a holder [`live_assignments`] reads.
#[derive(Debug, Clone, Copy)]
pub enum AssignmentScope<'a> {
    /// Global ones and those of every organization.
    All,
    /// Global ones only.
    Global,
    /// Global ones and those of this organization (by id).
    Org(&'a str),
}

/// The assignments a user (`user_id`) or a client (`client_id`) holds at `now`, in `scope`.
/// Expired ones are left out: a just-in-time grant ends by itself even before the purge job
/// deletes it.
pub fn live_assignments(
    conn: &mut DbConn,
    user_id: Option<&str>,
    client_id: Option<&str>,
    scope: AssignmentScope<'_>,
    now: i64,
) -> Result<Vec<AssignmentRow>, StoreError> {
    use super::schema::role_assignments as a;
    let mut query = a::table
        .filter(a::expires_at.is_null().or(a::expires_at.gt(now)))
        .select(AssignmentRow::as_select())
        .order(a::id.asc())
        .into_boxed();
    query = match (user_id, client_id) {
        (Some(u), None) => query.filter(a::user_id.eq(u.to_owned())),
        (None, Some(c)) => query.filter(a::client_id.eq(c.to_owned())),
        // Exactly one holder: anything else matches nobody.
        _ => return Ok(Vec::new()),
    };
    query = match scope {
        AssignmentScope::All => query,
        AssignmentScope::Global => query.filter(a::org_id.is_null()),
        AssignmentScope::Org(org) => {
            query.filter(a::org_id.is_null().or(a::org_id.eq(org.to_owned())))
        }
    };
    Ok(query.load(conn)?)
}

/// Records that these assignments allowed something at `now`. At most one write per
/// assignment per `granularity` seconds, so a busy caller does not write on every request.
pub fn touch(
    conn: &mut DbConn,
    assignment_ids: &[String],
    now: i64,
    granularity: i64,
) -> Result<usize, StoreError> {
    use super::schema::role_assignments as a;
    if assignment_ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        a::table.filter(a::id.eq_any(assignment_ids)).filter(
            a::last_used_at
                .is_null()
                .or(a::last_used_at.le(now - granularity)),
        ),
    )
    .set(a::last_used_at.eq(now))
    .execute(conn)?)
}
