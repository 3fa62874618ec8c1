//! The readiness probe: a background job that reads and writes the database on an interval
//! (and when asked), on a connection of its own, each round bounded by its own timeout, and
//! keeps the last result.
//!
//! Invariants: asking for readiness never waits on the database itself, only (briefly) for
//! the probe; rounds never overlap, so however often readiness is asked there is at most one
//! probe query in flight per instance; a result older than two intervals plus the timeout
//! counts as stale, which is not ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tokio::sync::{watch, Notify};

use super::schema::readiness_probe as p;
use diesel::r2d2::ManageConnection;

use super::{conn, migrations, DatabaseUrl, DbConn, Store, StoreError};

/// The checks a round makes, in the order `/readyz` lists them.
pub const CHECKS: [&str; 2] = ["database", "database_write"];

/// The state of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Ok,
    /// The last round failed this check (the cause is logged).
    Unavailable,
    /// No round finished recently enough to tell.
    Stale,
}

impl CheckState {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckState::Ok => "ok",
            CheckState::Unavailable => "unavailable",
            CheckState::Stale => "stale",
        }
    }
}

/// What readiness looks like now.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub checks: Vec<(&'static str, CheckState)>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|(_, s)| *s == CheckState::Ok)
    }
}

/// The result of one round: whether reads and writes worked.
#[derive(Debug, Clone, Copy)]
struct Round {
    started: Instant,
    finished: Instant,
    read_ok: bool,
    write_ok: bool,
}

/// Shared between the store's clones and the probe job.
pub(super) struct Probe {
    /// Opens the probe's own connection: readiness is about the database, not about
    /// whether the pool is busy, and a connection of its own fails at once (a dropped
    /// database, a refused connection) where the pool would keep retrying until its timeout.
    manager: conn::Manager,
    /// The probe's connection between rounds; taken by a round, put back if it still reads.
    conn: Mutex<Option<DbConn>>,
    last: Mutex<Option<Round>>,
    /// Set while a probe job runs; without one, readiness is stale.
    running: AtomicBool,
    /// How old a round may be before it is stale, set by the job.
    stale_after: Mutex<Duration>,
    kick: Notify,
    finished: watch::Sender<u64>,
}

impl Probe {
    pub(super) fn new(manager: conn::Manager) -> Self {
        Self {
            manager,
            conn: Mutex::new(None),
            last: Mutex::default(),
            running: AtomicBool::new(false),
            stale_after: Mutex::default(),
            kick: Notify::new(),
            finished: watch::Sender::default(),
        }
    }

    fn last(&self) -> Option<Round> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A check's outcome; the error is the cause, for the log.
type Outcome = Result<(), String>;

/// One round's checks, on a blocking thread: a read (and no pending migration), then a
/// one-row write. A failed read skips the write, which counts as failed too.
fn check(conn: &mut DbConn) -> (Outcome, Outcome) {
    let read = conn
        .batch_execute("SELECT 1")
        .map_err(StoreError::from)
        .and_then(|()| match migrations::has_pending(conn)? {
            true => Err(StoreError::Migration("migrations are pending".into())),
            false => Ok(()),
        })
        .map_err(|e| e.to_string());
    if let Err(cause) = &read {
        let skipped = Err(format!("not tried: {cause}"));
        return (read, skipped);
    }
    let write = diesel::update(p::table.find(1))
        .set(p::probed_at.eq(crate::time::now()))
        .execute(conn)
        .map_err(|e| StoreError::from(e).to_string())
        .and_then(|rows| match rows {
            1 => Ok(()),
            _ => Err("the readiness_probe row is missing".to_owned()),
        });
    (read, write)
}

impl Store {
    /// Readiness from the probe: asks for a fresh round and waits at most `wait` for one
    /// that started after this call; otherwise answers from the last round.
    pub async fn readiness(&self, wait: Duration) -> Readiness {
        let probe = &self.probe;
        let asked = Instant::now();
        if probe.running.load(Ordering::Acquire) {
            let mut finished = probe.finished.subscribe();
            probe.kick.notify_one();
            let fresh = async {
                while probe.last().is_none_or(|r| r.started < asked) {
                    if finished.changed().await.is_err() {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(wait, fresh).await;
        }
        let stale_after = *probe.stale_after.lock().unwrap_or_else(|p| p.into_inner());
        let last = probe.last().filter(|r| {
            probe.running.load(Ordering::Acquire) && r.finished.elapsed() <= stale_after
        });
        let state = |ok: bool| match ok {
            true => CheckState::Ok,
            false => CheckState::Unavailable,
        };
        let checks = match last {
            Some(r) => vec![
                (CHECKS[0], state(r.read_ok)),
                (CHECKS[1], state(r.write_ok)),
            ],
            None => CHECKS.iter().map(|c| (*c, CheckState::Stale)).collect(),
        };
        Readiness { checks }
    }

    /// The probe job: a round every `every` and whenever readiness is asked, each bounded
    /// by `timeout`. Logs when a check starts failing and when it recovers.
    pub async fn probe_loop(self, every: Duration, timeout: Duration) {
        let probe = Arc::clone(&self.probe);
        *probe.stale_after.lock().unwrap_or_else(|p| p.into_inner()) = every * 2 + timeout;
        probe.running.store(true, Ordering::Release);
        let _stopped = Stopped(Arc::clone(&probe));
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                () = probe.kick.notified() => {}
            }
            let started = Instant::now();
            let (read, write) = self.probe_round(timeout).await;
            let round = Round {
                started,
                finished: Instant::now(),
                read_ok: read.is_ok(),
                write_ok: write.is_ok(),
            };
            let before = probe.last();
            log_change(CHECKS[0], before.map(|r| r.read_ok), &read);
            log_change(CHECKS[1], before.map(|r| r.write_ok), &write);
            *probe.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(round);
            probe.finished.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    async fn probe_round(&self, timeout: Duration) -> (Outcome, Outcome) {
        let both = |cause: String| (Err(cause.clone()), Err(cause));
        // A deleted SQLite file keeps working on an unlinked inode and loses every write.
        if let DatabaseUrl::Sqlite(path) = &self.url {
            if !path.exists() {
                return both(format!("database file {} is missing", path.display()));
            }
        }
        let probe = Arc::clone(&self.probe);
        let task = tokio::task::spawn_blocking(move || {
            let kept = probe.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
            let mut conn = match kept {
                Some(conn) => conn,
                None => ManageConnection::connect(&probe.manager).map_err(StoreError::from)?,
            };
            let (read, write) = check(&mut conn);
            // A connection that cannot read may be broken; the next round opens another.
            if read.is_ok() {
                *probe.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
            }
            Ok::<_, StoreError>((read, write))
        });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(Ok(checks))) => checks,
            Ok(Ok(Err(e))) => both(e.to_string()),
            Ok(Err(join)) => both(format!("the probe task failed: {join}")),
            Err(_) => both(format!("the probe got no answer within {timeout:?}")),
        }
    }
}

/// Marks the probe as stopped when its job ends (aborted at shutdown, or in a test).
struct Stopped(Arc<Probe>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

fn log_change(check: &'static str, was_ok: Option<bool>, now: &Outcome) {
    match (was_ok, now) {
        (Some(true) | None, Err(e)) => {
            tracing::warn!(check, cause = %e, "readiness check failed")
        }
        (Some(false), Ok(())) => tracing::info!(check, "readiness check recovered"),
        _ => {}
    }
}
