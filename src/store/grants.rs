//! Queries on `grants` and the tokens that hang off them: authorization codes, issued
//! access tokens (by jti) and refresh tokens.

use diesel::prelude::*;

use super::schema::{
    access_tokens as at, authorization_codes as ac, grants as g, refresh_tokens as rt,
};
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = g)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    /// Space-separated granted scopes.
    pub scope: String,
    /// The OIDC `claims` request, as JSON.
    pub claims: Option<String>,
    pub auth_time: Option<i64>,
    /// JSON array.
    pub amr: String,
    pub acr: Option<String>,
    pub sid: Option<String>,
    pub created_at: i64,
    /// End of the grant's absolute lifetime (its refresh tokens die then).
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ac)]
pub struct CodeRow {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub fn insert_grant(conn: &mut DbConn, row: &GrantRow) -> Result<(), StoreError> {
    diesel::insert_into(g::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_grant(conn: &mut DbConn, id: &str) -> Result<Option<GrantRow>, StoreError> {
    Ok(g::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes a grant and every access token issued under it. Refresh tokens and codes die
/// with the grant (they are checked against `revoked_at`).
pub fn revoke_grant(conn: &mut DbConn, id: &str, now: i64) -> Result<(), StoreError> {
    diesel::update(g::table.find(id).filter(g::revoked_at.is_null()))
        .set(g::revoked_at.eq(now))
        .execute(conn)?;
    diesel::update(
        at::table
            .filter(at::grant_id.eq(id))
            .filter(at::revoked_at.is_null()),
    )
    .set(at::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

pub fn insert_code(conn: &mut DbConn, row: &CodeRow) -> Result<(), StoreError> {
    diesel::insert_into(ac::table).values(row).execute(conn)?;
    Ok(())
}

/// Marks the code used. Returns the code if this call was the first to use it, `Err` with
/// the row if it had been used before (a replay), `None` if unknown.
pub fn use_code(conn: &mut DbConn, code_hash: &str, now: i64) -> Result<CodeUse, StoreError> {
    let first = diesel::update(ac::table.find(code_hash).filter(ac::used_at.is_null()))
        .set(ac::used_at.eq(now))
        .execute(conn)?
        == 1;
    let row: Option<CodeRow> = ac::table
        .find(code_hash)
        .select(CodeRow::as_select())
        .first(conn)
        .optional()?;
    Ok(match (row, first) {
        (None, _) => CodeUse::Unknown,
        (Some(row), true) => CodeUse::First(row),
        (Some(row), false) => CodeUse::Replayed(row),
    })
}

pub enum CodeUse {
    Unknown,
    First(CodeRow),
    Replayed(CodeRow),
}

pub fn insert_access_token(
    conn: &mut DbConn,
    jti: &str,
    grant_id: &str,
    client_id: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(at::table)
        .values((
            at::jti.eq(jti),
            at::grant_id.eq(grant_id),
            at::client_id.eq(client_id),
            at::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The grant behind a live access token (known, unrevoked, grant unrevoked, unexpired).
pub fn grant_of_live_access_token(
    conn: &mut DbConn,
    jti: &str,
    now: i64,
) -> Result<Option<GrantRow>, StoreError> {
    Ok(at::table
        .inner_join(g::table)
        .filter(at::jti.eq(jti))
        .filter(at::revoked_at.is_null())
        .filter(at::expires_at.gt(now))
        .filter(g::revoked_at.is_null())
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn revoke_access_token(conn: &mut DbConn, jti: &str, now: i64) -> Result<bool, StoreError> {
    Ok(
        diesel::update(at::table.find(jti).filter(at::revoked_at.is_null()))
            .set(at::revoked_at.eq(now))
            .execute(conn)?
            == 1,
    )
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rt)]
pub struct RefreshRow {
    pub token_hash: String,
    pub grant_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub fn find_refresh_token(
    conn: &mut DbConn,
    token_hash: &str,
) -> Result<Option<RefreshRow>, StoreError> {
    Ok(rt::table
        .find(token_hash)
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a refresh token used; false if it already was (a concurrent rotation won).
pub fn use_refresh_token(
    conn: &mut DbConn,
    token_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(
        diesel::update(rt::table.find(token_hash).filter(rt::used_at.is_null()))
            .set(rt::used_at.eq(now))
            .execute(conn)?
            == 1,
    )
}

pub fn insert_refresh_token(
    conn: &mut DbConn,
    token_hash: &str,
    grant_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    diesel::insert_into(rt::table)
        .values((
            rt::token_hash.eq(token_hash),
            rt::grant_id.eq(grant_id),
            rt::created_at.eq(now),
            rt::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes expired codes, access-token records and refresh tokens, and grants whose
/// absolute lifetime is over.
pub fn purge_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
    let mut n = diesel::delete(ac::table.filter(ac::expires_at.le(now))).execute(conn)?;
    n += diesel::delete(at::table.filter(at::expires_at.le(now))).execute(conn)?;
    n += diesel::delete(rt::table.filter(rt::expires_at.le(now))).execute(conn)?;
    n += diesel::delete(g::table.filter(g::expires_at.le(now))).execute(conn)?;
    n += purge_used_jtis(conn, now)?;
    Ok(n)
}

/// Records a client assertion's jti until `expires_at`; false if it was seen before (a
/// replay). Single statement, so two concurrent uses cannot both pass.
pub fn remember_jti(
    conn: &mut DbConn,
    jti_hash: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    use super::schema::used_jtis as uj;
    match diesel::insert_into(uj::table)
        .values((uj::jti_hash.eq(jti_hash), uj::expires_at.eq(expires_at)))
        .execute(conn)
    {
        Ok(_) => Ok(true),
        Err(e) => match StoreError::from(e) {
            StoreError::Conflict(_) => Ok(false),
            other => Err(other),
        },
    }
}

pub fn purge_used_jtis(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
    use super::schema::used_jtis as uj;
    Ok(diesel::delete(uj::table.filter(uj::expires_at.le(now))).execute(conn)?)
}

/// Revokes every grant of a user (and so all their refresh and access tokens).
pub fn revoke_all_for_user(
    conn: &mut DbConn,
    user_id: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let ids: Vec<String> = g::table
        .filter(g::user_id.eq(user_id))
        .filter(g::revoked_at.is_null())
        .select(g::id)
        .load(conn)?;
    for id in &ids {
        revoke_grant(conn, id, now)?;
    }
    Ok(ids.len())
}
