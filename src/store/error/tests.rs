use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, SqliteConnection};

use super::{Outage, StoreError};

fn db_error(kind: DatabaseErrorKind, message: &str) -> StoreError {
    StoreError::from(DieselError::DatabaseError(
        kind,
        Box::new(message.to_owned()),
    ))
}

fn outage_of(e: &StoreError) -> Option<Outage> {
    match e {
        StoreError::Unavailable { outage, .. } => Some(*outage),
        _ => None,
    }
}

#[test]
fn outage_messages_of_both_backends_are_unavailable() {
    let cases = [
        // SQLite (sqlite3_errstr)
        ("database is locked", Outage::Locked),
        ("database table is locked", Outage::Locked),
        ("database or disk is full", Outage::DiskFull),
        ("disk I/O error", Outage::Io),
        ("unable to open database file", Outage::Io),
        // Postgres server messages
        (
            "canceling statement due to statement timeout",
            Outage::Timeout,
        ),
        ("canceling statement due to lock timeout", Outage::Timeout),
        (
            "could not extend file \"base/16384/16385\": No space left on device",
            Outage::DiskFull,
        ),
        (
            "terminating connection due to administrator command",
            Outage::ConnectionLost,
        ),
        (
            "the database system is shutting down",
            Outage::ConnectionLost,
        ),
        ("sorry, too many clients already", Outage::Pool),
        // libpq client-side messages
        (
            "server closed the connection unexpectedly\n\tThis probably means the server \
             terminated abnormally",
            Outage::ConnectionLost,
        ),
        (
            "could not receive data from server: Connection timed out",
            Outage::ConnectionLost,
        ),
    ];
    for (message, outage) in cases {
        let e = db_error(DatabaseErrorKind::Unknown, message);
        assert_eq!(outage_of(&e), Some(outage), "{message}");
        assert!(e.is_unavailable());
        // The cause is kept for the log.
        assert!(e.to_string().contains(message), "{e}");
    }
}

#[test]
fn closed_connections_are_unavailable_whatever_the_message() {
    for kind in [
        DatabaseErrorKind::ClosedConnection,
        DatabaseErrorKind::UnableToSendCommand,
    ] {
        let e = db_error(kind, "anything");
        assert_eq!(outage_of(&e), Some(Outage::ConnectionLost));
    }
    assert_eq!(
        outage_of(&StoreError::from(DieselError::BrokenTransactionManager)),
        Some(Outage::ConnectionLost)
    );
    let commit = DieselError::RollbackErrorOnCommit {
        rollback_error: Box::new(DieselError::BrokenTransactionManager),
        commit_error: Box::new(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_owned()),
        )),
    };
    assert_eq!(outage_of(&StoreError::from(commit)), Some(Outage::DiskFull));
}

#[test]
fn connection_and_pool_failures_are_unavailable() {
    let e = StoreError::from(diesel::ConnectionError::BadConnection(
        "connection refused".into(),
    ));
    assert_eq!(outage_of(&e), Some(Outage::Connect));
    let e = StoreError::from(diesel::r2d2::Error::ConnectionError(
        diesel::ConnectionError::BadConnection("timeout expired".into()),
    ));
    assert_eq!(outage_of(&e), Some(Outage::Connect));
    let e = StoreError::from(diesel::r2d2::Error::QueryError(DieselError::DatabaseError(
        DatabaseErrorKind::Unknown,
        Box::new("database is locked".to_owned()),
    )));
    assert_eq!(outage_of(&e), Some(Outage::Locked));
}

#[test]
fn everything_else_stays_unexpected_or_keeps_its_meaning() {
    assert!(matches!(
        StoreError::from(DieselError::NotFound),
        StoreError::NotFound
    ));
    assert!(matches!(
        db_error(DatabaseErrorKind::UniqueViolation, "duplicate key"),
        StoreError::Conflict(_)
    ));
    for (kind, message) in [
        (
            DatabaseErrorKind::ForeignKeyViolation,
            "violates foreign key",
        ),
        (DatabaseErrorKind::NotNullViolation, "null value in column"),
        (
            DatabaseErrorKind::Unknown,
            "syntax error at or near \"SELEC\"",
        ),
        (DatabaseErrorKind::Unknown, "no such table: readiness_probe"),
        (
            DatabaseErrorKind::Unknown,
            "relation \"users\" does not exist",
        ),
        (
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access",
        ),
    ] {
        let e = db_error(kind, message);
        assert!(matches!(e, StoreError::Backend(_)), "{message}: {e:?}");
        assert!(!e.is_unavailable());
    }
    assert!(!StoreError::Corrupt("bad json".into()).is_unavailable());
}

#[test]
fn a_real_sqlite_lock_is_classified_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let path = path.to_str().unwrap();
    let mut holder = SqliteConnection::establish(path).unwrap();
    holder
        .batch_execute("CREATE TABLE t (x INTEGER); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
        .unwrap();
    let mut other = SqliteConnection::establish(path).unwrap();
    let err = other
        .batch_execute("PRAGMA busy_timeout = 0; INSERT INTO t VALUES (2);")
        .unwrap_err();
    let e = StoreError::from(err);
    assert_eq!(outage_of(&e), Some(Outage::Locked), "{e:?}");
}
