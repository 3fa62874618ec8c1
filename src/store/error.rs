//! Storage errors, and the one place that decides which failures mean "the database cannot
//! serve right now" ([`StoreError::Unavailable`]: every caller answers 503 and the client
//! may retry) and which are unexpected (a bug or corrupt data: 500 with an error id).
//!
//! Diesel does not expose Postgres' SQLSTATE, nor SQLite's result code, beyond a few
//! [`DatabaseErrorKind`]s; where no kind exists the classification reads the message, which
//! both backends keep stable (SQLite's `sqlite3_errstr` texts, Postgres' server messages in
//! the C locale and libpq's client-side messages).

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Storage failures, independent of the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    /// A unique constraint was violated; the payload names the constraint or column.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot serve now (see [`Outage`]); `cause` is for the log only, never
    /// for a client.
    #[error("{outage}: {cause}")]
    Unavailable { outage: Outage, cause: String },
    #[error("migrations: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Backend(#[source] DieselError),
    /// The blocking task running the query panicked: a bug, not an outage.
    #[error("database task failed: {0}")]
    Task(String),
}

/// Why the database cannot serve right now. Every kind is transient from the client's
/// point of view: the same request may succeed later without any change on its side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// No pooled connection became free (or could be opened) in time.
    Pool,
    /// A new connection could not be opened.
    Connect,
    /// The connection was closed or lost mid-use (server restart, network failure).
    ConnectionLost,
    /// A statement, lock wait or the whole operation ran past its bound.
    Timeout,
    /// SQLite: another connection holds the lock ("database is locked").
    Locked,
    /// The disk (or the database's quota) is full.
    DiskFull,
    /// The operating system reported an I/O error.
    Io,
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Outage::Pool => "no database connection free in time",
            Outage::Connect => "cannot connect to the database",
            Outage::ConnectionLost => "database connection lost",
            Outage::Timeout => "database operation timed out",
            Outage::Locked => "database locked",
            Outage::DiskFull => "database disk full",
            Outage::Io => "database I/O error",
        })
    }
}

impl StoreError {
    pub fn unavailable(outage: Outage, cause: impl Into<String>) -> Self {
        StoreError::Unavailable {
            outage,
            cause: cause.into(),
        }
    }

    /// Whether the failure is an outage (503, retry later) rather than a bug (500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// Messages that name an outage, lower-cased, with what they mean. SQLite's texts are
/// `sqlite3_errstr` for SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_IOERR,
/// SQLITE_CANTOPEN and SQLITE_PROTOCOL; Postgres' are the server's messages for
/// query_canceled (57014: statement_timeout), lock_not_available (55P03: lock_timeout),
/// disk_full (53100), admin_shutdown / crash_shutdown / cannot_connect_now (57P01-57P03),
/// too_many_connections (53300), and libpq's own texts for a connection that died.
const OUTAGE_MESSAGES: &[(&str, Outage)] = &[
    ("database is locked", Outage::Locked),
    ("database table is locked", Outage::Locked),
    ("database schema is locked", Outage::Locked),
    ("locking protocol", Outage::Locked),
    ("database or disk is full", Outage::DiskFull),
    ("no space left on device", Outage::DiskFull),
    ("could not extend file", Outage::DiskFull),
    ("disk quota exceeded", Outage::DiskFull),
    ("disk i/o error", Outage::Io),
    ("unable to open database file", Outage::Io),
    ("could not write to file", Outage::Io),
    ("could not read block", Outage::Io),
    (
        "canceling statement due to statement timeout",
        Outage::Timeout,
    ),
    ("canceling statement due to lock timeout", Outage::Timeout),
    ("could not obtain lock", Outage::Timeout),
    ("terminating connection", Outage::ConnectionLost),
    (
        "server closed the connection unexpectedly",
        Outage::ConnectionLost,
    ),
    ("connection to server", Outage::ConnectionLost),
    ("no connection to the server", Outage::ConnectionLost),
    ("could not receive data from server", Outage::ConnectionLost),
    ("could not send data to server", Outage::ConnectionLost),
    ("ssl syscall error", Outage::ConnectionLost),
    (
        "ssl connection has been closed unexpectedly",
        Outage::ConnectionLost,
    ),
    (
        "the database system is shutting down",
        Outage::ConnectionLost,
    ),
    ("the database system is starting up", Outage::ConnectionLost),
    (
        "the database system is in recovery mode",
        Outage::ConnectionLost,
    ),
    (
        "the database system is not yet accepting connections",
        Outage::ConnectionLost,
    ),
    ("sorry, too many clients already", Outage::Pool),
    ("remaining connection slots are reserved", Outage::Pool),
];

/// The outage a database error message names, if any.
fn outage_in(message: &str) -> Option<Outage> {
    let message = message.to_ascii_lowercase();
    OUTAGE_MESSAGES
        .iter()
        .find(|(text, _)| message.contains(text))
        .map(|&(_, outage)| outage)
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
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::unavailable(Outage::ConnectionLost, info.message()),
            DieselError::DatabaseError(kind, info) => match outage_in(info.message()) {
                Some(outage) => StoreError::unavailable(outage, info.message()),
                None => StoreError::Backend(DieselError::DatabaseError(kind, info)),
            },
            // The commit failed; what matters is why (a rollback failing after it only
            // follows from the same cause).
            DieselError::RollbackErrorOnCommit { commit_error, .. } => {
                StoreError::from(*commit_error)
            }
            // A rollback failed, which leaves the connection unusable (the pool drops it):
            // in practice the connection died under the transaction.
            DieselError::BrokenTransactionManager => {
                StoreError::unavailable(Outage::ConnectionLost, "transaction manager broken")
            }
            other => StoreError::Backend(other),
        }
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(e: diesel::ConnectionError) -> Self {
        StoreError::unavailable(Outage::Connect, e.to_string())
    }
}

/// r2d2 reports only "timed out waiting for connection", with the last connection error
/// appended when opening one failed.
impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StoreError::unavailable(Outage::Pool, e.to_string())
    }
}

impl From<diesel::r2d2::Error> for StoreError {
    fn from(e: diesel::r2d2::Error) -> Self {
        match e {
            diesel::r2d2::Error::ConnectionError(c) => c.into(),
            diesel::r2d2::Error::QueryError(q) => q.into(),
        }
    }
}

#[cfg(test)]
mod tests;
