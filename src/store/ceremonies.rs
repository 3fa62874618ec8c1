//! Queries on `webauthn_ceremonies`: the server-side state of a WebAuthn ceremony between
//! its begin and finish requests. The browser holds a random token; only its SHA-256 is
//! stored. Consuming is a single `DELETE ... RETURNING`, so a ceremony finishes at most once
//! even when two requests race.

use diesel::prelude::*;

use super::schema::webauthn_ceremonies as w;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = w)]
pub struct CeremonyRow {
    pub id_hash: String,
    /// The user the ceremony is for; `None` for a discoverable (usernameless) sign-in.
    pub user_id: Option<String>,
    pub kind: String,
    /// webauthn-rs's serialized registration or authentication state (JSON).
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert(conn: &mut DbConn, row: &CeremonyRow) -> Result<(), StoreError> {
    diesel::insert_into(w::table).values(row).execute(conn)?;
    Ok(())
}

/// Deletes the ceremony and returns it if it is unexpired and of one of `kinds`. A ceremony
/// presented for the wrong kind is deleted too: it was misused, and it is single use
/// whatever happens.
pub fn consume(
    conn: &mut DbConn,
    id_hash: &str,
    kinds: &[&str],
    now: i64,
) -> Result<Option<CeremonyRow>, StoreError> {
    let row: Option<(Option<String>, String, String, i64, i64)> =
        diesel::delete(w::table.find(id_hash))
            .returning((w::user_id, w::kind, w::state, w::created_at, w::expires_at))
            .get_result(conn)
            .optional()?;
    Ok(row
        .map(
            |(user_id, kind, state, created_at, expires_at)| CeremonyRow {
                id_hash: id_hash.to_owned(),
                user_id,
                kind,
                state,
                created_at,
                expires_at,
            },
        )
        .filter(|r| r.expires_at > now && kinds.contains(&r.kind.as_str())))
}

pub fn purge_expired(conn: &mut DbConn, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::delete(w::table.filter(w::expires_at.le(now))).execute(conn)?)
}
