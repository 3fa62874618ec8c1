use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Storage failures, independent of the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    /// A unique constraint was violated; the payload names the constraint or column.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("connection pool: {0}")]
    Pool(String),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Backend(#[source] DieselError),
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(
                    info.constraint_name()
                        .map(str::to_owned)
                        .unwrap_or_else(|| info.message().to_owned()),
                )
            }
            other => StoreError::Backend(other),
        }
    }
}
