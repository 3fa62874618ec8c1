//! Caps on open client connections (`server.max_connections` overall,
//! `server.max_connections_per_ip` per TCP peer), so that slow or idle connections from a
//! few sources cannot take every open file and stop the service for everyone.
//!
//! Invariants:
//! - Each connection is admitted or refused once, when it is accepted
//!   ([`ConnectionCaps::on_connect`]). An admitted connection holds a `Slot` in its
//!   connection data and gives it back when the connection closes (on drop), so the counts
//!   are exactly the open admitted connections.
//! - A refused connection is answered and closed right there, before actix reads anything
//!   from it: a fixed 503 (`REFUSAL`) is written to the fresh socket without blocking and
//!   the socket is shut down both ways, so actix reads end-of-stream and drops it at once.
//!   It never holds a slot, a timer or a worker for longer than that, whatever the client
//!   sends (an idle socket, `Expect: 100-continue`, a chunked body that never ends). Only
//!   when that write fails does a request on it reach [`shed`], which answers 503 before
//!   any handler runs.
//! - actix's own per-worker `max_connections` ([`ConnectionCaps::per_worker_backstop`])
//!   bounds admitted and refused connections together: beyond it the kernel keeps new
//!   connections waiting in the listen queue, where they cost no open file of ours.
//! - The per-address count uses the TCP peer, never forwarded headers (which are read per
//!   request, after the connection was accepted); an IPv6 peer counts as its /64. Peers in
//!   `server.trusted_proxies` count only toward the overall cap: behind a proxy every
//!   connection comes from it.
//! - Refusals are logged at most once per `LOG_EVERY`, with counts.

use std::any::Any;
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv6Addr, Shutdown};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use ipnet::IpNet;

use super::super::client_addr::is_trusted;
use super::super::AppError;
use crate::config::Settings;

/// The whole answer to a refused connection, written before its request is read (so it
/// cannot be negotiated): plain text, with the headers the security middleware would add
/// to a response without HTML, and the `Retry-After` of every 503 (`RETRY_AFTER_SECS`).
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Retry-After: 5\r\n\
Connection: close\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 50\r\n\
X-Content-Type-Options: nosniff\r\n\
Cache-Control: no-store\r\n\
\r\n\
Too many connections. Try again in a few seconds.\n";

/// Open files kept free for everything but client connections: the listener, log output,
/// the runtime's own descriptors, files read at run time.
const RESERVED_FILES: u64 = 64;

/// Open files kept free per worker (its event loop's own descriptors).
const RESERVED_FILES_PER_WORKER: u64 = 4;

/// Open files one pooled database connection may hold (SQLite: database, WAL, shared memory).
const FILES_PER_DATABASE_CONNECTION: u64 = 3;

/// Refusals are logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Refusals of one peer for its per-address cap between two log lines from which it is
/// named as a possible unlisted proxy.
const UNLISTED_PROXY_HINT: u64 = 10;

/// Peers remembered per log interval for that hint (bounds the memory a flood can take).
const MAX_PEERS_PER_INTERVAL: usize = 1024;

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
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
    refusals: Refusals,
}

/// Refusals since the last log line about them.
#[derive(Default)]
struct Refusals {
    last_logged: Option<Instant>,
    overall: u64,
    per_source: u64,
    by_source: HashMap<IpAddr, u64>,
}

/// What one log line about refusals says.
struct RefusalReport {
    overall: u64,
    per_source: u64,
    since_secs: Option<u64>,
    busiest: Option<(IpAddr, u64)>,
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

impl Refusals {
    /// Counts a refusal; returns what to log when the last line is old enough.
    fn note(&mut self, cap: Cap, source: Option<IpAddr>, now: Instant) -> Option<RefusalReport> {
        match cap {
            Cap::Overall => self.overall += 1,
            Cap::PerSource => {
                self.per_source += 1;
                if let Some(source) = source {
                    if self.by_source.len() < MAX_PEERS_PER_INTERVAL
                        || self.by_source.contains_key(&source)
                    {
                        *self.by_source.entry(source).or_default() += 1;
                    }
                }
            }
        }
        if self
            .last_logged
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            return None;
        }
        let report = RefusalReport {
            overall: self.overall,
            per_source: self.per_source,
            since_secs: self
                .last_logged
                .map(|last| now.duration_since(last).as_secs()),
            busiest: self
                .by_source
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(ip, n)| (*ip, *n)),
        };
        *self = Refusals {
            last_logged: Some(now),
            ..Refusals::default()
        };
        Some(report)
    }
}

impl RefusalReport {
    fn log(&self) {
        tracing::warn!(
            refused_over_max_connections = self.overall,
            refused_over_max_connections_per_ip = self.per_source,
            since_last_report_secs = self.since_secs,
            "connections refused at accept with 503 (server.max_connections, \
             server.max_connections_per_ip)"
        );
        if let Some((peer, refused)) = self.busiest.filter(|(_, n)| *n >= UNLISTED_PROXY_HINT) {
            tracing::warn!(
                %peer,
                refused,
                "one peer keeps hitting server.max_connections_per_ip; is this an unlisted \
                 proxy? A reverse proxy missing from server.trusted_proxies is one peer, so \
                 it caps the whole site at server.max_connections_per_ip"
            );
        }
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
            }),
        }
    }

    /// actix's per-worker connection limit: the overall cap plus room for refused
    /// connections to get their 503, spread over the workers.
    pub fn per_worker_backstop(&self, workers: usize) -> usize {
        backstop_total(self.inner.max_total).div_ceil(workers.max(1))
    }

    /// Admits a new connection or answers and closes it; called from
    /// `HttpServer::on_connect` with the connection's socket.
    pub fn on_connect(&self, io: &dyn Any, extensions: &mut Extensions) {
        let peer = peer_ip(io);
        match self.admit(peer) {
            Ok(slot) => {
                extensions.insert(slot);
            }
            Err(cap) => {
                let source = peer.map(source_of);
                let report = self.inner.lock().refusals.note(cap, source, Instant::now());
                if let Some(report) = report {
                    report.log();
                }
                if !refuse_at_once(io) {
                    tracing::debug!(
                        ?cap,
                        "could not answer a refused connection at accept; its request gets 503 instead"
                    );
                }
                // Also after an answer at accept: a request that still got through is
                // answered by `shed`, never by a handler.
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

/// Writes [`REFUSAL`] to a just-accepted socket without blocking, then shuts it down both
/// ways; false when nothing could be written (the socket is left to [`shed`]).
fn refuse_at_once(io: &dyn Any) -> bool {
    let Some(stream) = io.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return false;
    };
    let socket = socket2::SockRef::from(stream);
    match socket.send(REFUSAL) {
        // A fresh socket's send buffer holds far more; a short write cannot be completed
        // without waiting, and the connection ends either way.
        Ok(n) if n > 0 => {}
        Ok(_) => return false,
        Err(e) => {
            tracing::debug!(error = %e, "cannot write the refusal");
            return false;
        }
    }
    // Closing a socket with unread input resets it, and a reset can make the client drop
    // our answer unread: read what has already arrived (a head sent with the connection).
    let mut scratch = [MaybeUninit::<u8>::uninit(); 4096];
    for _ in 0..16 {
        match socket.recv(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    if let Err(e) = socket.shutdown(Shutdown::Both) {
        tracing::debug!(error = %e, "cannot shut down a refused connection");
    }
    true
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

/// Answers a request on a refused connection that could not be answered at accept (or
/// whose request arrived anyway) with 503, `Retry-After` and `Connection: close`, before
/// any handler runs. It sits inside the request deadline, which closes the connection
/// without draining an unread body, and inside the security headers and access log.
pub async fn shed(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(Refused(cap)) = req.conn_data::<Refused>() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    tracing::debug!(?cap, "answering 503: the connection is over its cap");
    // `Overloaded` carries the Retry-After of every 503.
    let mut response = super::error_for(req.request(), AppError::Overloaded);
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(req.into_response(response).map_into_right_body())
}

/// How `server.max_connections` fits the open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFileFit {
    /// As configured.
    Fits,
    /// Lowered to this, the largest cap that fits.
    Lowered(usize),
    /// Not even one connection fits; the cap is 1 anyway and the server may run out of
    /// open files. `needed` is the limit one connection would need.
    TooLow { needed: u64 },
}

impl OpenFileFit {
    /// The overall cap to use.
    pub fn max_connections(self, configured: usize) -> usize {
        match self {
            OpenFileFit::Fits => configured,
            OpenFileFit::Lowered(n) => n,
            OpenFileFit::TooLow { .. } => 1,
        }
    }
}

/// How `max_connections` fits the open-file limit `soft_limit` beside the database pool and
/// the reserve (`RESERVED_FILES` and `RESERVED_FILES_PER_WORKER` per worker). What the
/// connections may take is what actix lets the workers accept: each worker up to
/// [`ConnectionCaps::per_worker_backstop`].
pub fn fit_to_open_files(
    max_connections: usize,
    workers: usize,
    database_pool: u32,
    soft_limit: u64,
) -> OpenFileFit {
    let workers = workers.max(1);
    let others = RESERVED_FILES
        + RESERVED_FILES_PER_WORKER * workers as u64
        + u64::from(database_pool) * FILES_PER_DATABASE_CONNECTION;
    let connection_files =
        |cap: usize| (workers as u64).saturating_mul(backstop_total(cap).div_ceil(workers) as u64);
    let fits = |cap: usize| connection_files(cap) <= soft_limit.saturating_sub(others);
    if fits(max_connections) {
        return OpenFileFit::Fits;
    }
    if !fits(1) {
        return OpenFileFit::TooLow {
            needed: others + connection_files(1),
        };
    }
    // The largest fitting cap: `fits` holds for `low` and not for `high`, and is monotonic.
    let (mut low, mut high) = (1, max_connections);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if fits(mid) {
            low = mid;
        } else {
            high = mid;
        }
    }
    OpenFileFit::Lowered(low)
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
    fn the_overall_cap_is_lowered_to_the_largest_that_fits_the_open_file_limit() {
        assert_eq!(fit_to_open_files(4096, 2, 8, 1_048_576), OpenFileFit::Fits);
        // 1024 - 64 - 2 * 4 - 8 * 3 = 928 files for connections: a cap of 743 has a
        // backstop of 743 + 185 = 928 (464 per worker); 744 would need 744 + 186 = 930.
        let fit = fit_to_open_files(4096, 2, 8, 1024);
        assert_eq!(fit, OpenFileFit::Lowered(743));
        let cap = fit.max_connections(4096);
        assert!(2 * backstop_total(cap).div_ceil(2) as u64 + 64 + 8 + 24 <= 1024);
        assert!(2 * backstop_total(cap + 1).div_ceil(2) as u64 + 64 + 8 + 24 > 1024);
        // Workers round the backstop up: 3 workers share 17 as 3 * 6 = 18.
        assert_eq!(
            fit_to_open_files(4096, 3, 1, 64 + 12 + 3 + 17),
            OpenFileFit::TooLow {
                needed: 64 + 12 + 3 + 18
            }
        );
        assert_eq!(fit_to_open_files(4096, 1, 8, 10).max_connections(4096), 1);
    }

    #[test]
    fn refusals_are_reported_at_most_every_ten_seconds_with_counts() {
        let mut refusals = Refusals::default();
        let start = Instant::now();
        let peer = ip("192.0.2.1");
        let first = refusals.note(Cap::PerSource, peer, start).unwrap();
        assert_eq!(
            (first.overall, first.per_source, first.since_secs),
            (0, 1, None)
        );
        for i in 1..=20 {
            let at = start + Duration::from_millis(i * 100);
            assert!(refusals.note(Cap::PerSource, peer, at).is_none());
        }
        assert!(refusals
            .note(
                Cap::Overall,
                ip("192.0.2.2"),
                start + Duration::from_secs(9)
            )
            .is_none());
        let next = refusals
            .note(Cap::PerSource, peer, start + Duration::from_secs(10))
            .unwrap();
        assert_eq!((next.overall, next.per_source), (1, 21));
        assert_eq!(next.since_secs, Some(10));
        assert_eq!(next.busiest, Some((peer.unwrap(), 21)));
        assert!(refusals
            .note(Cap::PerSource, peer, start + Duration::from_secs(11))
            .is_none());
    }

    #[test]
    fn the_refusal_is_a_complete_response_with_its_content_length() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
        assert!(head.contains(&format!(
            "\r\nRetry-After: {}",
            crate::http::error::RETRY_AFTER_SECS
        )));
    }
}
