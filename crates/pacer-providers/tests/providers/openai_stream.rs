//! The OpenAI provider's streamed chat completions against a loopback server: the request it
//! sends, the deltas it reads (the same reply `send` reads whole), and a refusal or a broken
//! stream.

use std::sync::Arc;
use std::time::Duration;

use crate::support::openai::{KEY, OpenAiServer};
use crate::support::{Reply, Server, deltas, drain, event, gather, read_then_cut};
use pacer_core::{Delta, ErrorKind, FinishReason, Provider, Request, Usage};
use serde_json::{Value, json};
use tokio::sync::Notify;

const MODEL: &str = "gpt-4o-mini-2024-07-18";

/// A chunk of a streamed chat completion, choice 0 adding `delta`.
fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        "usage": null
    });
    event(None, &chunk.to_string())
}

fn usage() -> Value {
    json!({"prompt_tokens": 21, "completion_tokens": 14, "total_tokens": 35,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 0}})
}

/// Text in three pieces, then a call whose arguments come in three, then the finish, the
/// usage and `[DONE]`; the frames split events at odd places.
fn frames() -> Vec<String> {
    let call = |piece: Value| json!({"tool_calls": [piece]});
    let events = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Let me"}), None),
        chunk(json!({"content": " check"}), None),
        chunk(json!({"content": " the weather."}), None),
        chunk(
            call(json!({"index": 0, "id": "call_abc", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}})),
            None,
        ),
        chunk(
            call(json!({"index": 0, "function": {"arguments": "{\"ci"}})),
            None,
        ),
        chunk(
            call(json!({"index": 0, "function": {"arguments": "ty\": \"Pa"}})),
            None,
        ),
        chunk(
            call(json!({"index": 0, "function": {"arguments": "ris\"}"}})),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        event(
            None,
            &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": MODEL, "choices": [], "usage": usage()})
            .to_string(),
        ),
        ": keep-alive\n\n".to_owned(),
        event(None, "[DONE]"),
    ];
    let text = events.concat();
    // Frames of 97 bytes: most events straddle two.
    text.as_bytes()
        .chunks(97)
        .map(|piece| String::from_utf8(piece.to_vec()).unwrap())
        .collect()
}

/// The same reply, whole.
fn whole() -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant",
            "content": "Let me check the weather.",
            "tool_calls": [{"id": "call_abc", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
            "finish_reason": "tool_calls"}],
        "usage": usage()
    })
}

fn request() -> Request {
    Request::text("gpt-4o-mini", None, "Weather in Paris?")
}

#[tokio::test]
async fn a_streamed_chat_reads_as_send_reads_it_whole() {
    let reply = Reply::events(&frames())
        .header("x-ratelimit-limit-requests", "500")
        .header("x-ratelimit-remaining-requests", "499");
    let server = Server::start(reply).await;
    let provider = server.provider(Some(KEY));
    let streaming = provider.stream(&request()).await.unwrap();
    let limits = streaming.rate_limits.expect("the head's headers");
    assert_eq!(limits.requests.limit, Some(500));
    assert_eq!(limits.requests.remaining, Some(499));
    let deltas = deltas(streaming.deltas).await;

    let seen = server.only();
    assert_eq!(seen.path, "/v1/chat/completions");
    let mut body = seen.body.clone();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    body.as_object_mut().unwrap().remove("stream");
    body.as_object_mut().unwrap().remove("stream_options");
    let sent: Value = serde_json::from_slice(&provider.body(&request()).unwrap()).unwrap();
    assert_eq!(body, sent, "the body send posts, and the stream options");

    let text = |t: &str| Delta::Text(t.into());
    let args = |json: &str| Delta::ToolArguments {
        index: 0,
        json: json.into(),
    };
    let usage = Usage {
        input_tokens: 21,
        output_tokens: 14,
        reasoning_tokens: 0,
        cached_input_tokens: 8,
    };
    assert_eq!(
        deltas,
        [
            Delta::Model(MODEL.into()),
            text("Let me"),
            text(" check"),
            text(" the weather."),
            Delta::ToolCall {
                index: 0,
                id: "call_abc".into(),
                name: "get_weather".into()
            },
            args("{\"ci"),
            args("ty\": \"Pa"),
            args("ris\"}"),
            Delta::Finish(FinishReason::ToolCalls),
            Delta::Usage(usage),
        ]
    );

    let whole = Server::start(Reply::ok(&whole())).await;
    let mut sent = whole.provider(Some(KEY)).send(&request()).await.unwrap();
    sent.rate_limits = None;
    assert_eq!(gather(&deltas), sent);
}

#[tokio::test]
async fn a_refused_head_is_classified_as_send_classifies_it() {
    let body = json!({"error": {"message": "Rate limit reached for requests (key sk-test-SECRETsecret0123456789)",
        "type": "requests", "param": null, "code": "rate_limit_exceeded"}});
    let reply = Reply::json(429, &body)
        .header("retry-after", "3")
        .header("x-ratelimit-limit-requests", "500")
        .header("x-ratelimit-remaining-requests", "0");
    let server = Server::start(reply).await;
    let provider = server.provider(Some(KEY));
    let streamed = provider.stream(&request()).await.unwrap_err();
    let sent = provider.send(&request()).await.unwrap_err();
    assert_eq!(streamed.kind, ErrorKind::RateLimited);
    assert_eq!(streamed.retry_after, Some(Duration::from_secs(3)));
    assert_eq!(
        streamed.rate_limits.as_ref().unwrap().requests.remaining,
        Some(0)
    );
    assert!(!streamed.message.contains(KEY), "{}", streamed.message);
    assert_eq!(
        (streamed.kind, streamed.status, streamed.retry_after),
        (sent.kind, sent.status, sent.retry_after)
    );
    assert_eq!(streamed.message, sent.message);
    assert_eq!(streamed.rate_limits, sent.rate_limits);
}

#[tokio::test]
async fn a_stream_cut_short_ends_with_a_connection_error() {
    let events = [
        chunk(json!({"content": "Hi"}), None),
        chunk(json!({"content": " there"}), None),
    ];
    let cut = Arc::new(Notify::new());
    let server = Server::start(Reply::events(&events).cut_on(&cut)).await;
    let streaming = server.provider(None).stream(&request()).await.unwrap();
    let (read, rest) = read_then_cut(streaming.deltas, 3, &cut).await;
    assert_eq!(read[2], Delta::Text(" there".into()));
    let [Err(error)] = rest.as_slice() else {
        panic!("one error, then the end: {rest:?}");
    };
    assert_eq!(error.kind, ErrorKind::Connection, "{error}");
}

#[tokio::test]
async fn an_unreadable_event_ends_the_stream_with_an_invalid_response() {
    let frames = [
        chunk(json!({"content": "Hi"}), None),
        event(None, "{\"choices\": [oops"),
        chunk(json!({"content": "never read"}), None),
    ];
    let server = Server::start(Reply::events(&frames)).await;
    let streaming = server.provider(None).stream(&request()).await.unwrap();
    let items = drain(streaming.deltas).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[1].as_ref().unwrap(), &Delta::Text("Hi".into()));
    assert_eq!(
        items[2].as_ref().unwrap_err().kind,
        ErrorKind::InvalidResponse
    );
}

#[tokio::test]
async fn a_stream_that_ends_before_done_is_broken_off() {
    let frames = [chunk(json!({"content": "Hi"}), None)];
    let server = Server::start(Reply::events(&frames)).await;
    let streaming = server.provider(None).stream(&request()).await.unwrap();
    let items = drain(streaming.deltas).await;
    assert_eq!(
        items.last().unwrap().as_ref().unwrap_err().kind,
        ErrorKind::Connection
    );
}
