//! HTTP replies: JSON bodies, OpenAI's errors and rate-limit headers, and a whole reply re-sent
//! as a stream of frames.

use std::fmt;

use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use crate::body::Body;
use crate::limiter::{Dimension, Reading, Readings};
use crate::timefmt::go_duration;

/// The reply type of every handler.
pub(crate) type Reply = Response<Body>;

/// Returned by the service to make hyper close the connection without replying.
#[derive(Debug)]
pub(crate) struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose (injected fault)")
    }
}

impl std::error::Error for Dropped {}

/// A reply with `body` as JSON.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(Body::whole(body));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// `value` serialized as a JSON reply.
pub(crate) fn json_value<T: serde::Serialize>(status: StatusCode, value: &T) -> Reply {
    json(status, serialize(value))
}

/// `value` as JSON bytes.
pub(crate) fn serialize<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own types to memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// An OpenAI-style error reply: `{"error": {"message", "type", "code", "param"}}`, the
/// code and the parameter null when there is none.
pub(crate) fn error(
    status: StatusCode,
    message: impl Into<String>,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> Reply {
    let body = json!({
        "error": {
            "message": message.into(),
            "type": kind,
            "code": code,
            "param": param,
        }
    });
    json_value(status, &body)
}

/// A 400 `invalid_request_error`.
pub(crate) fn bad_request(
    message: impl Into<String>,
    param: Option<&str>,
    code: Option<&str>,
) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        code,
        param,
    )
}

const LIMIT: [HeaderName; 2] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-limit-tokens"),
];
const REMAINING: [HeaderName; 2] = [
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
];
const RESET: [HeaderName; 2] = [
    HeaderName::from_static("x-ratelimit-reset-requests"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

/// Adds OpenAI's `x-ratelimit-*` headers for each limited dimension.
pub(crate) fn rate_headers(reply: &mut Reply, readings: &Readings) {
    let headers = reply.headers_mut();
    let dimensions = [Dimension::Requests, Dimension::Tokens];
    for (i, reading) in dimensions.map(|d| readings.get(d)).into_iter().enumerate() {
        let Some(Reading {
            limit,
            remaining,
            reset,
        }) = reading
        else {
            continue;
        };
        headers.insert(LIMIT[i].clone(), HeaderValue::from(limit));
        headers.insert(REMAINING[i].clone(), HeaderValue::from(remaining));
        if let Ok(value) = HeaderValue::from_str(&go_duration(reset)) {
            headers.insert(RESET[i].clone(), value);
        }
    }
}

/// A successful chat completion reply re-sent as OpenAI's server-sent events (`stream:
/// true`): one chunk per choice with its whole text, one with its finish reason, the usage
/// chunk when asked (`stream_options.include_usage`), then `[DONE]`. Other replies are left
/// as they are.
pub(crate) fn as_event_stream(reply: Reply, include_usage: bool) -> Reply {
    as_events(reply, |completion| {
        let events = pacer_core::chat_completion_events(completion, include_usage);
        content_in_pieces(&events)
    })
}

/// `events` with each content chunk split into chunks of two words, as OpenAI streams a
/// reply a token or so at a time.
fn content_in_pieces(events: &str) -> String {
    let mut out = String::with_capacity(events.len() * 2);
    for event in events.split_inclusive("\n\n") {
        let chunk = event
            .strip_prefix("data: ")
            .and_then(|data| serde_json::from_str::<Value>(data.trim_end()).ok());
        let content = chunk
            .as_ref()
            .and_then(|c| c["choices"][0]["delta"]["content"].as_str());
        let (Some(chunk), Some(content)) = (chunk.as_ref(), content) else {
            out.push_str(event);
            continue;
        };
        for (i, piece) in crate::pieces::words(content, 2).into_iter().enumerate() {
            let mut piece_chunk = chunk.clone();
            piece_chunk["choices"][0]["delta"]["content"] = Value::String(piece.to_owned());
            // Log-probabilities ride with the first piece; the role too.
            if i > 0 {
                if let Some(delta) = piece_chunk["choices"][0]["delta"].as_object_mut() {
                    delta.remove("role");
                }
                piece_chunk["choices"][0]["logprobs"] = Value::Null;
            }
            out.push_str("data: ");
            out.push_str(&piece_chunk.to_string());
            out.push_str("\n\n");
        }
    }
    out
}

/// A 200 `reply` as the event stream `events` makes of its JSON body, each event (up to its
/// blank line) a frame of its own; other replies (and a truncated body) are left as they
/// are.
pub(crate) fn as_events(reply: Reply, events: impl FnOnce(&Value) -> String) -> Reply {
    as_frames(reply, EVENT_STREAM, |body| {
        events(body)
            .split_inclusive("\n\n")
            .map(|event| Bytes::copy_from_slice(event.as_bytes()))
            .collect()
    })
}

/// The content type of a stream of server-sent events.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

/// A 200 `reply` re-sent as the `frames` made of its JSON body, one after the other, as
/// `content_type`; other replies (and a truncated body, which stays truncated) are left as
/// they are. The status and the other headers (rate limits) are kept.
pub(crate) fn as_frames(
    reply: Reply,
    content_type: &'static str,
    frames: impl FnOnce(&Value) -> Vec<Bytes>,
) -> Reply {
    if reply.status() != StatusCode::OK {
        return reply;
    }
    let (mut parts, body) = reply.into_parts();
    let bytes = whole(body);
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::whole(bytes));
    };
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::frames(frames(&body)))
}

/// All of a body the mock made, which is always ready.
fn whole(body: Body) -> Bytes {
    use http_body_util::BodyExt;
    body.collect()
        .now_or_never()
        .and_then(Result::ok)
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default()
}

/// A reply's status and whole body. Every reply the mock builds holds its body in full, so
/// this never waits.
pub(crate) fn into_parts(reply: Reply) -> (StatusCode, Bytes) {
    let status = reply.status();
    (status, whole(reply.into_body()))
}

/// Polls a future that is ready at once.
trait NowOrNever: std::future::Future + Sized {
    fn now_or_never(self) -> Option<Self::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut fut = std::pin::pin!(self);
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}

impl<F: std::future::Future> NowOrNever for F {}
