//! Anthropic's Messages API, `POST /v1/messages`: the key (`x-api-key`), the
//! `anthropic-version` header and the body's required fields, then on to
//! [`Shared::complete`] with Anthropic's limits (requests, input and output tokens per
//! minute), errors and `anthropic-ratelimit-*` headers. With `"stream": true` a reply is
//! Anthropic's event stream of the same reply ([`stream`]); a refusal is its usual JSON.
//! `POST /v1/messages/count_tokens` counts a body's input tokens the same way ([`count`]).
//!
//! Input tokens are counted with OpenAI's cl100k tokenizer, plus a few tokens a message, as
//! the OpenAI endpoints count them: an approximation of Claude's tokenizer, which is not
//! public and cuts English a little finer. Images count as Anthropic bills them, tools as
//! their definitions' JSON.
//!
//! Images, tools, `tool_choice`, `tool_use` and `tool_result` blocks are read
//! ([`convert`]); a reply that calls a tool has `tool_use` blocks and `stop_reason:
//! "tool_use"`, a refusal `stop_reason: "refusal"`.

mod convert;
mod count;
mod reply;
mod request;
mod stream;

use bytes::Bytes;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use pacer_core::{ImageBilling, Request};
use serde_json::Value;

use crate::complete::{Job, Prepared};
use crate::handler::{BodyError, Shared, read_body};
use crate::limiter::Cost;
use crate::respond::{Dropped, Reply};
use crate::stats::Counters;
use crate::tokens::Encoding;
pub(crate) use count::count_tokens;
pub(crate) use reply::{Messages, error};
use request::MessagesRequest;

/// What a Messages body is read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// A reply (`/v1/messages`, a batch line), which needs `max_tokens`.
    Answer,
    /// Its input tokens (`/v1/messages/count_tokens`), which need no `max_tokens`.
    Count,
}

impl Purpose {
    /// The fields a body must have, in the order they are checked.
    fn required(self) -> &'static [&'static str] {
        match self {
            Purpose::Answer => &["model", "messages", "max_tokens"],
            Purpose::Count => &["model", "messages"],
        }
    }
}

/// Anthropic's 401 when the server wants a key and `headers` do not bear it as
/// `x-api-key` (uncounted); `None` when they may pass.
pub(crate) fn key_refused(shared: &Shared, headers: &HeaderMap) -> Option<Reply> {
    let key = shared.config.api_key.as_ref()?;
    let message = match headers.get("x-api-key") {
        None => "x-api-key header is required",
        Some(sent) if sent.as_bytes() != key.as_bytes() => "invalid x-api-key",
        Some(_) => return None,
    };
    Some(error(
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        message,
    ))
}

/// The 400 for a request without the `anthropic-version` header (uncounted), which every
/// endpoint requires; `None` when it is there.
pub(crate) fn version_missing(headers: &HeaderMap) -> Option<Reply> {
    (!headers.contains_key("anthropic-version"))
        .then(|| bad_request("anthropic-version: header is required"))
}

/// The body of a request to a Messages endpoint once its key and `anthropic-version`
/// pass; the refusal (counted) otherwise, or [`Dropped`] when the client went away.
async fn read(
    shared: &Shared,
    req: hyper::Request<Incoming>,
) -> Result<Result<Bytes, Reply>, Dropped> {
    if let Some(reply) = key_refused(shared, req.headers()) {
        Counters::bump(&shared.counters.unauthorized);
        return Ok(Err(reply));
    }
    if let Some(reply) = version_missing(req.headers()) {
        return Ok(Err(shared.refused(reply)));
    }
    match read_body(req.into_body()).await {
        Ok(body) => Ok(Ok(body)),
        Err(BodyError::TooLarge) => Ok(Err(shared.refused(too_large()))),
        Err(BodyError::Gone) => Err(Dropped),
    }
}

/// `POST /v1/messages`: the reply, or with `"stream": true` its event stream.
pub(crate) async fn messages(
    shared: &Shared,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    let body = match read(shared, req).await? {
        Ok(body) => body,
        Err(reply) => return Ok(reply),
    };
    let prepared = match prepare(shared, &body) {
        Ok(prepared) => prepared,
        Err(reply) => return Ok(shared.refused(*reply)),
    };
    let streamed = prepared.protocol.stream;
    let reply = shared.complete(prepared).await?;
    Ok(if streamed {
        stream::as_stream(reply)
    } else {
        reply
    })
}

/// Anthropic's 413 for a body over the limit.
pub(crate) fn too_large() -> Reply {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes.",
    )
}

/// A Messages body read for `purpose` and checked against the model; the refusal (a 400
/// or a 404, uncounted) otherwise.
fn checked(shared: &Shared, body: &[u8], purpose: Purpose) -> Result<MessagesRequest, Box<Reply>> {
    let wire = parse(body, purpose).map_err(|message| Box::new(bad_request(message)))?;
    if !shared.serves(&wire.model) {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("model: {}", wire.model),
        )));
    }
    Ok(wire)
}

/// Pacer's request for a checked body; the refusal (a 400, uncounted) otherwise.
fn to_request(wire: MessagesRequest) -> Result<Request, Box<Reply>> {
    convert::request(wire).map_err(|message| Box::new(bad_request(message)))
}

/// The input tokens of `request`, as the Messages endpoints count and report them.
fn input_tokens(request: &Request) -> u64 {
    Encoding::Cl100k.prompt(
        &request.messages,
        &request.params.tools,
        ImageBilling::Anthropic,
    )
}

/// A Messages body checked against the model, and priced; the refusal (a 400 or a 404,
/// uncounted) otherwise.
pub(crate) fn prepare(shared: &Shared, body: &[u8]) -> Result<Prepared<Messages>, Box<Reply>> {
    let wire = checked(shared, body, Purpose::Answer)?;
    let cap = u64::from(wire.max_tokens);
    let stop = wire.stop_sequences.clone().unwrap_or_default();
    let stream = wire.stream == Some(true);
    let request = to_request(wire)?;
    let prompt_tokens = input_tokens(&request);
    let job = Job {
        request,
        cost: Cost {
            tokens: prompt_tokens + cap,
            input: Some(prompt_tokens),
            output: Some(cap),
        },
        output_cap: cap,
    };
    Ok(Prepared {
        job,
        protocol: Messages {
            prompt_tokens,
            stop,
            stream,
        },
    })
}

/// A 400 `invalid_request_error` (uncounted).
pub(crate) fn bad_request(message: impl Into<String>) -> Reply {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// The body as a Messages request, or what is wrong with it, in Anthropic's words.
fn parse(body: &[u8], purpose: Purpose) -> Result<MessagesRequest, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("There was an error parsing the body of your request: {e}"))?;
    let Some(object) = value.as_object() else {
        return Err("The request body must be a JSON object.".into());
    };
    if let Some(missing) = purpose
        .required()
        .iter()
        .find(|f| !object.contains_key(**f))
    {
        return Err(format!("{missing}: Field required"));
    }
    let wire: MessagesRequest =
        serde_json::from_value(value).map_err(|e| format!("Invalid request body: {e}"))?;
    if purpose == Purpose::Answer && wire.max_tokens == 0 {
        return Err("max_tokens: Input should be greater than or equal to 1".into());
    }
    if wire.messages.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    if let Some(i) = wire
        .messages
        .iter()
        .position(|m| m.role != "user" && m.role != "assistant")
    {
        return Err(format!(
            "messages.{i}.role: Input should be 'user' or 'assistant'"
        ));
    }
    for (name, value) in [("temperature", wire.temperature), ("top_p", wire.top_p)] {
        if let Some(value) = value
            && !(0.0..=1.0).contains(&value)
        {
            return Err(format!(
                "{name}: Input should be between 0 and 1, got {value}"
            ));
        }
    }
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use pacer_core::Role;

    use super::*;

    #[test]
    fn names_the_missing_field_and_the_bad_value() {
        let err = parse(br#"{"model": "c", "messages": []}"#, Purpose::Answer).unwrap_err();
        assert_eq!(err, "max_tokens: Field required");
        let err = parse(br#"{"model": "c", "max_tokens": 5}"#, Purpose::Answer).unwrap_err();
        assert_eq!(err, "messages: Field required");
        let err = parse(
            br#"{"model": "c", "max_tokens": 5, "messages": []}"#,
            Purpose::Answer,
        )
        .unwrap_err();
        assert!(err.contains("at least one message"), "{err}");
        let body =
            br#"{"model": "c", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}"#;
        assert!(
            parse(body, Purpose::Answer)
                .unwrap_err()
                .starts_with("messages.0.role")
        );
        let body = br#"{"model": "c", "max_tokens": 5, "temperature": 1.5, "messages": [{"role": "user", "content": "x"}]}"#;
        assert!(
            parse(body, Purpose::Answer)
                .unwrap_err()
                .starts_with("temperature")
        );
        assert!(
            parse(b"[1]", Purpose::Answer)
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            parse(b"{", Purpose::Answer)
                .unwrap_err()
                .contains("parsing the body")
        );
    }

    #[test]
    fn counting_needs_no_max_tokens_and_streaming_is_read() {
        let body = br#"{"model": "c", "messages": [{"role": "user", "content": "x"}]}"#;
        assert_eq!(
            parse(body, Purpose::Answer).unwrap_err(),
            "max_tokens: Field required"
        );
        assert_eq!(parse(body, Purpose::Count).unwrap().max_tokens, 0);
        let err = parse(br#"{"model": "c"}"#, Purpose::Count).unwrap_err();
        assert_eq!(err, "messages: Field required");
        let body = br#"{"model": "c", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "x"}]}"#;
        assert_eq!(parse(body, Purpose::Answer).unwrap().stream, Some(true));
        let body = br#"{"model": "c", "max_tokens": 5, "stream": "yes", "messages": [{"role": "user", "content": "x"}]}"#;
        assert!(parse(body, Purpose::Answer).is_err());
    }

    #[test]
    fn system_blocks_become_the_first_message() {
        let wire = parse(
            br#"{"model": "c", "max_tokens": 5, "top_k": 3, "stop_sequences": ["x"],
                 "system": [{"type": "text", "text": "Be brief."}],
                 "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}"#,
            Purpose::Answer,
        )
        .unwrap();
        let request = convert::request(wire).unwrap();
        let texts: Vec<(Role, String)> = request
            .messages
            .iter()
            .map(|m| (m.role, m.text().into_owned()))
            .collect();
        assert_eq!(
            texts,
            [
                (Role::System, "Be brief.".to_owned()),
                (Role::User, "Hi".to_owned()),
                (Role::Assistant, "Yo".to_owned()),
            ]
        );
        assert_eq!(request.params.top_k, Some(3));
        assert_eq!(request.params.max_tokens, Some(5));
        assert_eq!(request.params.stop, ["x"]);
    }
}
