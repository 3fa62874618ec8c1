//! One deadline for a whole request (`server.request_timeout_secs`), so that a client
//! dripping its request cannot hold a connection (and an open file) for ever.
//!
//! Invariants:
//! - The head of a connection's first request is bounded by actix's
//!   `client_request_timeout` ([`head_timeout`]: the request timeout, at most 10 s), counted
//!   from the connection's start; actix answers 408 itself and closes.
//! - actix bounds no later head on a kept-alive connection (its head timer covers only the
//!   first request), so only connections from `server.trusted_proxies` are kept alive: every
//!   other connection carries one request and closes after its response. A request that
//!   such a client pipelined behind its first one (actix would serve it) is answered 400
//!   with `Connection: close` without running any handler.
//! - The body is read through `DeadlinePayload`, which fails once the deadline passes:
//!   for a connection's first request the deadline counts from the connection's start (so
//!   head and body share one budget), for a later request on a proxy's kept-alive
//!   connection from the moment its head was read. Data that already arrived is handed
//!   over before the deadline is looked at. Whatever the handler answered then
//!   becomes 408 with `Connection: close` (an HTML page or a problem document, see
//!   [`AppError::negotiated_response`](super::super::error::AppError::negotiated_response)).
//! - Time spent after the body has arrived (the handler's own work) is not bounded here.
//! - A response to a request whose body was not read to its end closes the connection:
//!   otherwise actix would keep draining a chunked body that may never end.
//! - Every accepted socket gets `TCP_USER_TIMEOUT` (request timeout plus
//!   [`USER_TIMEOUT_MARGIN`]): a peer that stops acknowledging our data (or keeps a zero
//!   window) is dropped by the kernel instead of holding the response for ever.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_core::Stream;
use ipnet::IpNet;
use tokio::time::{Instant, Sleep};

use super::super::client_addr::is_trusted;
use super::super::error::ApiError;
use super::super::{AppError, AppState};

/// The longest actix waits for the head of a connection's first request. Shorter than the
/// request timeout may be: a legitimate head is a few hundred bytes, sent at once.
const MAX_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Added to the request timeout for `TCP_USER_TIMEOUT`: time for the response to be sent
/// and acknowledged once the request is in.
pub const USER_TIMEOUT_MARGIN: Duration = Duration::from_secs(30);

/// actix's `client_request_timeout`: the request timeout, at most `MAX_HEAD_TIMEOUT`.
pub fn head_timeout(request_timeout: Duration) -> Duration {
    request_timeout.min(MAX_HEAD_TIMEOUT)
}

/// What the deadline needs to know about a connection.
struct ConnectionStart {
    /// When the connection was accepted.
    started: Instant,
    /// Whether a request on it has already been taken up.
    served: Cell<bool>,
    /// Whether it may carry further requests (its peer is a trusted proxy).
    reusable: bool,
}

/// Records the connection's start and whether its peer is a trusted proxy, and sets
/// `TCP_USER_TIMEOUT`; called from `HttpServer::on_connect` with the connection's socket.
pub fn on_connect(
    io: &dyn Any,
    extensions: &mut Extensions,
    trusted_proxies: &[IpNet],
    request_timeout: Duration,
) {
    if let Some(stream) = io.downcast_ref::<actix_web::rt::net::TcpStream>() {
        set_user_timeout(stream, request_timeout + USER_TIMEOUT_MARGIN);
    }
    let reusable =
        super::connection_caps::peer_ip(io).is_some_and(|ip| is_trusted(ip, trusted_proxies));
    extensions.insert(ConnectionStart {
        started: Instant::now(),
        served: Cell::new(false),
        reusable,
    });
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_user_timeout(stream: &actix_web::rt::net::TcpStream, timeout: Duration) {
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(timeout)) {
        tracing::debug!(error = %e, "cannot set TCP_USER_TIMEOUT");
    }
}

/// Elsewhere the kernel's own retransmission limits apply.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_user_timeout(_: &actix_web::rt::net::TcpStream, _: Duration) {}

/// What the payload saw, shared with the middleware that wrapped it.
#[derive(Default)]
struct Outcome {
    expired: Cell<bool>,
    finished: Cell<bool>,
    /// The body, when the request was done with before reading it to its end.
    unread: Cell<Option<Payload>>,
}

/// The request body, failing with a timeout once the deadline passes.
struct DeadlinePayload {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    outcome: Rc<Outcome>,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.outcome.finished.get() {
            return Poll::Ready(None);
        }
        // What has arrived is handed over even just after the deadline: only waiting for
        // more is cut. Polling the timer when the body is pending also makes it wake this
        // task while the client is silent.
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => {}
            Poll::Ready(None) => {
                this.outcome.finished.set(true);
                return Poll::Ready(None);
            }
            ready => return ready,
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.outcome.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "request deadline passed",
            )))));
        }
        Poll::Pending
    }
}

impl Drop for DeadlinePayload {
    fn drop(&mut self) {
        if !self.outcome.finished.get() {
            let inner = std::mem::replace(&mut self.inner, Payload::None);
            self.outcome.unread.set(Some(inner));
        }
    }
}

/// Wraps the body in the deadline and turns the response of a request that missed it into
/// 408 with `Connection: close`; refuses requests pipelined behind a client's first one.
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_secs(s.settings.server.request_timeout_secs));
    let (reusable, first, connection_started) = match req.conn_data::<ConnectionStart>() {
        Some(c) => (c.reusable, !c.served.replace(true), Some(c.started)),
        None => (false, true, None),
    };
    if !first && !reusable {
        tracing::debug!("refusing a request pipelined behind the connection's first one");
        let unread = Some(req.take_payload());
        let response = super::error_for(
            req.request(),
            AppError::BadRequest("Send one request per connection.".into()),
        );
        return Ok(closing(req.into_response(response), unread));
    }
    // A connection's first request shares its budget with the connection's start (the
    // head timer counts from there too); a proxy's later request starts with its head.
    let started = match (first, connection_started) {
        (true, Some(started)) => started,
        _ => Instant::now(),
    };
    let payload = req.take_payload();
    let (Some(timeout), false) = (timeout, matches!(payload, Payload::None)) else {
        req.set_payload(payload);
        let mut response = next.call(req).await?;
        if !reusable {
            close_after(response.response_mut());
        }
        return Ok(response.map_into_boxed_body());
    };
    let outcome = Rc::new(Outcome::default());
    let wrapped = DeadlinePayload {
        inner: payload,
        deadline: Box::pin(tokio::time::sleep_until(started + timeout)),
        outcome: Rc::clone(&outcome),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(wrapped),
    });
    // Decided now: the request cannot be cloned before routing has run.
    let html = super::super::error::wants_html(req.request());
    let result = next.call(req).await;
    let expired = outcome.expired.get();
    if expired {
        // Not a warning: any client on a bad network can cause it. Refusals of whole
        // connections are what the operator is told about.
        tracing::debug!(
            timeout_secs = timeout.as_secs(),
            "request not received within the deadline; closing the connection"
        );
    }
    let timed_out = || {
        if html {
            AppError::RequestTimeout.error_response()
        } else {
            ApiError(AppError::RequestTimeout).error_response()
        }
    };
    match result {
        Ok(handled) if expired => {
            let (request, _) = handled.into_parts();
            let response = ServiceResponse::new(request, timed_out());
            Ok(closing(response, outcome.unread.take()))
        }
        Ok(mut response) => match outcome.unread.take() {
            None => {
                if !reusable {
                    close_after(response.response_mut());
                }
                Ok(response.map_into_boxed_body())
            }
            unread => Ok(closing(response, unread)),
        },
        // No layer inside returns an error (handlers' errors arrive as responses), and
        // without the request no response can be built here; should one appear, its
        // response still closes the connection and holds the unread body while sent.
        Err(e) => {
            let response = if expired {
                timed_out()
            } else {
                e.error_response()
            };
            Err(ClosingError {
                status: response.status(),
                response: Cell::new(Some(response)),
                unread: Cell::new(outcome.unread.take()),
            }
            .into())
        }
    }
}

fn close_after<B>(response: &mut HttpResponse<B>) {
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
}

/// `response` with `Connection: close`, holding the unread body until it has been sent:
/// actix drains a dropped chunked body instead of closing, for as long as the client keeps
/// sending, but closes when the body's reader is still alive.
fn closing(
    mut response: ServiceResponse<impl MessageBody + 'static>,
    unread: Option<Payload>,
) -> ServiceResponse<BoxBody> {
    close_after(response.response_mut());
    response.map_body(|_, body| {
        HoldingUnread {
            body: body.boxed(),
            _unread: unread,
        }
        .boxed()
    })
}

/// An error from inside, already turned into its response, sent like [`closing`] does.
struct ClosingError {
    status: StatusCode,
    response: Cell<Option<HttpResponse>>,
    unread: Cell<Option<Payload>>,
}

impl fmt::Debug for ClosingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClosingError")
    }
}

impl fmt::Display for ClosingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request failed; closing the connection")
    }
}

impl ResponseError for ClosingError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let Some(mut response) = self.response.take() else {
            let mut response = HttpResponse::InternalServerError().finish();
            close_after(&mut response);
            return response;
        };
        close_after(&mut response);
        let unread = self.unread.take();
        response.map_body(|_, body| {
            HoldingUnread {
                body,
                _unread: unread,
            }
            .boxed()
        })
    }
}

/// A response body that keeps the request's unread body alive while it is written.
struct HoldingUnread {
    body: BoxBody,
    _unread: Option<Payload>,
}

impl MessageBody for HoldingUnread {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that sends nothing more.
    struct Silent;

    impl Stream for Silent {
        type Item = Result<Bytes, PayloadError>;

        fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_body_that_arrived_before_the_deadline_is_read_even_when_polled_after_it() {
        let outcome = Rc::new(Outcome::default());
        let mut payload = DeadlinePayload {
            inner: Payload::from(Bytes::from_static(b"grant_type=x")),
            deadline: Box::pin(tokio::time::sleep_until(
                Instant::now() - Duration::from_secs(1),
            )),
            outcome: Rc::clone(&outcome),
        };
        let chunk = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx))
            .await
            .expect("a chunk")
            .expect("no timeout");
        assert_eq!(&chunk[..], b"grant_type=x");
        let end = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await;
        assert!(end.is_none());
        assert!(!outcome.expired.get());
        assert!(outcome.finished.get());
    }

    #[tokio::test]
    async fn a_body_still_missing_at_the_deadline_fails_with_a_timeout() {
        let outcome = Rc::new(Outcome::default());
        let mut payload = DeadlinePayload {
            inner: Payload::Stream {
                payload: Box::pin(Silent),
            },
            deadline: Box::pin(tokio::time::sleep_until(
                Instant::now() + Duration::from_millis(50),
            )),
            outcome: Rc::clone(&outcome),
        };
        let polled = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await;
        assert!(
            matches!(polled, Some(Err(PayloadError::Io(e))) if e.kind() == io::ErrorKind::TimedOut)
        );
        assert!(outcome.expired.get());
    }

    #[tokio::test]
    async fn accepted_sockets_get_a_tcp_user_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let mut extensions = Extensions::new();
        on_connect(&accepted, &mut extensions, &[], Duration::from_secs(30));
        assert_eq!(
            socket2::SockRef::from(&accepted)
                .tcp_user_timeout()
                .unwrap(),
            Some(Duration::from_secs(60))
        );
        assert!(extensions.get::<ConnectionStart>().is_some());
    }
}
