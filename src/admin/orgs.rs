//! Organizations (tenants) and their members.
//!
//! Invariants:
//! - An organization's `name` is a lower-case handle (a-z, 0-9, '-'), unique, never reused
//!   while the organization exists; `display_name` is free text for people.
//! - Deleting an organization is refused while it owns clients (they would be left signing in
//!   members of nothing); its members, own roles and every assignment in it go with it.
//! - Removing a member also removes every role assignment they hold in that organization,
//!   so membership is the upper bound of what an organization grants a user.
//! - Every change writes its audit event in the same transaction.

use serde::Serialize;
use serde_json::json;

use super::error::{check_handle, check_text, AdminError};
use crate::audit::{self, Actor, Event};
use crate::store::orgs::{self, OrgRow};
use crate::store::{self, roles, DbConn};

/// An organization as listed.
#[derive(Debug, Clone, Serialize)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub created_at: i64,
    pub members: i64,
    pub clients: i64,
}

/// A member as listed.
#[derive(Debug, Clone, Serialize)]
pub struct MemberView {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub joined_at: i64,
}

/// The organization with this name.
pub fn resolve(conn: &mut DbConn, name: &str) -> Result<OrgRow, AdminError> {
    orgs::find_by_name(conn, name)?.ok_or_else(|| AdminError::not_found("organization", name))
}

fn view(conn: &mut DbConn, row: OrgRow) -> Result<OrgView, AdminError> {
    Ok(OrgView {
        members: orgs::count_members(conn, &row.id)?,
        clients: orgs::count_clients(conn, &row.id)?,
        id: row.id,
        name: row.name,
        display_name: row.display_name,
        created_at: row.created_at,
    })
}

/// Creates an organization. The display name defaults to the name.
pub fn create(
    conn: &mut DbConn,
    name: &str,
    display_name: Option<&str>,
    actor: &Actor,
    now: i64,
) -> Result<OrgView, AdminError> {
    check_handle("organization name", name, false)?;
    let display_name = check_text("display name", display_name.unwrap_or(name), 100, true)?;
    let row = OrgRow {
        id: crate::crypto::random::identifier(),
        name: name.to_owned(),
        display_name,
        created_at: now,
        updated_at: now,
    };
    store::transaction(conn, |c| {
        if orgs::find_by_name(c, name)?.is_some() {
            return Err(AdminError::Exists {
                kind: "organization",
                name: name.to_owned(),
            });
        }
        orgs::insert(c, &row)?;
        audit::record(
            c,
            Event {
                action: "org.created",
                actor,
                target: Some(&row.id),
                ip: None,
                detail: json!({ "name": row.name, "display_name": row.display_name }),
            },
        )?;
        view(c, row.clone())
    })
}

/// Every organization, by name.
pub fn list(conn: &mut DbConn) -> Result<Vec<OrgView>, AdminError> {
    orgs::list(conn)?
        .into_iter()
        .map(|row| view(conn, row))
        .collect()
}

/// Deletes an organization that owns no clients.
pub fn delete(conn: &mut DbConn, name: &str, actor: &Actor) -> Result<(), AdminError> {
    store::transaction(conn, |c| {
        let org = resolve(c, name)?;
        let clients = orgs::count_clients(c, &org.id)?;
        if clients > 0 {
            return Err(AdminError::Refused(format!(
                "organization {name:?} still owns {clients} client(s): delete them or move them \
                 first"
            )));
        }
        let members = orgs::count_members(c, &org.id)?;
        orgs::delete(c, &org.id)?;
        audit::record(
            c,
            Event {
                action: "org.deleted",
                actor,
                target: Some(&org.id),
                ip: None,
                detail: json!({ "name": org.name, "members": members }),
            },
        )?;
        Ok(())
    })
}

/// Adds a member inside a caller's transaction (also used by an organization grant).
/// Returns false if the user already was a member.
pub(crate) fn add_member_in(
    c: &mut DbConn,
    org: &OrgRow,
    user_id: &str,
    actor: &Actor,
    now: i64,
) -> Result<bool, AdminError> {
    let added = orgs::add_member(c, &org.id, user_id, now)?;
    if added {
        audit::record(
            c,
            Event {
                action: "org.member_added",
                actor,
                target: Some(user_id),
                ip: None,
                detail: json!({ "org_id": org.id, "org": org.name }),
            },
        )?;
    }
    Ok(added)
}

fn find_user(c: &mut DbConn, username: &str) -> Result<String, AdminError> {
    Ok(crate::accounts::names::find_by_username(c, username)?
        .ok_or_else(|| AdminError::not_found("user", username))?
        .id)
}

/// Makes a user a member. Adding an existing member changes nothing and is not an error.
pub fn add_member(
    conn: &mut DbConn,
    org_name: &str,
    username: &str,
    actor: &Actor,
    now: i64,
) -> Result<bool, AdminError> {
    store::transaction(conn, |c| {
        let org = resolve(c, org_name)?;
        let user_id = find_user(c, username)?;
        add_member_in(c, &org, &user_id, actor, now)
    })
}

/// Removes a member and every role they hold in the organization; returns how many role
/// assignments ended with the membership.
pub fn remove_member(
    conn: &mut DbConn,
    org_name: &str,
    username: &str,
    actor: &Actor,
) -> Result<usize, AdminError> {
    store::transaction(conn, |c| {
        let org = resolve(c, org_name)?;
        let user_id = find_user(c, username)?;
        if !orgs::remove_member(c, &org.id, &user_id)? {
            return Err(AdminError::Refused(format!(
                "{username:?} is not a member of {org_name:?}"
            )));
        }
        let assignments = roles::user_assignments_in_org(c, &user_id, &org.id)?;
        for a in &assignments {
            roles::delete_assignment(c, &a.id)?;
            audit::record(
                c,
                Event {
                    action: "role.revoked",
                    actor,
                    target: Some(&user_id),
                    ip: None,
                    detail: json!({
                        "assignment_id": a.id,
                        "role_id": a.role_id,
                        "org_id": org.id,
                        "because": "membership ended",
                    }),
                },
            )?;
        }
        audit::record(
            c,
            Event {
                action: "org.member_removed",
                actor,
                target: Some(&user_id),
                ip: None,
                detail: json!({
                    "org_id": org.id,
                    "org": org.name,
                    "roles_revoked": assignments.len(),
                }),
            },
        )?;
        Ok(assignments.len())
    })
}

/// The members of an organization, by username.
pub fn members(conn: &mut DbConn, org_name: &str) -> Result<Vec<MemberView>, AdminError> {
    let org = resolve(conn, org_name)?;
    Ok(orgs::members(conn, &org.id)?
        .into_iter()
        .map(|(user_id, username, email, joined_at)| MemberView {
            user_id,
            username,
            email,
            joined_at,
        })
        .collect())
}
