//! Queries on `signing_keys`.

use diesel::prelude::*;

use super::schema::signing_keys as k;
use super::{DbConn, StoreError};

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = k)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    /// Envelope-encrypted PKCS#8 PEM.
    pub private_key: String,
    pub public_jwk: String,
    pub created_at: i64,
    pub publish_at: i64,
    pub activate_at: i64,
    pub remove_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

pub fn insert(conn: &mut DbConn, row: &KeyRow) -> Result<(), StoreError> {
    diesel::insert_into(k::table).values(row).execute(conn)?;
    Ok(())
}

/// Every key, oldest generation first.
pub fn all(conn: &mut DbConn) -> Result<Vec<KeyRow>, StoreError> {
    Ok(k::table
        .order((k::alg.asc(), k::generation.asc()))
        .select(KeyRow::as_select())
        .load(conn)?)
}

/// The newest generation of `alg`, if any.
pub fn newest(conn: &mut DbConn, alg: &str) -> Result<Option<KeyRow>, StoreError> {
    Ok(k::table
        .filter(k::alg.eq(alg))
        .order(k::generation.desc())
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Schedules removal from the JWKS for every key of `alg` older than `generation` that has
/// no earlier removal time.
pub fn schedule_removal(
    conn: &mut DbConn,
    alg: &str,
    before_generation: i64,
    remove_at: i64,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        k::table
            .filter(k::alg.eq(alg))
            .filter(k::generation.lt(before_generation))
            .filter(k::remove_at.is_null().or(k::remove_at.gt(remove_at))),
    )
    .set(k::remove_at.eq(remove_at))
    .execute(conn)?)
}

/// Deletes keys that left the JWKS before `cutoff`.
pub fn delete_removed_before(conn: &mut DbConn, cutoff: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(k::table.filter(k::remove_at.lt(cutoff))).execute(conn)?)
}
