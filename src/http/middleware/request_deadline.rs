//! One deadline for a whole request (`server.request_timeout_secs`), so that a client
//! dripping its request cannot hold a connection (and an open file) for ever.
//!
//! Invariants:
//! - The head of a connection's first request is bounded by actix's
//!   `client_request_timeout`, set to the same value and counted from the connection's start;
//!   actix answers 408 itself and closes.
//! - actix bounds no later head on a kept-alive connection (its head timer covers only the
//!   first request), so only connections from `server.trusted_proxies` are kept alive: every
//!   other connection carries one request and closes after its response. A trusted proxy
//!   reads slow clients itself and reuses its connections to us.
//! - The body is read through [`DeadlinePayload`], which fails once the deadline passes:
//!   for a connection's first request the deadline counts from the connection's start (so
//!   head and body share one budget), for a later request on a proxy's kept-alive
//!   connection from the moment its head was read. Whatever the handler answered then
//!   becomes 408 with `Connection: close` (an HTML page or a problem document, see
//!   [`AppError::negotiated_response`](super::super::error::AppError::negotiated_response)).
//! - Time spent after the body has arrived (the handler's own work) is not bounded here.
//! - A response to a request whose body was not read to its end closes the connection:
//!   otherwise actix would keep draining a chunked body that may never end.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, ResponseError};
use futures_core::Stream;
use ipnet::IpNet;
use tokio::time::{Instant, Sleep};

use super::super::client_addr::is_trusted;
use super::super::error::ApiError;
use super::super::{AppError, AppState};

/// What the deadline needs to know about a connection.
struct ConnectionStart {
    /// When the connection started, until its first request takes it.
    started: Cell<Option<Instant>>,
    /// Whether it may carry further requests (its peer is a trusted proxy).
    reusable: bool,
}

/// Records the connection's start and whether its peer is a trusted proxy; called from
/// `HttpServer::on_connect` with the connection's socket.
pub fn on_connect(io: &dyn Any, extensions: &mut Extensions, trusted_proxies: &[IpNet]) {
    let reusable =
        super::connection_caps::peer_ip(io).is_some_and(|ip| is_trusted(ip, trusted_proxies));
    extensions.insert(ConnectionStart {
        started: Cell::new(Some(Instant::now())),
        reusable,
    });
}

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
        // Polled first so that its timer wakes this task even while the client is silent.
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.outcome.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "request deadline passed",
            )))));
        }
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(None) = polled {
            this.outcome.finished.set(true);
        }
        polled
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
/// 408 with `Connection: close`.
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_secs(s.settings.server.request_timeout_secs));
    let connection = req.conn_data::<ConnectionStart>();
    let reusable = connection.is_some_and(|c| c.reusable);
    let started = connection
        .and_then(|c| c.started.take())
        .unwrap_or_else(Instant::now);
    let payload = req.take_payload();
    let (Some(timeout), false) = (timeout, matches!(payload, Payload::None)) else {
        req.set_payload(payload);
        let mut response = next.call(req).await?;
        if !reusable {
            close_after(response.response_mut());
        }
        return Ok(response.map_into_left_body());
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
    if outcome.expired.get() {
        tracing::info!(
            timeout_secs = timeout.as_secs(),
            "request not received within the deadline; closing the connection"
        );
        let timed_out = || {
            if html {
                AppError::RequestTimeout.error_response()
            } else {
                ApiError(AppError::RequestTimeout).error_response()
            }
        };
        return match result {
            Ok(handled) => {
                let (request, _) = handled.into_parts();
                let response = ServiceResponse::new(request, timed_out());
                Ok(closing(response, outcome.unread.take()).map_into_right_body())
            }
            // A body not read to its end: actix closes the connection after this error.
            Err(_) if html => Err(AppError::RequestTimeout.into()),
            Err(_) => Err(ApiError(AppError::RequestTimeout).into()),
        };
    }
    let mut response = result?;
    match outcome.unread.take() {
        None => {
            if !reusable {
                close_after(response.response_mut());
            }
            Ok(response.map_into_left_body())
        }
        unread => Ok(closing(response, unread).map_into_right_body()),
    }
}

fn close_after<B>(response: &mut actix_web::HttpResponse<B>) {
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
