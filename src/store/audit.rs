//! Queries on `audit_events`.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConn, StoreError};

/// A stored event; `seq` is assigned by the database and gives the order of events.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub seq: i64,
    pub id: String,
    pub occurred_at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditRow {
    pub id: String,
    pub occurred_at: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

pub fn insert(conn: &mut DbConn, row: &NewAuditRow) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Newest first.
pub fn recent(conn: &mut DbConn, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
    Ok(audit_events::table
        .order(audit_events::seq.desc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?)
}
