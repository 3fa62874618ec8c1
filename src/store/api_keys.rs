//! Queries on `api_keys`. Rows hold only SHA-256 hashes of secrets; the rules (who may
//! create what, when a key is valid) live in `crate::admin::api_keys`.

use diesel::prelude::*;

use super::schema::{api_keys as k, clients, organizations, roles, users};
use super::{DbConn, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = k)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub secret_hash: String,
    pub previous_secret_hash: Option<String>,
    pub previous_expires_at: Option<i64>,
    pub owner_user_id: Option<String>,
    pub owner_client_id: Option<String>,
    pub role_id: String,
    pub org_id: Option<String>,
    /// A JSON array of CIDR strings, canonical (network address, no host bits).
    pub allowed_cidrs: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

/// A key with the names an operator reads (role, organization, owner) instead of ids.
#[derive(Debug, Clone)]
pub struct ApiKeyListing {
    pub key: ApiKeyRow,
    pub role_name: String,
    pub org_name: Option<String>,
    pub owner_username: Option<String>,
}

pub fn insert(conn: &mut DbConn, row: &ApiKeyRow) -> Result<(), StoreError> {
    diesel::insert_into(k::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(k::table
        .find(id)
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every key (of one organization when `org_id` is given), newest first.
pub fn list(conn: &mut DbConn, org_id: Option<&str>) -> Result<Vec<ApiKeyListing>, StoreError> {
    let mut query = k::table
        .inner_join(roles::table)
        .left_join(organizations::table.on(k::org_id.eq(organizations::id.nullable())))
        .left_join(users::table.on(k::owner_user_id.eq(users::id.nullable())))
        .select((
            ApiKeyRow::as_select(),
            roles::name,
            organizations::name.nullable(),
            users::username.nullable(),
        ))
        .order((k::created_at.desc(), k::id.asc()))
        .into_boxed();
    if let Some(org) = org_id {
        query = query.filter(k::org_id.eq(org));
    }
    let rows: Vec<(ApiKeyRow, String, Option<String>, Option<String>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key, role_name, org_name, owner_username)| ApiKeyListing {
            key,
            role_name,
            org_name,
            owner_username,
        })
        .collect())
}

/// Marks a key revoked and forgets its previous secret; returns whether a live key changed.
pub fn revoke(conn: &mut DbConn, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = diesel::update(k::table.find(id).filter(k::revoked_at.is_null()))
        .set((
            k::revoked_at.eq(now),
            k::previous_secret_hash.eq(None::<String>),
            k::previous_expires_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(n > 0)
}

/// Replaces the secret of a live key, keeping `previous_hash` valid until `previous_until`
/// (or not at all when both are `None`). Only the hash `current_hash` that was read is
/// replaced, so two concurrent rotations cannot both win; returns whether this one did.
pub fn rotate(
    conn: &mut DbConn,
    id: &str,
    current_hash: &str,
    new_hash: &str,
    previous_until: Option<i64>,
) -> Result<bool, StoreError> {
    let previous = previous_until.map(|_| current_hash.to_owned());
    let n = diesel::update(
        k::table
            .find(id)
            .filter(k::secret_hash.eq(current_hash))
            .filter(k::revoked_at.is_null()),
    )
    .set((
        k::secret_hash.eq(new_hash),
        k::previous_secret_hash.eq(previous),
        k::previous_expires_at.eq(previous_until),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Records a use, unless one was recorded since `not_before` (the throttle): concurrent
/// requests on several instances write at most once per window between them.
pub fn touch(
    conn: &mut DbConn,
    id: &str,
    ip: &str,
    now: i64,
    not_before: i64,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        k::table
            .find(id)
            .filter(k::last_used_at.is_null().or(k::last_used_at.le(not_before))),
    )
    .set((k::last_used_at.eq(now), k::last_used_ip.eq(ip)))
    .execute(conn)?;
    Ok(n > 0)
}

/// A role by name: the organization's own role of that name when `org_id` is given and it
/// has one, else the global role of that name.
pub fn find_role(
    conn: &mut DbConn,
    name: &str,
    org_id: Option<&str>,
) -> Result<Option<RoleRef>, StoreError> {
    if let Some(org) = org_id {
        let own = roles::table
            .filter(roles::org_id.eq(org))
            .filter(roles::name.eq(name))
            .select((roles::id, roles::org_id, roles::builtin))
            .first::<(String, Option<String>, bool)>(conn)
            .optional()?;
        if let Some((id, org_id, builtin)) = own {
            return Ok(Some(RoleRef {
                id,
                org_id,
                builtin,
            }));
        }
    }
    let global = roles::table
        .filter(roles::org_id.is_null())
        .filter(roles::name.eq(name))
        .select((roles::id, roles::org_id, roles::builtin))
        .first::<(String, Option<String>, bool)>(conn)
        .optional()?;
    Ok(global.map(|(id, org_id, builtin)| RoleRef {
        id,
        org_id,
        builtin,
    }))
}

/// Where a role is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub id: String,
    pub org_id: Option<String>,
    pub builtin: bool,
}

/// An organization's id by its name (the handle `--org` takes).
pub fn find_org_id(conn: &mut DbConn, name: &str) -> Result<Option<String>, StoreError> {
    Ok(organizations::table
        .filter(organizations::name.eq(name))
        .select(organizations::id)
        .first(conn)
        .optional()?)
}

/// Whether the user exists (`None`: it does not) and is enabled.
pub fn user_enabled(conn: &mut DbConn, user_id: &str) -> Result<Option<bool>, StoreError> {
    let disabled: Option<bool> = users::table
        .find(user_id)
        .select(users::disabled)
        .first(conn)
        .optional()?;
    Ok(disabled.map(|d| !d))
}

/// Whether the client exists (`None`: it does not) and is enabled.
pub fn client_enabled(conn: &mut DbConn, client_id: &str) -> Result<Option<bool>, StoreError> {
    let disabled: Option<bool> = clients::table
        .find(client_id)
        .select(clients::disabled)
        .first(conn)
        .optional()?;
    Ok(disabled.map(|d| !d))
}
