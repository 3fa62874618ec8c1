//! Storage: one Diesel code path over SQLite (embedded default) and Postgres.
//!
//! Invariants: every query runs on a blocking thread (never on an actix worker), through
//! [`Store::run`]; `store` knows nothing about HTTP; only portable SQL types are used so that
//! one hand-written [`schema`] serves both backends.

pub mod audit;
pub mod authz_requests;
pub mod ceremonies;
pub mod challenges;
pub mod clients;
mod conn;
pub mod consents;
pub mod devices;
mod error;
pub mod grants;
pub mod keys;
pub mod login_sources;
pub mod migrations;
pub mod passkeys;
pub mod profiles;
pub mod rate_counters;
pub mod recovery_codes;
pub mod roles;
pub mod schema;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod users;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::Pool;

pub use conn::{DatabaseUrl, DbConn};
pub use error::StoreError;

/// `INSERT ... ON CONFLICT DO NOTHING` on either backend. MultiConnection has no upsert, so
/// the one statement is written per variant here, once, for every store module that needs
/// an idempotent insert (it waits for a concurrent insert of the same key instead of failing).
macro_rules! insert_or_ignore {
    ($conn:expr, $table:expr, $values:expr) => {
        match $conn {
            $crate::store::DbConn::Pg(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
            $crate::store::DbConn::Sqlite(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
        }
    };
}
pub(crate) use insert_or_ignore;

/// A pooled handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool<conn::Manager>,
    url: DatabaseUrl,
}

impl Store {
    /// Builds the pool and checks that one connection can be opened, so that a wrong URL
    /// or a dead server stops the start with the real cause.
    pub fn connect(
        url: DatabaseUrl,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        if let DatabaseUrl::Sqlite(path) = &url {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Connect(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let manager = conn::Manager::new(url.clone());
        // Surface the real connection error before r2d2 hides it behind a timeout.
        diesel::r2d2::ManageConnection::connect(&manager)
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        let pool = Pool::builder()
            .max_size(max_connections)
            .connection_timeout(connect_timeout)
            .build(manager)
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(Self { pool, url })
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| StoreError::Pool(e.to_string()))?;
            f(&mut conn)
        })
        .await
        .map_err(|_| StoreError::Pool("blocking task was cancelled".into()))?
    }

    /// Runs `f` synchronously; for the CLI and start-up, which are not on an async worker.
    pub fn run_sync<T, E>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        f(&mut conn)
    }

    /// Readiness: the database answers within `timeout`, the SQLite file is still where it
    /// was opened (a deleted file keeps working on an unlinked inode and loses every write)
    /// and no migration is pending.
    pub async fn check_ready(&self, timeout: Duration) -> Result<(), StoreError> {
        if let DatabaseUrl::Sqlite(path) = &self.url {
            let path: PathBuf = path.clone();
            if !path.exists() {
                return Err(StoreError::Connect(format!(
                    "database file {} is missing",
                    path.display()
                )));
            }
        }
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get_timeout(timeout)
                .map_err(|e| StoreError::Pool(e.to_string()))?;
            conn.batch_execute("SELECT 1")?;
            if migrations::has_pending(&mut conn)? {
                return Err(StoreError::Migration("migrations are pending".into()));
            }
            Ok(())
        })
        .await
        .map_err(|_| StoreError::Pool("blocking task was cancelled".into()))?
    }
}

/// Runs `f` in a transaction; any error rolls back. Domain services own transactions.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`, taking the write lock up front:
/// a deferred transaction that reads and then writes fails at once with "database is
/// locked" when another writer committed in between (SQLite cannot wait there without
/// risking a deadlock), whereas waiting for the lock at BEGIN honours busy_timeout.
pub fn transaction<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    use diesel::Connection;

    let begun_immediately = match conn {
        DbConn::Sqlite(c) => {
            let outermost = AnsiTransactionManager::transaction_manager_status_mut(c)
                .transaction_depth()
                .map_err(StoreError::from)?
                .is_none();
            if outermost {
                AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
                    .map_err(StoreError::from)?;
            }
            outermost
        }
        DbConn::Pg(_) => false,
    };
    if begun_immediately {
        type Manager = <DbConn as Connection>::TransactionManager;
        return match f(conn) {
            Ok(value) => match Manager::commit_transaction(conn) {
                Ok(()) => Ok(value),
                Err(e) => {
                    let _ = Manager::rollback_transaction(conn);
                    Err(E::from(StoreError::from(e)))
                }
            },
            Err(e) => {
                let _ = Manager::rollback_transaction(conn);
                Err(e)
            }
        };
    }

    enum TxError<E> {
        Inner(E),
        Db(diesel::result::Error),
    }
    impl<E> From<diesel::result::Error> for TxError<E> {
        fn from(e: diesel::result::Error) -> Self {
            TxError::Db(e)
        }
    }
    conn.transaction::<T, TxError<E>, _>(|c| f(c).map_err(TxError::Inner))
        .map_err(|e| match e {
            TxError::Inner(e) => e,
            TxError::Db(e) => E::from(StoreError::from(e)),
        })
}
