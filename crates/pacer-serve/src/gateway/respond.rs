//! The reply to the client: whole or streamed, recorded once it has been sent.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use pacer_core::Usage;
use pacer_engine::Reservation;
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::translate::UsageScanner;

use super::{Done, Gateway, Route};

/// What goes back to the client.
pub(super) enum Reply {
    /// A whole body.
    Whole {
        body: Bytes,
        content_type: &'static str,
    },
    /// An upstream stream, passed through, and the budgets' holds on it (the gateway's and
    /// the key's), settled when its usage comes.
    Events {
        events: hyper::Response<hyper::body::Incoming>,
        held: Vec<Reservation>,
    },
}

/// Sent when a stream broke off before its end.
const STREAM_INCOMPLETE: &str = "StreamIncomplete";

/// The reply to the client, recorded when it has been sent (at once for a whole reply, at
/// the stream's end for a stream).
pub(super) fn reply_to_client(
    gateway: &Arc<Gateway>,
    route: &Arc<Route>,
    reply: Reply,
    slot: OwnedSemaphorePermit,
    started: Instant,
    mut done: Done,
) -> Response {
    done.status = 200;
    match reply {
        Reply::Whole { body, content_type } => {
            if gateway.log_bodies {
                done.reply = Some(serde_json::from_slice(&body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&body).into_owned())
                }));
            }
            gateway.record(started, &done);
            drop(slot);
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Reply::Events { events, held } => {
            let relay = Relay {
                body: events.into_body(),
                scanner: UsageScanner::default(),
                guard: StreamGuard {
                    gateway: gateway.clone(),
                    route: route.clone(),
                    started,
                    done,
                    billed: None,
                    held,
                    ended: false,
                    _slot: slot,
                },
                finished: false,
            };
            let stream = futures_util::stream::unfold(relay, |mut relay| async move {
                if relay.finished {
                    return None;
                }
                loop {
                    match relay.body.frame().await {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                relay.scanner.feed(&data);
                                if let Some(usage) = relay.scanner.usage {
                                    relay.guard.done.usage = usage;
                                    relay.guard.billed = Some(usage);
                                }
                                relay.guard.ended = relay.scanner.done;
                                return Some((Ok::<Bytes, std::io::Error>(data), relay));
                            }
                        }
                        Some(Err(e)) => {
                            relay.finished = true;
                            relay.guard.done.error_kind =
                                Some(pacer_core::ErrorKind::Connection.as_str());
                            return Some((Err(std::io::Error::other(e)), relay));
                        }
                        None => {
                            relay.guard.end();
                            return None;
                        }
                    }
                }
            });
            let mut response = Response::new(Body::from_stream(stream));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    }
}

pub(super) struct Relay {
    body: hyper::body::Incoming,
    scanner: UsageScanner,
    guard: StreamGuard,
    finished: bool,
}

/// Records a streamed request when its stream is dropped: at its end, or when the client
/// went away or the upstream broke off; its usage, known only now, goes to the budget.
pub(super) struct StreamGuard {
    gateway: Arc<Gateway>,
    route: Arc<Route>,
    started: Instant,
    done: Done,
    /// The stream's usage, from its last chunk.
    billed: Option<Usage>,
    /// The budgets' holds on the stream's worst case, settled when it ends.
    held: Vec<Reservation>,
    ended: bool,
    _slot: OwnedSemaphorePermit,
}

impl StreamGuard {
    pub(super) fn end(&mut self) {
        self.ended = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.ended && self.done.error_kind.is_none() {
            self.done.error_kind = Some(STREAM_INCOMPLETE);
        }
        for held in std::mem::take(&mut self.held) {
            match self.billed {
                Some(usage) => held.settle(&usage, self.route.spec.price.as_ref()),
                // The usage never came (the client left, or the upstream broke off): billed
                // as the worst case held, since the upstream bills what it generated all the
                // same.
                None => held.settle_worst_case(),
            }
        }
        if let Some(usage) = self.billed {
            self.route.lane.count_late(&usage);
        }
        self.gateway.record(self.started, &self.done);
    }
}
