//! Queries on `audit_events`.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub occurred_at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

pub fn insert(conn: &mut DbConn, row: &AuditRow) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Newest first.
pub fn recent(conn: &mut DbConn, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_events::table
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}
