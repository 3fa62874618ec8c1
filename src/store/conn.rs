//! The connection enum and a pool manager that picks the backend from the URL scheme.
//!
//! Diesel's derived `establish` tries every backend in turn and discards the real error
//! (and SQLite accepts nearly any string as a path), so the backend is chosen explicitly.

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{Error as R2d2Error, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// A parsed `database.url`: `sqlite://PATH` or `postgres://...` / `postgresql://...`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://data/portcullis.db".into());
            }
            if path.contains('?') || path.contains('#') {
                return Err("sqlite paths may not contain '?' or '#'".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        Err("must start with sqlite:// or postgres://".into())
    }
}

/// Never prints a Postgres password.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => match url::Url::parse(u) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("redacted"));
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => f.write_str("postgres://(unparsable)"),
            },
        }
    }
}

/// Opens connections: Postgres through the operator's URL with the bounding libpq
/// parameters merged in, SQLite with its pragmas.
#[derive(Clone)]
pub(super) enum Manager {
    Pg { url: String },
    Sqlite { path: PathBuf, pragmas: String },
}

impl Manager {
    pub(super) fn new(url: DatabaseUrl, options: &super::StoreOptions) -> Self {
        match url {
            DatabaseUrl::Postgres(u) => Manager::Pg {
                url: super::pg_params::with_bounds(
                    &u,
                    options.connect_timeout,
                    options.statement_timeout,
                ),
            },
            DatabaseUrl::Sqlite(path) => Manager::Sqlite {
                path,
                pragmas: sqlite_pragmas(options.sqlite_busy_timeout),
            },
        }
    }
}

/// WAL lets readers run beside the single writer; busy_timeout makes a writer wait that
/// long for the lock before failing with "database is locked".
fn sqlite_pragmas(busy_timeout: std::time::Duration) -> String {
    format!(
        "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        busy_timeout.as_millis()
    )
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = R2d2Error;

    fn connect(&self) -> Result<DbConn, R2d2Error> {
        match self {
            Manager::Pg { url } => PgConnection::establish(url)
                .map(DbConn::Pg)
                .map_err(R2d2Error::ConnectionError),
            Manager::Sqlite { path, pragmas } => {
                let path = path.to_string_lossy();
                let mut conn =
                    SqliteConnection::establish(&path).map_err(R2d2Error::ConnectionError)?;
                conn.batch_execute(pragmas).map_err(R2d2Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), R2d2Error> {
        conn.ping().map_err(R2d2Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}
