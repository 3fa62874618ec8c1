//! One deadline for a whole request (`server.request_timeout_secs`), so that a client
//! dripping its request cannot hold a connection (and an open file) for ever.
//!
//! Invariants:
//! - The head of a connection's first request is bounded by actix's
//!   `client_request_timeout`, set to the same value and counted from the connection's start;
//!   actix answers 408 itself and closes.
//! - The body is read through [`DeadlinePayload`], which fails once the deadline passes:
//!   for a connection's first request the deadline counts from the connection's start (so
//!   head and body share one budget), for a later request on a kept-alive connection from
//!   the moment its head was read. Whatever the handler answered then becomes 408 with
//!   `Connection: close` (an HTML page or a problem document, see [`super::error_for`]).
//! - Time spent after the body has arrived (the handler's own work) is not bounded here.
//! - A response to a request whose body was not read to its end closes the connection:
//!   otherwise actix would keep draining a chunked body that may never end.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use actix_web::web::{self, Bytes};
use futures_core::Stream;
use tokio::time::{Instant, Sleep};

use super::super::{AppError, AppState};

/// When a connection started, until its first request takes it.
struct ConnectionStart(Cell<Option<Instant>>);

/// Records the connection's start; called from `HttpServer::on_connect`.
pub fn on_connect(extensions: &mut Extensions) {
    extensions.insert(ConnectionStart(Cell::new(Some(Instant::now()))));
}

/// What the payload saw, shared with the middleware that wrapped it.
#[derive(Default)]
struct Outcome {
    expired: Cell<bool>,
    finished: Cell<bool>,
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

/// Wraps the body in the deadline and turns the response of a request that missed it into
/// 408 with `Connection: close`.
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_secs(s.settings.server.request_timeout_secs));
    let payload = req.take_payload();
    let (Some(timeout), false) = (timeout, matches!(payload, Payload::None)) else {
        req.set_payload(payload);
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let started = req
        .conn_data::<ConnectionStart>()
        .and_then(|start| start.0.take())
        .unwrap_or_else(Instant::now);
    let outcome = Rc::new(Outcome::default());
    let wrapped = DeadlinePayload {
        inner: payload,
        deadline: Box::pin(tokio::time::sleep_until(started + timeout)),
        outcome: Rc::clone(&outcome),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(wrapped),
    });
    let request = req.request().clone();
    let result = next.call(req).await;
    if outcome.expired.get() {
        tracing::info!(
            timeout_secs = timeout.as_secs(),
            "request body not received within the deadline; closing the connection"
        );
        let mut response = super::error_for(&request, AppError::RequestTimeout);
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Ok(ServiceResponse::new(request, response).map_into_right_body());
    }
    let mut response = result?;
    if !outcome.finished.get() {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response.map_into_left_body())
}
