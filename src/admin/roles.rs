//! Roles and grants: custom roles with a parent, grants to users and service accounts,
//! globally or in one organization, for good or for a period (just-in-time access).
//!
//! Invariants (each refusal changes nothing):
//! - Built-in roles (`super_admin`, `org_admin`, `auditor`, `member`) are never changed or
//!   deleted, and their names are never taken by a custom role, globally or in an
//!   organization.
//! - A custom role holds only catalogue permissions; an organization's role never holds a
//!   global-only one (signing keys).
//! - Inheritance stays inside one scope and acyclic: a global role's parent is global; an
//!   organization role's parent is global or of the same organization; no role is its own
//!   ancestor; chains are at most [`MAX_DEPTH`] long.
//! - A role is deleted only when nothing refers to it (no child role, no assignment, API key
//!   or invitation): deleting never takes anyone's access away as a side effect.
//! - A grant is global or in one organization. An organization's role is granted only inside
//!   it; `super_admin` only globally. A user granted a role in an organization becomes its
//!   member (membership is the upper bound of what an organization grants, see
//!   [`super::orgs`]). A client owned by an organization holds roles only inside it.
//! - One assignment per holder, role and scope: granting again renews it (new end, reason and
//!   grantor). A grant with an end needs a reason; it grants nothing once the end has come
//!   ([`super::rbac`] filters by time) and [`purge_expired`] deletes it with a `role.expired`
//!   event.
//! - Every change writes its audit event in the same transaction.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::json;

use super::error::{check_handle, check_text, AdminError};
use super::orgs;
use super::permissions::{BuiltinRole, Permission};
use super::rbac;
use crate::audit::{self, Actor, Event};
use crate::store::orgs::OrgRow;
use crate::store::roles::{self, NewAssignment, NewRole, RoleRow};
use crate::store::{self, DbConn};

/// The longest chain of parents a role may have.
pub const MAX_DEPTH: usize = 16;

/// A role as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub id: String,
    pub name: String,
    /// The owning organization's name; `None` for a global role.
    pub org: Option<String>,
    pub builtin: bool,
    pub parent: Option<String>,
    pub description: String,
    /// The permissions the role holds by itself.
    pub permissions: Vec<&'static str>,
    /// Its own and every ancestor's.
    pub effective_permissions: Vec<&'static str>,
}

/// What a new custom role looks like.
#[derive(Debug, Clone, Default)]
pub struct RoleSpec {
    pub name: String,
    /// The organization's name; `None` for a global role.
    pub org: Option<String>,
    pub parent: Option<String>,
    pub permissions: Vec<String>,
    pub description: Option<String>,
}

/// A change to a custom role; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct RoleChange {
    /// `Some(None)` removes the parent.
    pub parent: Option<Option<String>>,
    /// Replaces the role's own permissions.
    pub permissions: Option<Vec<String>>,
    pub description: Option<String>,
}

/// Who receives or loses a role, as the operator names them.
#[derive(Debug, Clone, Copy)]
pub enum HolderName<'a> {
    /// A user, by username.
    User(&'a str),
    /// A client (service account), by client_id.
    Client(&'a str),
}

/// A grant as asked for.
#[derive(Debug, Clone)]
pub struct GrantSpec<'a> {
    pub role: &'a str,
    pub holder: HolderName<'a>,
    /// The organization's name; `None` for a global grant.
    pub org: Option<&'a str>,
    /// When the grant ends by itself; `None` until revoked.
    pub expires_at: Option<i64>,
    pub reason: Option<&'a str>,
}

/// What a grant did.
#[derive(Debug, Clone, Serialize)]
pub struct Granted {
    pub assignment_id: String,
    /// False when an existing grant was renewed.
    pub created: bool,
    pub expires_at: Option<i64>,
}

/// One line of the access review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewEntry {
    pub assignment_id: String,
    /// "user" or "client".
    pub holder_type: &'static str,
    /// The username or client_id.
    pub holder: String,
    pub holder_id: String,
    pub role: String,
    pub role_id: String,
    /// "global" or the organization's name.
    pub scope: String,
    pub org_id: Option<String>,
    pub since: i64,
    pub until: Option<i64>,
    pub reason: Option<String>,
    pub granted_by: Option<String>,
    pub last_used: Option<i64>,
    /// False once `until` has passed (until the purge job deletes the grant).
    pub active: bool,
}

fn org_of(conn: &mut DbConn, org: Option<&str>) -> Result<Option<OrgRow>, AdminError> {
    org.map(|name| orgs::resolve(conn, name)).transpose()
}

/// The role a name means in a scope: in an organization its own role of that name, else the
/// global one; globally only a global role.
fn resolve_in_scope(
    conn: &mut DbConn,
    name: &str,
    org: Option<&OrgRow>,
) -> Result<RoleRow, AdminError> {
    if let Some(o) = org {
        if let Some(r) = roles::find_by_name(conn, name, Some(&o.id))? {
            return Ok(r);
        }
    }
    roles::find_by_name(conn, name, None)?.ok_or_else(|| match org {
        Some(o) => AdminError::NotFound {
            kind: "role",
            name: format!("{name:?} (in {:?} or global)", o.name),
        },
        None => AdminError::not_found("role", name),
    })
}

/// The role a name means exactly in a scope (an organization's own, or global).
fn resolve_exact(
    conn: &mut DbConn,
    name: &str,
    org: Option<&OrgRow>,
) -> Result<RoleRow, AdminError> {
    roles::find_by_name(conn, name, org.map(|o| o.id.as_str()))?.ok_or_else(|| match org {
        Some(o) => AdminError::NotFound {
            kind: "role",
            name: format!("{name:?} in {:?}", o.name),
        },
        None => AdminError::not_found("role", name),
    })
}

fn parse_permissions(
    names: &[String],
    org: Option<&OrgRow>,
) -> Result<BTreeSet<Permission>, AdminError> {
    let mut out = BTreeSet::new();
    for n in names {
        let p: Permission = n
            .parse()
            .map_err(|e: super::permissions::UnknownPermission| {
                AdminError::Invalid(format!("{e}; `portcullis role permissions` lists them"))
            })?;
        if org.is_some() && p.is_global_only() {
            return Err(AdminError::Refused(format!(
                "{p} concerns the whole installation: only a global role may hold it"
            )));
        }
        out.insert(p);
    }
    Ok(out)
}

/// Refuses a parent outside the child's scope, and a chain that would loop back to the child
/// or grow past [`MAX_DEPTH`].
fn check_parent(
    conn: &mut DbConn,
    child_id: &str,
    child_org: Option<&str>,
    parent: &RoleRow,
) -> Result<(), AdminError> {
    match (child_org, parent.org_id.as_deref()) {
        (_, None) => {}
        (Some(c), Some(p)) if c == p => {}
        (None, Some(_)) => {
            return Err(AdminError::Refused(
                "a global role cannot inherit from an organization's role".into(),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(AdminError::Refused(
                "a role cannot inherit from another organization's role".into(),
            ))
        }
    }
    let mut seen = HashSet::new();
    let mut next = Some(parent.clone());
    let mut depth = 1;
    while let Some(r) = next.take() {
        if r.id == child_id {
            return Err(AdminError::Refused(format!(
                "{:?} cannot inherit from {:?}: the inheritance would form a cycle",
                child_id_name(conn, child_id)?,
                parent.name
            )));
        }
        if !seen.insert(r.id.clone()) || depth > MAX_DEPTH {
            return Err(AdminError::Refused(format!(
                "the chain of parents would be longer than {MAX_DEPTH}"
            )));
        }
        depth += 1;
        next = match r.parent_id {
            Some(p) => roles::find(conn, &p)?,
            None => None,
        };
    }
    Ok(())
}

fn child_id_name(conn: &mut DbConn, id: &str) -> Result<String, AdminError> {
    Ok(roles::find(conn, id)?.map_or_else(|| id.to_owned(), |r| r.name))
}

fn names(perms: &BTreeSet<Permission>) -> Vec<&'static str> {
    perms.iter().map(|p| p.name()).collect()
}

fn view(conn: &mut DbConn, role: RoleRow) -> Result<RoleView, AdminError> {
    let own = rbac::own_permissions(conn, &role)?;
    let effective = rbac::permissions_of_role(conn, &role.id)?;
    let parent = match &role.parent_id {
        Some(p) => roles::find(conn, p)?.map(|r| r.name),
        None => None,
    };
    let org = match &role.org_id {
        Some(o) => crate::store::orgs::find(conn, o)?.map(|o| o.name),
        None => None,
    };
    Ok(RoleView {
        id: role.id,
        name: role.name,
        org,
        builtin: role.builtin,
        parent,
        description: role.description,
        permissions: names(&own),
        effective_permissions: names(&effective),
    })
}

/// Creates a custom role.
pub fn create(
    conn: &mut DbConn,
    spec: &RoleSpec,
    actor: &Actor,
    now: i64,
) -> Result<RoleView, AdminError> {
    check_handle("role name", &spec.name, true)?;
    if BuiltinRole::from_id(&spec.name).is_some() {
        return Err(AdminError::Refused(format!(
            "{:?} is the name of a built-in role",
            spec.name
        )));
    }
    let description = check_text(
        "description",
        spec.description.as_deref().unwrap_or(""),
        500,
        false,
    )?;
    let id = crate::crypto::random::identifier();
    store::transaction(conn, |c| {
        let org = org_of(c, spec.org.as_deref())?;
        let perms = parse_permissions(&spec.permissions, org.as_ref())?;
        let org_id = org.as_ref().map(|o| o.id.as_str());
        if roles::find_by_name(c, &spec.name, org_id)?.is_some() {
            return Err(AdminError::Exists {
                kind: "role",
                name: spec.name.clone(),
            });
        }
        // An organization's role of the same name as a global one would hide the global role
        // from `--org` commands (grant, revoke), leaving its grants there unreachable.
        let shadowing = match org_id {
            Some(_) => roles::find_by_name(c, &spec.name, None)?.is_some(),
            None => roles::name_used_in_an_org(c, &spec.name)?,
        };
        if shadowing {
            return Err(AdminError::Invalid(format!(
                "{:?} is already the name of {}: global roles and organizations' roles need \
                 different names",
                spec.name,
                if org_id.is_some() {
                    "a global role"
                } else {
                    "an organization's role"
                }
            )));
        }
        let parent = match &spec.parent {
            Some(p) => {
                let parent = resolve_in_scope(c, p, org.as_ref())?;
                check_parent(c, &id, org_id, &parent)?;
                Some(parent)
            }
            None => None,
        };
        roles::insert(
            c,
            &NewRole {
                id: &id,
                org_id,
                name: &spec.name,
                description: &description,
                parent_id: parent.as_ref().map(|p| p.id.as_str()),
                builtin: false,
                created_at: now,
                updated_at: now,
            },
        )?;
        roles::set_permissions(c, &id, &names(&perms))?;
        audit::record(
            c,
            Event {
                action: "role.created",
                actor,
                target: Some(&id),
                ip: None,
                detail: json!({
                    "name": spec.name,
                    "org_id": org_id,
                    "parent_id": parent.as_ref().map(|p| &p.id),
                    "permissions": names(&perms),
                }),
            },
        )?;
        let row = roles::find(c, &id)?.ok_or(store::StoreError::NotFound)?;
        view(c, row)
    })
}

/// Changes a custom role's parent, permissions or description.
pub fn update(
    conn: &mut DbConn,
    name: &str,
    org: Option<&str>,
    change: &RoleChange,
    actor: &Actor,
    now: i64,
) -> Result<RoleView, AdminError> {
    let description = change
        .description
        .as_deref()
        .map(|d| check_text("description", d, 500, false))
        .transpose()?;
    store::transaction(conn, |c| {
        let org = org_of(c, org)?;
        let role = resolve_exact(c, name, org.as_ref())?;
        if role.builtin {
            return Err(AdminError::Refused(format!(
                "{name:?} is a built-in role: it cannot be changed"
            )));
        }
        let parent_id = match &change.parent {
            None => role.parent_id.clone(),
            Some(None) => None,
            Some(Some(p)) => {
                let parent = resolve_in_scope(c, p, org.as_ref())?;
                check_parent(c, &role.id, role.org_id.as_deref(), &parent)?;
                Some(parent.id)
            }
        };
        let perms = change
            .permissions
            .as_ref()
            .map(|p| parse_permissions(p, org.as_ref()))
            .transpose()?;
        let description = description.unwrap_or_else(|| role.description.clone());
        roles::update(c, &role.id, parent_id.as_deref(), &description, now)?;
        if let Some(perms) = &perms {
            roles::set_permissions(c, &role.id, &names(perms))?;
        }
        audit::record(
            c,
            Event {
                action: "role.updated",
                actor,
                target: Some(&role.id),
                ip: None,
                detail: json!({
                    "name": role.name,
                    "org_id": role.org_id,
                    "parent_id": parent_id,
                    "permissions": perms.as_ref().map(names),
                }),
            },
        )?;
        let row = roles::find(c, &role.id)?.ok_or(store::StoreError::NotFound)?;
        view(c, row)
    })
}

/// Deletes a custom role nothing refers to.
pub fn delete(
    conn: &mut DbConn,
    name: &str,
    org: Option<&str>,
    actor: &Actor,
) -> Result<(), AdminError> {
    store::transaction(conn, |c| {
        let org = org_of(c, org)?;
        let role = resolve_exact(c, name, org.as_ref())?;
        if role.builtin {
            return Err(AdminError::Refused(format!(
                "{name:?} is a built-in role: it cannot be deleted"
            )));
        }
        let [children, assignments, keys, invitations] = roles::dependents(c, &role.id)?;
        if children + assignments + keys + invitations > 0 {
            return Err(AdminError::Refused(format!(
                "{name:?} is still in use ({children} child role(s), {assignments} grant(s), \
                 {keys} API key(s), {invitations} invitation(s)): remove those first"
            )));
        }
        roles::delete(c, &role.id)?;
        audit::record(
            c,
            Event {
                action: "role.deleted",
                actor,
                target: Some(&role.id),
                ip: None,
                detail: json!({ "name": role.name, "org_id": role.org_id }),
            },
        )?;
        Ok(())
    })
}

/// The global roles (`org` = `None`) or an organization's own, by name.
pub fn list(conn: &mut DbConn, org: Option<&str>) -> Result<Vec<RoleView>, AdminError> {
    let org = org_of(conn, org)?;
    roles::list(conn, org.as_ref().map(|o| o.id.as_str()))?
        .into_iter()
        .map(|r| view(conn, r))
        .collect()
}

/// A holder resolved to ids: (user_id, client_id), exactly one set.
fn resolve_holder(
    conn: &mut DbConn,
    holder: HolderName<'_>,
) -> Result<(Option<String>, Option<String>), AdminError> {
    match holder {
        HolderName::User(username) => {
            let user = crate::accounts::names::find_by_username(conn, username)?
                .ok_or_else(|| AdminError::not_found("user", username))?;
            Ok((Some(user.id), None))
        }
        HolderName::Client(client_id) => {
            crate::store::clients::find(conn, client_id)?
                .ok_or_else(|| AdminError::not_found("client", client_id))?;
            Ok((None, Some(client_id.to_owned())))
        }
    }
}

/// Grants a role, or renews an existing grant of it to the same holder in the same scope.
pub fn grant(
    conn: &mut DbConn,
    spec: &GrantSpec<'_>,
    actor: &Actor,
    now: i64,
) -> Result<Granted, AdminError> {
    let reason = spec
        .reason
        .map(|r| check_text("reason", r, 500, true))
        .transpose()?;
    if let Some(end) = spec.expires_at {
        if reason.is_none() {
            return Err(AdminError::Invalid(
                "a grant for a limited time needs a reason".into(),
            ));
        }
        if end <= now {
            return Err(AdminError::Invalid(
                "the grant would end before it starts".into(),
            ));
        }
    }
    let granted_by = actor.as_column();
    store::transaction(conn, |c| {
        let org = org_of(c, spec.org)?;
        let role = resolve_in_scope(c, spec.role, org.as_ref())?;
        let org_id = org.as_ref().map(|o| o.id.clone());
        if role.org_id.is_some() && role.org_id != org_id {
            return Err(AdminError::Refused(format!(
                "{:?} belongs to an organization: grant it with --org inside that organization",
                role.name
            )));
        }
        if role.id == BuiltinRole::SuperAdmin.id() && org.is_some() {
            return Err(AdminError::Refused(
                "super_admin is only granted globally".into(),
            ));
        }
        let (user_id, client_id) = resolve_holder(c, spec.holder)?;
        if let Some(client) = &client_id {
            if let Some(owner) = crate::store::orgs::client_org(c, client)? {
                if org_id.as_deref() != Some(owner.as_str()) {
                    return Err(AdminError::Refused(format!(
                        "client {client:?} belongs to an organization: it holds roles only \
                         inside it"
                    )));
                }
            }
        }
        if let (Some(o), Some(u)) = (&org, &user_id) {
            orgs::add_member_in(c, o, u, actor, now)?;
        }
        let existing = roles::find_assignment(
            c,
            &role.id,
            user_id.as_deref(),
            client_id.as_deref(),
            org_id.as_deref(),
        )?;
        let (id, created) = match &existing {
            Some(a) => {
                roles::renew_assignment(
                    c,
                    &a.id,
                    reason.as_deref(),
                    granted_by.as_deref(),
                    spec.expires_at,
                    now,
                )?;
                (a.id.clone(), false)
            }
            None => {
                let id = crate::crypto::random::identifier();
                roles::insert_assignment(
                    c,
                    &NewAssignment {
                        id: &id,
                        role_id: &role.id,
                        user_id: user_id.as_deref(),
                        client_id: client_id.as_deref(),
                        org_id: org_id.as_deref(),
                        reason: reason.as_deref(),
                        granted_by: granted_by.as_deref(),
                        created_at: now,
                        expires_at: spec.expires_at,
                    },
                )?;
                (id, true)
            }
        };
        let holder = user_id.as_deref().or(client_id.as_deref());
        audit::record(
            c,
            Event {
                action: if created {
                    "role.granted"
                } else {
                    "role.grant_renewed"
                },
                actor,
                target: holder,
                ip: None,
                detail: json!({
                    "assignment_id": id,
                    "role_id": role.id,
                    "role": role.name,
                    "holder_type": if user_id.is_some() { "user" } else { "client" },
                    "org_id": org_id,
                    "expires_at": spec.expires_at,
                    "previous_expires_at": existing.as_ref().map(|a| a.expires_at),
                    "reason": reason,
                }),
            },
        )?;
        Ok(Granted {
            assignment_id: id,
            created,
            expires_at: spec.expires_at,
        })
    })
}

/// Revokes a grant (live or already expired).
pub fn revoke(
    conn: &mut DbConn,
    role: &str,
    holder: HolderName<'_>,
    org: Option<&str>,
    actor: &Actor,
) -> Result<(), AdminError> {
    store::transaction(conn, |c| {
        let org = org_of(c, org)?;
        let role = resolve_in_scope(c, role, org.as_ref())?;
        let (user_id, client_id) = resolve_holder(c, holder)?;
        let org_id = org.as_ref().map(|o| o.id.as_str());
        let a = roles::find_assignment(
            c,
            &role.id,
            user_id.as_deref(),
            client_id.as_deref(),
            org_id,
        )?
        .ok_or_else(|| AdminError::Refused(format!("no such grant of {:?}", role.name)))?;
        roles::delete_assignment(c, &a.id)?;
        audit::record(
            c,
            Event {
                action: "role.revoked",
                actor,
                target: user_id.as_deref().or(client_id.as_deref()),
                ip: None,
                detail: json!({
                    "assignment_id": a.id,
                    "role_id": role.id,
                    "role": role.name,
                    "org_id": org_id,
                }),
            },
        )?;
        Ok(())
    })
}

/// Deletes the grants whose end has come, each with a `role.expired` event by the system.
pub fn purge_expired(conn: &mut DbConn, now: i64) -> Result<usize, AdminError> {
    store::transaction(conn, |c| {
        let expired = roles::expired(c, now)?;
        let mut purged = 0;
        for a in &expired {
            if !roles::delete_if_expired(c, &a.id, now)? {
                continue;
            }
            purged += 1;
            audit::record(
                c,
                Event {
                    action: "role.expired",
                    actor: &Actor::System,
                    target: a.user_id.as_deref().or(a.client_id.as_deref()),
                    ip: None,
                    detail: json!({
                        "assignment_id": a.id,
                        "role_id": a.role_id,
                        "org_id": a.org_id,
                        "expires_at": a.expires_at,
                        "reason": a.reason,
                    }),
                },
            )?;
        }
        Ok(purged)
    })
}

/// The access review: every grant, who holds it, where, since and until when, why, from
/// whom, and when it last allowed something.
pub fn review(conn: &mut DbConn, now: i64) -> Result<Vec<ReviewEntry>, AdminError> {
    let mut role_names: HashMap<String, String> = HashMap::new();
    let mut org_names: HashMap<String, String> = HashMap::new();
    let mut usernames: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for a in roles::all_assignments(conn)? {
        if !role_names.contains_key(&a.role_id) {
            let name = roles::find(conn, &a.role_id)?.map_or_else(|| a.role_id.clone(), |r| r.name);
            role_names.insert(a.role_id.clone(), name);
        }
        let scope = match &a.org_id {
            None => "global".to_owned(),
            Some(o) => {
                if !org_names.contains_key(o) {
                    let name =
                        crate::store::orgs::find(conn, o)?.map_or_else(|| o.clone(), |r| r.name);
                    org_names.insert(o.clone(), name);
                }
                org_names.get(o).cloned().unwrap_or_default()
            }
        };
        let (holder_type, holder_id, holder) = match (&a.user_id, &a.client_id) {
            (Some(u), _) => {
                if !usernames.contains_key(u) {
                    let name = crate::store::users::find_by_id(conn, u)?
                        .map_or_else(|| u.clone(), |r| r.username);
                    usernames.insert(u.clone(), name);
                }
                (
                    "user",
                    u.clone(),
                    usernames.get(u).cloned().unwrap_or_default(),
                )
            }
            (None, Some(c)) => ("client", c.clone(), c.clone()),
            (None, None) => continue,
        };
        out.push(ReviewEntry {
            active: a.expires_at.is_none_or(|e| e > now),
            role: role_names.get(&a.role_id).cloned().unwrap_or_default(),
            assignment_id: a.id,
            holder_type,
            holder,
            holder_id,
            role_id: a.role_id,
            scope,
            org_id: a.org_id,
            since: a.created_at,
            until: a.expires_at,
            reason: a.reason,
            granted_by: a.granted_by,
            last_used: a.last_used_at,
        });
    }
    Ok(out)
}
