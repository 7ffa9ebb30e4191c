//! The Anthropic provider's streamed replies against a loopback server: the request it sends,
//! the deltas it reads from each event (the same reply `send` reads whole), and a refusal, an
//! error event or a broken stream.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{Reply, Server, deltas, drain, event, gather, read_then_cut};
use pacer_core::{Delta, ErrorKind, FinishReason, Provider, Request, Usage};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use serde_json::{Value, json};
use tokio::sync::Notify;

const KEY: &str = "sk-ant-api03-SECRETsecret0123456789";
const MODEL: &str = "claude-sonnet-4-5-20250929";

fn provider(server: &Server) -> AnthropicProvider {
    let mut config = AnthropicConfig::new(Some(KEY.into()));
    config.base_url = server.root.clone();
    AnthropicProvider::new(config).unwrap()
}

/// An event as Anthropic sends it: named by its data's `type`.
fn named(data: Value) -> String {
    let name = data["type"].as_str().unwrap().to_owned();
    event(Some(&name), &data.to_string())
}

fn text_delta(index: u32, text: &str) -> String {
    named(json!({"type": "content_block_delta", "index": index,
        "delta": {"type": "text_delta", "text": text}}))
}

fn json_delta(index: u32, piece: &str) -> String {
    named(json!({"type": "content_block_delta", "index": index,
        "delta": {"type": "input_json_delta", "partial_json": piece}}))
}

/// The events up to the tool call's second piece of arguments.
fn opening() -> Vec<String> {
    vec![
        named(json!({"type": "message_start", "message": {
            "id": "msg_01", "type": "message", "role": "assistant", "model": MODEL,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "output_tokens": 1,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100}}})),
        named(json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": ""}})),
        named(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "The user wants weather."}})),
        named(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": "EqQB"}})),
        named(json!({"type": "content_block_stop", "index": 0})),
        named(json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "text", "text": ""}})),
        named(json!({"type": "ping"})),
        text_delta(1, "Let me"),
        text_delta(1, " check"),
        text_delta(1, " the weather."),
        named(json!({"type": "content_block_stop", "index": 1})),
        named(
            json!({"type": "content_block_start", "index": 2, "content_block":
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}}),
        ),
        json_delta(2, ""),
        json_delta(2, "{\"city\": \"Pa"),
    ]
}

/// A whole stream: thinking, text in three pieces, a call with arguments in two.
fn events() -> Vec<String> {
    let mut events = opening();
    events.extend([
        json_delta(2, "ris\"}"),
        named(json!({"type": "content_block_stop", "index": 2})),
        named(json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 89}})),
        named(json!({"type": "message_stop"})),
    ]);
    events
}

/// The same reply, whole.
fn whole() -> Value {
    json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": MODEL,
        "content": [
            {"type": "thinking", "thinking": "The user wants weather.", "signature": "EqQB"},
            {"type": "text", "text": "Let me check the weather."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 25, "output_tokens": 89,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100}
    })
}

fn request() -> Request {
    Request::text("claude-sonnet-4-5", None, "Weather in Paris?")
}

#[tokio::test]
async fn a_streamed_reply_reads_as_send_reads_it_whole() {
    let reply = Reply::events(&events())
        .header("anthropic-ratelimit-requests-limit", "50")
        .header("anthropic-ratelimit-requests-remaining", "49");
    let server = Server::start(reply).await;
    let anthropic = provider(&server);
    let streaming = anthropic.stream(&request()).await.unwrap();
    let limits = streaming.rate_limits.expect("the head's headers");
    assert_eq!(limits.requests.remaining, Some(49));
    let deltas = deltas(streaming.deltas).await;

    let seen = server.only();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    let mut body = seen.body.clone();
    assert_eq!(body["stream"], true);
    body.as_object_mut().unwrap().remove("stream");
    let sent: Value = serde_json::from_slice(&anthropic.body(&request()).unwrap()).unwrap();
    assert_eq!(body, sent);

    let usage = |output_tokens| Usage {
        input_tokens: 125,
        output_tokens,
        reasoning_tokens: 0,
        cached_input_tokens: 100,
    };
    let args = |json: &str| Delta::ToolArguments {
        index: 0,
        json: json.into(),
    };
    assert_eq!(
        deltas,
        [
            Delta::Model(MODEL.into()),
            Delta::Usage(usage(1)),
            Delta::Text("Let me".into()),
            Delta::Text(" check".into()),
            Delta::Text(" the weather.".into()),
            Delta::ToolCall {
                index: 0,
                id: "toolu_01".into(),
                name: "get_weather".into()
            },
            args("{\"city\": \"Pa"),
            args("ris\"}"),
            Delta::Finish(FinishReason::ToolCalls),
            Delta::Usage(usage(89)),
        ]
    );

    let whole = Server::start(Reply::ok(&whole())).await;
    let mut sent = provider(&whole).send(&request()).await.unwrap();
    sent.rate_limits = None;
    assert_eq!(gather(&deltas), sent);
}

#[tokio::test]
async fn a_refused_head_is_classified_as_send_classifies_it() {
    let body = json!({"type": "error", "error": {"type": "rate_limit_error",
        "message": "Number of request tokens has exceeded your per-minute rate limit"}});
    let reply = Reply::json(429, &body)
        .header("retry-after", "7")
        .header("anthropic-ratelimit-input-tokens-limit", "50000")
        .header("anthropic-ratelimit-input-tokens-remaining", "0");
    let server = Server::start(reply).await;
    let provider = provider(&server);
    let streamed = provider.stream(&request()).await.unwrap_err();
    let sent = provider.send(&request()).await.unwrap_err();
    assert_eq!(streamed.kind, ErrorKind::RateLimited);
    assert_eq!(streamed.status, Some(429));
    assert_eq!(streamed.retry_after, Some(Duration::from_secs(7)));
    let limits = streamed.rate_limits.as_ref().expect("the 429's headers");
    assert_eq!(limits.input_tokens.remaining, Some(0));
    assert_eq!(
        (streamed.kind, streamed.status, streamed.retry_after),
        (sent.kind, sent.status, sent.retry_after)
    );
    assert_eq!(streamed.message, sent.message);
}

#[tokio::test]
async fn an_error_event_is_classified_as_an_error_body_is() {
    let mut events = opening();
    events.push(named(json!({"type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"}})));
    let server = Server::start(Reply::events(&events)).await;
    let streaming = provider(&server).stream(&request()).await.unwrap();
    let mut items = drain(streaming.deltas).await;
    let error = items.pop().unwrap().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Overloaded);
    assert!(
        error.message.contains("overloaded_error"),
        "{}",
        error.message
    );
    assert_eq!(items.len(), 7, "the deltas before it: {items:?}");
}

#[tokio::test]
async fn a_stream_cut_short_ends_with_a_connection_error() {
    let cut = Arc::new(Notify::new());
    let server = Server::start(Reply::events(&opening()).cut_on(&cut)).await;
    let streaming = provider(&server).stream(&request()).await.unwrap();
    let (_, rest) = read_then_cut(streaming.deltas, 7, &cut).await;
    let [Err(error)] = rest.as_slice() else {
        panic!("one error, then the end: {rest:?}");
    };
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
}

#[tokio::test]
async fn a_stream_that_ends_without_its_end_is_broken_off() {
    let server = Server::start(Reply::events(&opening())).await;
    let streaming = provider(&server).stream(&request()).await.unwrap();
    let items = drain(streaming.deltas).await;
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connection);
    assert!(error.message.contains("message_stop"), "{}", error.message);
}
