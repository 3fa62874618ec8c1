//! Queries on `consents`.

use diesel::prelude::*;

use super::schema::consents as c;
use super::{DbConn, StoreError};

/// The scopes the user has granted the client so far (JSON array text), if any.
pub fn find(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(c::table
        .find((user_id, client_id))
        .select(c::scopes)
        .first(conn)
        .optional()?)
}

/// Records the scopes granted (replacing the previous set).
pub fn save(
    conn: &mut DbConn,
    user_id: &str,
    client_id: &str,
    scopes: &str,
    now: i64,
) -> Result<(), StoreError> {
    let updated = diesel::update(c::table.find((user_id, client_id)))
        .set((c::scopes.eq(scopes), c::updated_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(c::table)
            .values((
                c::user_id.eq(user_id),
                c::client_id.eq(client_id),
                c::scopes.eq(scopes),
                c::created_at.eq(now),
                c::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}
