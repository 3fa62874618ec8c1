//! Storage: one Diesel code path over SQLite (embedded default) and Postgres.
//!
//! Invariants: every query runs on a blocking thread (never on an actix worker), through
//! [`Store::run`], which bounds it by a deadline; failures that mean "the database cannot
//! serve now" are classified in one place ([`StoreError::Unavailable`]); `store` knows
//! nothing about HTTP; only portable SQL types are used so that one hand-written [`schema`]
//! serves both backends.

pub mod api_keys;
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
pub mod orgs;
pub mod outbox;
pub mod passkeys;
mod pg_params;
mod probe;
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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::r2d2::Pool;

pub use conn::{DatabaseUrl, DbConn};
pub use error::{Outage, StoreError};
pub use probe::{CheckState, Readiness};

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

/// The bounds on database work (`[database]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long to wait for a pooled connection, and (Postgres) to open one.
    pub connect_timeout: Duration,
    /// Postgres `statement_timeout` and `lock_timeout`; zero leaves the server's settings.
    pub statement_timeout: Duration,
    /// How long an SQLite writer waits for the lock before "database is locked".
    pub sqlite_busy_timeout: Duration,
    /// The deadline of one [`Store::run`], from the call to the result.
    pub operation_timeout: Duration,
}

impl Default for StoreOptions {
    /// The defaults of `config/default.toml`.
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
        }
    }
}

/// Initialises OpenSSL (which libpq uses for TLS) without its `atexit` clean-up, before
/// libpq can initialise it with one: that clean-up frees OpenSSL's global state while
/// pool and probe threads may still be inside libpq, and the process then aborts at exit
/// ("double free or corruption"). The first initialisation decides, so this runs first.
pub fn init_tls_library() {
    openssl::init();
}

/// A pooled handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool<conn::Manager>,
    url: DatabaseUrl,
    operation_timeout: Duration,
    probe: Arc<probe::Probe>,
    /// Woken after a closure given to [`Store::run`] wrote to the mail outbox: this
    /// instance's mail worker waits on it between polls.
    mail_signal: Arc<tokio::sync::Notify>,
}

impl Store {
    /// [`Store::open`] with default bounds but for the pool's size and wait.
    pub fn connect(
        url: DatabaseUrl,
        max_connections: u32,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        init_tls_library();
        Self::open(
            url,
            StoreOptions {
                max_connections,
                connect_timeout,
                ..StoreOptions::default()
            },
        )
    }

    /// Builds the pool and checks that one connection can be opened, so that a wrong URL
    /// or a dead server stops the start with the real cause.
    pub fn open(url: DatabaseUrl, options: StoreOptions) -> Result<Self, StoreError> {
        if let DatabaseUrl::Sqlite(path) = &url {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    let cause = format!("cannot create {}: {e}", parent.display());
                    StoreError::unavailable(Outage::Io, cause)
                })?;
            }
        }
        let manager = conn::Manager::new(url.clone(), &options);
        // Surface the real connection error before r2d2 hides it behind a timeout.
        diesel::r2d2::ManageConnection::connect(&manager)?;
        let probe = Arc::new(probe::Probe::new(manager.clone()));
        let pool = Pool::builder()
            .max_size(options.max_connections)
            .connection_timeout(options.connect_timeout)
            .build(manager)?;
        Ok(Self {
            pool,
            url,
            operation_timeout: options.operation_timeout,
            probe,
            mail_signal: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool, within the operation
    /// deadline; past it the caller gets [`Outage::Timeout`] at once.
    ///
    /// A blocking task cannot be cancelled: one already running `f` finishes on its own
    /// (Postgres' statement_timeout ends a statement the server is running, and the pool
    /// drops a connection that comes back broken). One still waiting for a connection when
    /// the deadline passes does not start `f` at all.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let signal = Arc::clone(&self.mail_signal);
        let abandoned = Arc::new(AtomicBool::new(false));
        let given_up = Arc::clone(&abandoned);
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            if given_up.load(Ordering::Acquire) {
                return Err(E::from(StoreError::unavailable(
                    Outage::Timeout,
                    "the caller gave up before a connection was free",
                )));
            }
            let result = f(&mut conn);
            if outbox::take_inserted() {
                signal.notify_one();
            }
            result
        });
        match tokio::time::timeout(self.operation_timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(StoreError::Task(join.to_string()).into()),
            Err(_) => {
                abandoned.store(true, Ordering::Release);
                let cause = format!("no result within {:?}", self.operation_timeout);
                Err(StoreError::unavailable(Outage::Timeout, cause).into())
            }
        }
    }

    /// Runs `f` synchronously; for the CLI and start-up, which are not on an async worker.
    pub fn run_sync<T, E>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        let result = f(&mut conn);
        if outbox::take_inserted() {
            self.mail_signal.notify_one();
        }
        result
    }

    /// Notified when this process committed mail to the outbox (see [`outbox`]).
    pub fn mail_signal(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.mail_signal)
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
