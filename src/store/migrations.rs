//! Embedded migrations, one tree per backend with identical version names.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConn, StoreError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// An arbitrary constant key: instances starting together on one Postgres database take
/// turns, so two of them never apply the same migration at once.
const PG_MIGRATION_LOCK: i64 = 0x706f_7274_6375_6c6c;

/// Applies pending migrations and returns the versions applied.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, StoreError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        DbConn::Pg(c) => {
            // Waiting for another instance's migrations, or building an index on a large
            // table, may take longer than database.statement_timeout_ms allows a request;
            // RESET brings the connection's own bounds back before the pool reuses it.
            c.batch_execute("SET statement_timeout = 0; SET lock_timeout = 0")?;
            c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
            let result: Result<Vec<String>, StoreError> = c
                .run_pending_migrations(POSTGRES)
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(err);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
            c.batch_execute("RESET statement_timeout; RESET lock_timeout")?;
            result
        }
        DbConn::Sqlite(c) => Ok(c
            .run_pending_migrations(SQLITE)
            .map_err(err)?
            .into_iter()
            .map(|v| v.to_string())
            .collect()),
    }
}

/// Reverts every applied migration (tests use it for the up/down/up round trip).
pub fn revert_all(conn: &mut DbConn) -> Result<(), StoreError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        DbConn::Pg(c) => c.revert_all_migrations(POSTGRES).map_err(err)?,
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE).map_err(err)?,
    };
    Ok(())
}

pub fn has_pending(conn: &mut DbConn) -> Result<bool, StoreError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        DbConn::Pg(c) => c.has_pending_migration(POSTGRES).map_err(err),
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE).map_err(err),
    }
}

/// Reverts the most recently applied migration and returns its version (tests use it to
/// bring a database back to an earlier schema and replay a data migration).
pub fn revert_last(conn: &mut DbConn) -> Result<String, StoreError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let version = match conn {
        DbConn::Pg(c) => c.revert_last_migration(POSTGRES).map_err(err)?.to_string(),
        DbConn::Sqlite(c) => c.revert_last_migration(SQLITE).map_err(err)?.to_string(),
    };
    Ok(version)
}
