//! A streamed reply's body read as server-sent events, each turned into [`Delta`]s by the
//! provider's [`Events`] reader: the one loop the streaming providers share.
//!
//! `eventsource-stream` splits the body's frames into events (an event may straddle frames,
//! a frame may hold several). The stream ends after the reader's end event, or with one
//! `Err` item: a body that broke off ([`ErrorKind::Connection`]), one that is not text or an
//! event the reader cannot read ([`ErrorKind::InvalidResponse`]), an error the upstream sent
//! as an event, or a body that ended before the reply did.

use std::collections::VecDeque;

use eventsource_stream::{EventStream, EventStreamError};
use futures_util::StreamExt;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use pacer_core::{Delta, Deltas, ErrorKind, ProviderError};

use crate::http;

/// What the stream does after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// More events may follow.
    More,
    /// The reply is over (OpenAI's `[DONE]`, Anthropic's `message_stop`).
    Done,
}

/// One API's events read into deltas, in order.
pub(crate) trait Events: Send + 'static {
    /// Reads an event's `data`, pushing its deltas onto `out`. (Its name is not needed:
    /// Anthropic's repeat their data's `type`, the others' are unnamed.)
    fn event(&mut self, data: &str, out: &mut Vec<Delta>) -> Result<Flow, ProviderError>;

    /// The body ended without an end event: whether the reply is whole all the same.
    fn end(&mut self) -> Result<(), ProviderError>;
}

/// A reply's body too short to be whole: it ended before `what`.
pub(crate) fn ended_early(what: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Connection,
        format!("the stream ended before {what}"),
    )
}

/// An event whose data is not what the API sends.
pub(crate) fn unreadable(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::InvalidResponse,
        format!("unreadable stream event: {what}"),
    )
}

/// Where the reading stands.
struct Reading<E> {
    events: EventStream<BodyDataStream<Incoming>>,
    reader: E,
    /// Deltas read but not yet handed on.
    ready: VecDeque<Delta>,
    /// The failure that ends the stream, once the deltas read before it are out.
    failed: Option<ProviderError>,
    /// Nothing more is read: the reply ended or failed.
    over: bool,
}

/// The deltas `reader` makes of `body`'s events.
pub(crate) fn deltas<E: Events>(body: Incoming, reader: E) -> Deltas {
    let reading = Reading {
        events: EventStream::new(BodyDataStream::new(body)),
        reader,
        ready: VecDeque::new(),
        failed: None,
        over: false,
    };
    Box::pin(futures_util::stream::unfold(reading, next))
}

/// The next item: a delta read before, else the failure, else what the next events make.
async fn next<E: Events>(
    mut reading: Reading<E>,
) -> Option<(Result<Delta, ProviderError>, Reading<E>)> {
    loop {
        if let Some(delta) = reading.ready.pop_front() {
            return Some((Ok(delta), reading));
        }
        if let Some(error) = reading.failed.take() {
            return Some((Err(error), reading));
        }
        if reading.over {
            return None;
        }
        let mut out = Vec::new();
        let flow = match reading.events.next().await {
            Some(Ok(event)) => reading.reader.event(&event.data, &mut out),
            Some(Err(error)) => Err(broken(&error)),
            None => reading.reader.end().map(|()| Flow::Done),
        };
        reading.ready.extend(out);
        match flow {
            Ok(Flow::More) => {}
            Ok(Flow::Done) => reading.over = true,
            Err(error) => {
                reading.failed = Some(error);
                reading.over = true;
            }
        }
    }
}

/// Why the body could not be read as events.
fn broken(error: &EventStreamError<hyper::Error>) -> ProviderError {
    match error {
        EventStreamError::Transport(e) => http::transport("the stream broke off", e),
        EventStreamError::Utf8(e) => unreadable(e),
        EventStreamError::Parser(e) => unreadable(e),
    }
}
