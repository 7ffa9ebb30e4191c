//! The reply to the client: whole or streamed, recorded once it has been sent.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use pacer_core::{Delta, Deltas, Usage};
use pacer_engine::Reservation;
use pacer_limit::{Cost, Permit};
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::translate::UsageScanner;

use super::render::Render;
use super::{Done, Gateway, Route};

/// What goes back to the client.
pub(super) enum Reply {
    /// A whole body.
    Whole {
        body: Bytes,
        content_type: &'static str,
    },
    /// A stream, and the budgets' holds on it (the gateway's and the key's), settled when
    /// its usage comes.
    Events {
        events: Events,
        held: Vec<Reservation>,
        key_permit: Option<Box<Permit>>,
    },
    /// None: a forwarded call that succeeded left no reply (never sent to a client).
    Lost,
}

/// Sent when a stream broke off before its end.
const STREAM_INCOMPLETE: &str = "StreamIncomplete";

/// The reply to the client, recorded when it has been sent (at once for a whole reply, at
/// the stream's end for a stream).
pub(super) fn reply_to_client(
    gateway: &Arc<Gateway>,
    route: &Arc<Route>,
    dep: usize,
    reply: Reply,
    slot: OwnedSemaphorePermit,
    started: Instant,
    mut done: Done,
) -> Response {
    done.status = 200;
    match reply {
        Reply::Lost => unreachable!("a lost reply is an error, not a reply"),
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
        Reply::Events {
            events,
            held,
            key_permit,
        } => {
            let source = match events {
                Events::Passed(reply) => Source::Passed(reply.into_body(), UsageScanner::default()),
                Events::Rendered(deltas, writer) => Source::Rendered(deltas, writer, false),
            };
            let relay = Relay {
                source,
                guard: StreamGuard {
                    gateway: gateway.clone(),
                    route: route.clone(),
                    dep,
                    started,
                    done,
                    billed: None,
                    held,
                    key_permit,
                    ended: false,
                    _slot: slot,
                },
                finished: false,
            };
            let stream = futures_util::stream::unfold(relay, |mut relay| async move {
                if relay.finished {
                    return None;
                }
                let next = relay.next().await;
                next.map(|piece| (piece, relay))
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

/// A stream on its way to the client.
pub(super) enum Events {
    /// The upstream's, passed through as it is.
    Passed(hyper::Response<hyper::body::Incoming>),
    /// Its pieces, written in the client's API as they come.
    Rendered(Deltas, Box<dyn Render>),
}

enum Source {
    Passed(hyper::body::Incoming, UsageScanner),
    /// The pieces, their writer, and whether the stream's head was written.
    Rendered(Deltas, Box<dyn Render>, bool),
}

struct Relay {
    source: Source,
    guard: StreamGuard,
    finished: bool,
}

impl Relay {
    /// The next bytes for the client; `None` at the end.
    async fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let broke = |relay: &mut Relay, e: String| {
            relay.finished = true;
            relay.guard.done.error_kind = Some(pacer_core::ErrorKind::Connection.as_str());
            Some(Err(std::io::Error::other(e)))
        };
        match &mut self.source {
            Source::Passed(body, scanner) => loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            scanner.feed(&data);
                            if let Some(usage) = scanner.usage {
                                self.guard.done.usage = usage;
                                self.guard.billed = Some(usage);
                            }
                            self.guard.ended = scanner.done;
                            return Some(Ok(data));
                        }
                    }
                    Some(Err(e)) => return broke(self, e.to_string()),
                    None => {
                        self.guard.end();
                        return None;
                    }
                }
            },
            Source::Rendered(deltas, writer, begun) => {
                if !*begun {
                    *begun = true;
                    let head = writer.start();
                    if !head.is_empty() {
                        return Some(Ok(Bytes::from(head)));
                    }
                }
                loop {
                    match deltas.next().await {
                        Some(Ok(delta)) => {
                            if let Delta::Usage(usage) = &delta {
                                self.guard.done.usage = *usage;
                                self.guard.billed = Some(*usage);
                            }
                            let text = writer.push(&delta);
                            if !text.is_empty() {
                                return Some(Ok(Bytes::from(text)));
                            }
                        }
                        Some(Err(e)) => return broke(self, e.to_string()),
                        None => {
                            self.finished = true;
                            self.guard.end();
                            return Some(Ok(Bytes::from(writer.finish())));
                        }
                    }
                }
            }
        }
    }
}

/// Records a streamed request when its stream is dropped: at its end, or when the client
/// went away or the upstream broke off; its usage, known only now, goes to the budget.
pub(super) struct StreamGuard {
    gateway: Arc<Gateway>,
    route: Arc<Route>,
    /// The deployment streaming.
    dep: usize,
    started: Instant,
    done: Done,
    /// The stream's usage, from its last chunk.
    billed: Option<Usage>,
    /// The budgets' holds on the stream's worst case, settled when it ends.
    held: Vec<Reservation>,
    /// The gateway key's own limiter's permit, settled when it ends.
    key_permit: Option<Box<Permit>>,
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
        let dep = &self.route.deployments[self.dep];
        // A stream cut short (the client left, the upstream broke off) is billed the worst
        // case held, whatever usage it told on the way (Anthropic's and Gemini's tell it from
        // the start): the upstream bills what it generated all the same.
        let billed = self.billed.filter(|_| self.ended);
        for held in std::mem::take(&mut self.held) {
            match billed {
                Some(usage) => held.settle(&usage, dep.price.as_ref()),
                None => held.settle_worst_case(),
            }
        }
        // The key's own limiter is charged what the stream used (a cut one keeps its worst
        // case).
        if let (Some(permit), Some(usage)) = (self.key_permit.take(), billed)
            && let Some(limiter) = self.gateway.clients.get(&self.done.client)
        {
            limiter.settle(
                &permit,
                Cost::request(usage.input_tokens, usage.output_tokens),
            );
        }
        if let Some(usage) = self.billed {
            dep.lane.count_late(&usage);
        }
        self.gateway.record(self.started, &self.done);
    }
}
