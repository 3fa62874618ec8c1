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

/// Names of every role a user holds now, globally or in any organization, and of every role
/// those inherit from (at most 16 levels, the inheritance limit; a stored cycle stops there).
pub fn names_held_or_inherited(
    conn: &mut DbConn,
    user_id: &str,
    now: i64,
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let mut level: Vec<(String, Option<String>)> = role_assignments::table
        .inner_join(roles::table)
        .filter(role_assignments::user_id.eq(user_id))
        .filter(
            role_assignments::expires_at
                .is_null()
                .or(role_assignments::expires_at.gt(now)),
        )
        .select((roles::name, roles::parent_id))
        .load(conn)?;
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..=16 {
        let mut parents = Vec::new();
        for (name, parent) in level {
            names.insert(name);
            parents.extend(parent);
        }
        if parents.is_empty() {
            break;
        }
        level = roles::table
            .filter(roles::id.eq_any(parents))
            .select((roles::name, roles::parent_id))
            .load(conn)?;
    }
    Ok(names)
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

/// A new role (custom: never built-in).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = roles)]
pub struct NewRole<'a> {
    pub id: &'a str,
    pub org_id: Option<&'a str>,
    pub name: &'a str,
    pub description: &'a str,
    pub parent_id: Option<&'a str>,
    pub builtin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Inserts a role; [`StoreError::Conflict`] when its name is taken in its scope.
pub fn insert(conn: &mut DbConn, role: &NewRole<'_>) -> Result<(), StoreError> {
    diesel::insert_into(roles::table)
        .values(role)
        .execute(conn)?;
    Ok(())
}

/// Changes a role's parent and description.
pub fn update(
    conn: &mut DbConn,
    role_id: &str,
    parent_id: Option<&str>,
    description: &str,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(roles::table.find(role_id))
        .set((
            roles::parent_id.eq(parent_id),
            roles::description.eq(description),
            roles::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the permission names of a custom role.
pub fn set_permissions(conn: &mut DbConn, role_id: &str, names: &[&str]) -> Result<(), StoreError> {
    use super::schema::role_permissions as rp;
    diesel::delete(rp::table.filter(rp::role_id.eq(role_id))).execute(conn)?;
    // One row at a time: MultiConnection has no batch insert (and a role has few).
    for name in names {
        diesel::insert_into(rp::table)
            .values((rp::role_id.eq(role_id), rp::permission.eq(*name)))
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete(conn: &mut DbConn, role_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(roles::table.find(role_id)).execute(conn)? > 0)
}

/// Whether some organization has a role of its own with this name.
pub fn name_used_in_an_org(conn: &mut DbConn, name: &str) -> Result<bool, StoreError> {
    let n: i64 = roles::table
        .filter(roles::name.eq(name.to_owned()))
        .filter(roles::org_id.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The role named `name` in `org` (by id), or the global one when `org` is `None`.
pub fn find_by_name(
    conn: &mut DbConn,
    name: &str,
    org: Option<&str>,
) -> Result<Option<RoleRow>, StoreError> {
    let query = roles::table
        .filter(roles::name.eq(name.to_owned()))
        .select(RoleRow::as_select())
        .into_boxed();
    let query = match org {
        None => query.filter(roles::org_id.is_null()),
        Some(o) => query.filter(roles::org_id.eq(o.to_owned())),
    };
    Ok(query.first(conn).optional()?)
}

/// The global roles (`org` = `None`) or an organization's own, by name.
pub fn list(conn: &mut DbConn, org: Option<&str>) -> Result<Vec<RoleRow>, StoreError> {
    let query = roles::table
        .select(RoleRow::as_select())
        .order(roles::name.asc())
        .into_boxed();
    let query = match org {
        None => query.filter(roles::org_id.is_null()),
        Some(o) => query.filter(roles::org_id.eq(o.to_owned())),
    };
    Ok(query.load(conn)?)
}

/// What still refers to a role: child roles, assignments (live or expired), API keys and
/// invitations.
pub fn dependents(conn: &mut DbConn, role_id: &str) -> Result<[i64; 4], StoreError> {
    use super::schema::{api_keys, org_invitations};
    let children = roles::table
        .filter(roles::parent_id.eq(role_id))
        .count()
        .get_result(conn)?;
    let assignments = role_assignments::table
        .filter(role_assignments::role_id.eq(role_id))
        .count()
        .get_result(conn)?;
    let keys = api_keys::table
        .filter(api_keys::role_id.eq(role_id))
        .count()
        .get_result(conn)?;
    let invitations = org_invitations::table
        .filter(org_invitations::role_id.eq(role_id))
        .count()
        .get_result(conn)?;
    Ok([children, assignments, keys, invitations])
}

/// The assignment of `role_id` to the holder in `org`, expired or not.
pub fn find_assignment(
    conn: &mut DbConn,
    role_id: &str,
    user_id: Option<&str>,
    client_id: Option<&str>,
    org: Option<&str>,
) -> Result<Option<AssignmentRow>, StoreError> {
    use super::schema::role_assignments as a;
    let mut query = a::table
        .filter(a::role_id.eq(role_id.to_owned()))
        .select(AssignmentRow::as_select())
        .into_boxed();
    query = match user_id {
        Some(u) => query.filter(a::user_id.eq(u.to_owned())),
        None => query.filter(a::user_id.is_null()),
    };
    query = match client_id {
        Some(c) => query.filter(a::client_id.eq(c.to_owned())),
        None => query.filter(a::client_id.is_null()),
    };
    query = match org {
        Some(o) => query.filter(a::org_id.eq(o.to_owned())),
        None => query.filter(a::org_id.is_null()),
    };
    Ok(query.first(conn).optional()?)
}

/// A new assignment.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = role_assignments)]
pub struct NewAssignment<'a> {
    pub id: &'a str,
    pub role_id: &'a str,
    pub user_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub granted_by: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

pub fn insert_assignment(conn: &mut DbConn, row: &NewAssignment<'_>) -> Result<(), StoreError> {
    diesel::insert_into(role_assignments::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A grant given again: its end, reason and grantor change; it counts from now, since the
/// earlier grant may have ended already.
pub fn renew_assignment(
    conn: &mut DbConn,
    id: &str,
    reason: Option<&str>,
    granted_by: Option<&str>,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    diesel::update(role_assignments::table.find(id))
        .set((
            role_assignments::reason.eq(reason),
            role_assignments::granted_by.eq(granted_by),
            role_assignments::expires_at.eq(expires_at),
            role_assignments::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn delete_assignment(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(role_assignments::table.find(id)).execute(conn)? > 0)
}

/// Deletes the assignment only if it has still ended by `now`: a renewal that committed
/// since it was read as expired keeps it.
pub fn delete_if_expired(conn: &mut DbConn, id: &str, now: i64) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        role_assignments::table
            .find(id)
            .filter(role_assignments::expires_at.le(now)),
    )
    .execute(conn)?
        > 0)
}

/// A user's assignments inside one organization (live or expired).
pub fn user_assignments_in_org(
    conn: &mut DbConn,
    user_id: &str,
    org_id: &str,
) -> Result<Vec<AssignmentRow>, StoreError> {
    Ok(role_assignments::table
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::org_id.eq(org_id))
        .select(AssignmentRow::as_select())
        .load(conn)?)
}

/// Assignments whose end has come by `now`.
pub fn expired(conn: &mut DbConn, now: i64) -> Result<Vec<AssignmentRow>, StoreError> {
    Ok(role_assignments::table
        .filter(role_assignments::expires_at.le(now))
        .select(AssignmentRow::as_select())
        .order(role_assignments::id.asc())
        .load(conn)?)
}

/// Every assignment, oldest first.
pub fn all_assignments(conn: &mut DbConn) -> Result<Vec<AssignmentRow>, StoreError> {
    Ok(role_assignments::table
        .select(AssignmentRow::as_select())
        .order((
            role_assignments::created_at.asc(),
            role_assignments::id.asc(),
        ))
        .load(conn)?)
}

/// `role@organization` for every role a user holds now inside an organization, sorted.
pub fn org_names_for_user(
    conn: &mut DbConn,
    user_id: &str,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    use super::schema::organizations;
    let rows: Vec<(String, Option<String>)> = role_assignments::table
        .inner_join(roles::table)
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::org_id.is_not_null())
        .filter(
            role_assignments::expires_at
                .is_null()
                .or(role_assignments::expires_at.gt(now)),
        )
        .select((roles::name, role_assignments::org_id))
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (role, org_id) in rows {
        let Some(org_id) = org_id else { continue };
        let org = organizations::table
            .find(&org_id)
            .select(organizations::name)
            .first::<String>(conn)
            .optional()?
            .unwrap_or(org_id);
        out.push(format!("{role}@{org}"));
    }
    out.sort();
    Ok(out)
}
