//! Caps on open client connections (`server.max_connections` overall,
//! `server.max_connections_per_ip` per TCP peer), so that slow or idle connections from a
//! few sources cannot take every open file and stop the service for everyone.
//!
//! Invariants:
//! - Each connection is admitted or refused once, when it is accepted
//!   ([`ConnectionCaps::on_connect`]). An admitted connection holds a [`Slot`] in its
//!   connection data and gives it back when the connection closes (on drop), so the counts
//!   are exactly the open admitted connections.
//! - A refused connection is not counted; each request on it is answered 503 with
//!   `Retry-After` and `Connection: close` before any handler runs ([`shed`]). Its head is
//!   still bounded by the request deadline, and actix's own per-worker `max_connections`
//!   ([`ConnectionCaps::per_worker_backstop`]) bounds admitted and refused connections
//!   together: beyond that the kernel keeps new connections waiting in the listen queue,
//!   where they cost no open file of ours.
//! - The per-address count uses the TCP peer, never forwarded headers (which are read per
//!   request, after the connection was accepted); an IPv6 peer counts as its /64. Peers in
//!   `server.trusted_proxies` count only toward the overall cap: behind a proxy every
//!   connection comes from it.

use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use ipnet::IpNet;

use super::super::client_addr::is_trusted;
use super::super::AppError;
use crate::config::Settings;

/// Seconds a refused client is asked to wait: slots free up as other requests end.
const RETRY_AFTER_SECS: &str = "5";

/// Open files kept free for everything but client connections: the listener, log output,
/// the runtime's own descriptors, files read at run time.
const RESERVED_FILES: u64 = 64;

/// Open files one pooled database connection may hold (SQLite: database, WAL, shared memory).
const FILES_PER_DATABASE_CONNECTION: u64 = 3;

/// The counts shared by all workers.
#[derive(Clone)]
pub struct ConnectionCaps {
    inner: Arc<Inner>,
}

struct Inner {
    max_total: usize,
    max_per_source: usize,
    trusted: Vec<IpNet>,
    counts: Mutex<Counts>,
    /// Connections refused since start, for the log.
    refused: AtomicU64,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    Overall,
    PerSource,
}

/// An admitted connection's place in the counts, returned when the connection closes.
struct Slot {
    caps: Arc<Inner>,
    source: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.caps.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(source) = self.source {
            if let Some(n) = counts.per_source.get_mut(&source) {
                *n -= 1;
                if *n == 0 {
                    counts.per_source.remove(&source);
                }
            }
        }
    }
}

/// Marks a connection refused, for [`shed`].
struct Refused(Cap);

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ConnectionCaps {
    /// `max_total` is the overall cap after [`fit_to_open_files`].
    pub fn new(max_total: usize, settings: &Settings) -> Self {
        ConnectionCaps {
            inner: Arc::new(Inner {
                max_total,
                max_per_source: settings.server.max_connections_per_ip.min(max_total),
                trusted: settings.server.trusted_proxies().to_vec(),
                counts: Mutex::new(Counts::default()),
                refused: AtomicU64::new(0),
            }),
        }
    }

    /// actix's per-worker connection limit: the overall cap plus room for refused
    /// connections to get their 503, spread over the workers.
    pub fn per_worker_backstop(&self, workers: usize) -> usize {
        backstop_total(self.inner.max_total).div_ceil(workers.max(1))
    }

    /// Admits or refuses a new connection; called from `HttpServer::on_connect` with the
    /// connection's socket.
    pub fn on_connect(&self, io: &dyn Any, extensions: &mut Extensions) {
        let peer = peer_ip(io);
        match self.admit(peer) {
            Ok(slot) => {
                extensions.insert(slot);
            }
            Err(cap) => {
                // Logged at 1, 2, 4, 8, ... refusals: visible, without flooding the log
                // during a flood.
                let refused = self.inner.refused.fetch_add(1, Ordering::Relaxed) + 1;
                if refused.is_power_of_two() {
                    tracing::warn!(
                        ?cap,
                        peer = ?peer,
                        refused_since_start = refused,
                        "connection over its cap (server.max_connections or \
                         server.max_connections_per_ip); answering 503"
                    );
                }
                extensions.insert(Refused(cap));
            }
        }
    }

    fn admit(&self, peer: Option<IpAddr>) -> Result<Slot, Cap> {
        let inner = &self.inner;
        let source = peer
            .filter(|ip| !is_trusted(*ip, &inner.trusted))
            .map(source_of);
        let mut counts = inner.lock();
        if counts.total >= inner.max_total {
            return Err(Cap::Overall);
        }
        if let Some(source) = source {
            let n = counts.per_source.entry(source).or_default();
            if *n >= inner.max_per_source {
                return Err(Cap::PerSource);
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(Slot {
            caps: Arc::clone(inner),
            source,
        })
    }
}

/// The TCP peer of a connection's socket, as `HttpServer::on_connect` passes it.
pub(super) fn peer_ip(io: &dyn Any) -> Option<IpAddr> {
    io.downcast_ref::<actix_web::rt::net::TcpStream>()
        .and_then(|stream| stream.peer_addr().ok())
        .map(|addr| addr.ip().to_canonical())
}

/// An IPv6 peer counts as its /64 (one subscriber's prefix), an IPv4 peer as itself.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Admitted connections plus a quarter more (at least 16) for refused ones awaiting 503.
fn backstop_total(max_total: usize) -> usize {
    max_total.saturating_add((max_total / 4).max(16))
}

/// Answers every request on a refused connection with 503, `Retry-After` and
/// `Connection: close`, before anything else runs.
pub async fn shed(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(Refused(cap)) = req.conn_data::<Refused>() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    tracing::debug!(?cap, "answering 503: the connection is over its cap");
    let mut response = super::error_for(req.request(), AppError::Overloaded);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(req.into_response(response).map_into_right_body())
}

/// The overall cap that fits the open-file limit `soft_limit` beside the database pool and
/// [`RESERVED_FILES`], or `max_connections` when it fits; never below 1.
pub fn fit_to_open_files(max_connections: usize, database_pool: u32, soft_limit: u64) -> usize {
    let others = RESERVED_FILES + u64::from(database_pool) * FILES_PER_DATABASE_CONNECTION;
    let available = soft_limit.saturating_sub(others);
    if backstop_total(max_connections) as u64 <= available {
        return max_connections;
    }
    // The largest cap whose backstop fits: the backstop adds a quarter (at least 16).
    let fitted = (available * 4 / 5).min(available.saturating_sub(16));
    usize::try_from(fitted).unwrap_or(usize::MAX).max(1)
}

/// The current soft limit on open files, or `None` where it cannot be read (or is
/// unlimited).
pub fn open_file_limit() -> Option<u64> {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    (soft != rlimit::INFINITY).then_some(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max_total: usize, per_source: usize, trusted: &[&str]) -> ConnectionCaps {
        ConnectionCaps {
            inner: Arc::new(Inner {
                max_total,
                max_per_source: per_source,
                trusted: trusted.iter().map(|t| t.parse().unwrap()).collect(),
                counts: Mutex::new(Counts::default()),
                refused: AtomicU64::new(0),
            }),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_source_is_capped_and_gets_its_slots_back_when_connections_close() {
        let caps = caps(10, 2, &[]);
        let a = caps.admit(ip("192.0.2.1")).unwrap();
        let _b = caps.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(caps.admit(ip("192.0.2.1")).err(), Some(Cap::PerSource));
        assert!(caps.admit(ip("192.0.2.2")).is_ok());
        drop(a);
        assert!(caps.admit(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn ipv6_peers_count_per_64_and_mapped_ipv4_as_ipv4() {
        let caps = caps(10, 1, &[]);
        let _a = caps.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            caps.admit(ip("2001:db8:1:2:ffff::9")).err(),
            Some(Cap::PerSource)
        );
        assert!(caps.admit(ip("2001:db8:1:3::1")).is_ok());
        let _v4 = caps
            .admit(Some(ip("::ffff:192.0.2.7").unwrap().to_canonical()))
            .unwrap();
        assert_eq!(caps.admit(ip("192.0.2.7")).err(), Some(Cap::PerSource));
    }

    #[test]
    fn trusted_proxies_count_only_toward_the_overall_cap() {
        let caps = caps(3, 1, &["10.0.0.0/8"]);
        let held: Vec<Slot> = (0..3)
            .map(|_| caps.admit(ip("10.1.2.3")).unwrap())
            .collect();
        assert_eq!(caps.admit(ip("10.1.2.3")).err(), Some(Cap::Overall));
        assert_eq!(caps.admit(ip("192.0.2.1")).err(), Some(Cap::Overall));
        drop(held);
        assert_eq!(caps.inner.lock().total, 0);
    }

    #[test]
    fn the_overall_cap_is_lowered_to_fit_the_open_file_limit() {
        assert_eq!(fit_to_open_files(4096, 8, 1_048_576), 4096);
        let fitted = fit_to_open_files(4096, 8, 1024);
        assert!(backstop_total(fitted) as u64 + 64 + 24 <= 1024, "{fitted}");
        assert!(fitted > 700, "{fitted}");
        assert_eq!(fit_to_open_files(4096, 8, 10), 1);
    }
}
