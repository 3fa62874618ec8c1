//! Queries on `organizations` and `org_members`.

use diesel::prelude::*;

use super::schema::{clients, org_members, organizations, users};
use super::{DbConn, StoreError};

/// A row of `organizations`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Inserts an organization; [`StoreError::Conflict`] when the name is taken.
pub fn insert(conn: &mut DbConn, row: &OrgRow) -> Result<(), StoreError> {
    diesel::insert_into(organizations::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<OrgRow>, StoreError> {
    Ok(organizations::table
        .filter(organizations::name.eq(name))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<OrgRow>, StoreError> {
    Ok(organizations::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every organization, by name.
pub fn list(conn: &mut DbConn) -> Result<Vec<OrgRow>, StoreError> {
    Ok(organizations::table
        .select(OrgRow::as_select())
        .order(organizations::name.asc())
        .load(conn)?)
}

/// Deletes an organization; its members, roles and assignments go with it (ON DELETE CASCADE).
pub fn delete(conn: &mut DbConn, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(organizations::table.find(id)).execute(conn)? > 0)
}

/// How many clients the organization owns.
pub fn count_clients(conn: &mut DbConn, id: &str) -> Result<i64, StoreError> {
    Ok(clients::table
        .filter(clients::org_id.eq(id))
        .count()
        .get_result(conn)?)
}

/// The organization (by id) that owns a client, if any; `None` also for an unknown client.
pub fn client_org(conn: &mut DbConn, client_id: &str) -> Result<Option<String>, StoreError> {
    Ok(clients::table
        .find(client_id)
        .select(clients::org_id)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

pub fn count_members(conn: &mut DbConn, id: &str) -> Result<i64, StoreError> {
    Ok(org_members::table
        .filter(org_members::org_id.eq(id))
        .count()
        .get_result(conn)?)
}

/// Adds a member; false if they already were one.
pub fn add_member(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let added = super::insert_or_ignore!(
        conn,
        org_members::table,
        (
            org_members::org_id.eq(org_id),
            org_members::user_id.eq(user_id),
            org_members::joined_at.eq(now),
        )
    )?;
    Ok(added > 0)
}

/// Removes a member; false if they were not one.
pub fn remove_member(conn: &mut DbConn, org_id: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(
        org_members::table
            .filter(org_members::org_id.eq(org_id))
            .filter(org_members::user_id.eq(user_id)),
    )
    .execute(conn)?
        > 0)
}

pub fn is_member(conn: &mut DbConn, org_id: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        org_members::table
            .filter(org_members::org_id.eq(org_id))
            .filter(org_members::user_id.eq(user_id)),
    ))
    .get_result(conn)?)
}

/// A member as listed: user id, username, email, joined at.
pub type MemberRow = (String, String, String, i64);

/// The members of an organization, by username.
pub fn members(conn: &mut DbConn, org_id: &str) -> Result<Vec<MemberRow>, StoreError> {
    Ok(org_members::table
        .inner_join(users::table)
        .filter(org_members::org_id.eq(org_id))
        .select((
            users::id,
            users::username,
            users::email,
            org_members::joined_at,
        ))
        .order(users::username.asc())
        .load(conn)?)
}
