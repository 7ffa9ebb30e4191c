//! Anthropic's streamed Messages (`"stream": true`) and `POST /v1/messages/count_tokens`
//! on the mock, over loopback: the events against the whole reply, tool calls as
//! `input_json_delta`s, refusals as the usual JSON, and token counts against what a reply
//! reports.

use std::time::Duration;

use crate::common::{Client, anthropic_error, claude, events, start};
use pacer_mock::MockServerConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `body` asking for a stream.
fn streamed(body: &Value) -> Value {
    let mut body = body.clone();
    body["stream"] = json!(true);
    body
}

/// The deltas' `field` of block `index`, in order.
fn deltas(events: &[(String, Value)], index: usize, field: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(name, data)| name == "content_block_delta" && data["index"] == index)
        .map(|(_, data)| data["delta"][field].as_str().unwrap().to_owned())
        .collect()
}

/// The body of a streamed Messages reply, as the frames the client read one by one.
async fn frames(client: &Client, body: &Value) -> Vec<bytes::Bytes> {
    let mut response = client
        .http
        .post(format!("{}/v1/messages", client.base))
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
        .send()
        .await
        .expect("an HTTP reply");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    assert!(response.headers().get("content-length").is_none());
    let mut frames = Vec::new();
    while let Some(frame) = response.chunk().await.expect("a frame") {
        frames.push(frame);
    }
    frames
}

#[tokio::test]
async fn a_streamed_message_is_anthropics_events_of_the_same_reply() {
    let config = MockServerConfig {
        rpm: Some(600),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 60,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is a rate limit?"}],
    });
    let whole = client.messages(&body).await.json();
    let reply = client.messages(&streamed(&body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        reply.headers
    );
    // Headers apply as to the whole reply.
    assert_eq!(
        reply.header_u64("anthropic-ratelimit-requests-limit"),
        Some(600)
    );
    let events = events(&reply.body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(events.iter().all(|(name, data)| data["type"] == *name));

    let start = &events[0].1["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_"), "{start}");
    assert_eq!(
        (&start["type"], &start["role"]),
        (&json!("message"), &json!("assistant"))
    );
    assert_eq!(start["model"], whole["model"]);
    assert_eq!(start["content"], json!([]));
    assert!(start["stop_reason"].is_null() && start["stop_sequence"].is_null());
    assert_eq!(
        start["usage"]["input_tokens"],
        whole["usage"]["input_tokens"]
    );
    assert_eq!(start["usage"]["output_tokens"], 1);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "text", "text": ""})
    );

    let text = deltas(&events, 0, "text");
    assert!(text.len() >= 3, "several deltas: {text:?}");
    assert_eq!(text.concat(), whole["content"][0]["text"].as_str().unwrap());
    let end = &events[names.len() - 2].1;
    assert_eq!(end["delta"]["stop_reason"], whole["stop_reason"]);
    assert!(end["delta"]["stop_sequence"].is_null());
    assert_eq!(
        end["usage"]["output_tokens"],
        whole["usage"]["output_tokens"]
    );

    // Each event is a chunk of its own (the client may read one in parts, never two in one).
    let frames = frames(&client, &streamed(&body)).await;
    assert!(frames.len() >= events.len(), "{} frames", frames.len());
    assert_eq!(crate::common::events(&frames.concat()).len(), events.len());
    let stats = client.stats().await;
    assert_eq!((stats.anthropic_requests, stats.ok), (3, 3));
}

#[tokio::test]
async fn a_streamed_tool_call_comes_as_input_json_deltas() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let body = json!({
        "model": "claude-x",
        "max_tokens": 100,
        "tools": [{"name": "get_weather", "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        }}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    });
    let whole = client.messages(&body).await.json();
    assert_eq!(whole["stop_reason"], "tool_use");
    let call = whole["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .expect("a tool_use block")
        .clone();
    let index = whole["content"]
        .as_array()
        .unwrap()
        .iter()
        .position(|b| b["type"] == "tool_use")
        .unwrap();

    let events = events(&client.messages(&streamed(&body)).await.body);
    let start = events
        .iter()
        .find(|(name, data)| name == "content_block_start" && data["index"] == index)
        .expect("the tool_use block's start");
    assert_eq!(
        start.1["content_block"],
        json!({"type": "tool_use", "id": call["id"], "name": "get_weather", "input": {}})
    );
    let pieces = deltas(&events, index, "partial_json");
    assert!(
        pieces.iter().filter(|p| !p.is_empty()).count() >= 2,
        "{pieces:?}"
    );
    let input: Value = serde_json::from_str(&pieces.concat()).unwrap();
    assert_eq!(input, call["input"]);
    let end = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .unwrap();
    assert_eq!(end.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        end.1["usage"]["output_tokens"],
        whole["usage"]["output_tokens"]
    );
}

#[tokio::test]
async fn a_refused_stream_request_gets_the_usual_json_error() {
    // 60 rpm over a 1 s window: a bucket of one request.
    let config = MockServerConfig {
        rpm: Some(60),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let body = streamed(&claude("claude-x", 16));
    assert_eq!(client.messages(&body).await.status, StatusCode::OK);
    let reply = client.messages(&body).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(anthropic_error(&reply).0, "rate_limit_error");
    assert!(reply.header("retry-after").is_some());
    assert_eq!(
        reply.header_u64("anthropic-ratelimit-requests-remaining"),
        Some(0)
    );

    // An injected overload is Anthropic's 529, not a stream.
    let config = MockServerConfig {
        fail_503: 1.0,
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let reply = client.messages(&body).await;
    assert_eq!(reply.status.as_u16(), 529);
    assert_eq!(anthropic_error(&reply).0, "overloaded_error");
}

#[tokio::test]
async fn count_tokens_counts_what_a_reply_reports() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let mut body = json!({
        "model": "claude-x",
        "system": [{"type": "text", "text": "Be brief."}],
        "tools": [{"name": "get_weather", "description": "The weather",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "What is a token bucket?"}]},
        ],
    });
    let counted = client.anthropic("/v1/messages/count_tokens", &body).await;
    assert_eq!(counted.status, StatusCode::OK);
    let counted = counted.json();
    assert_eq!(counted.as_object().unwrap().len(), 1, "{counted}");
    body["max_tokens"] = json!(20);
    let reply = client.messages(&body).await.json();
    assert_eq!(counted["input_tokens"], reply["usage"]["input_tokens"]);
    assert!(counted["input_tokens"].as_u64().unwrap() > 10);
    // max_tokens is taken, and changes nothing.
    let again = client
        .anthropic("/v1/messages/count_tokens", &body)
        .await
        .json();
    assert_eq!(again, counted);
}

#[tokio::test]
async fn count_tokens_refuses_as_messages_does_and_is_not_limited() {
    let config = MockServerConfig {
        rpm: Some(60),
        window: Duration::from_secs(1),
        models: vec!["claude-x".into()],
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let count = |body: Value| {
        let client = &client;
        async move { client.anthropic("/v1/messages/count_tokens", &body).await }
    };
    // An unknown model: the same 404 as Messages.
    let unknown =
        count(json!({"model": "claude-9", "messages": [{"role": "user", "content": "x"}]})).await;
    let from_messages = client.messages(&claude("claude-9", 5)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(anthropic_error(&unknown), anthropic_error(&from_messages));
    // A malformed body: the same 400 shape.
    let bad = count(json!({"model": "claude-x"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        anthropic_error(&bad),
        (
            "invalid_request_error".into(),
            "messages: Field required".into()
        )
    );
    let reply = client
        .post_with("/v1/messages/count_tokens", &[], &claude("claude-x", 5))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "anthropic-version is required"
    );

    // Counting spends none of the one request the bucket holds.
    for _ in 0..5 {
        let reply = count(claude("claude-x", 5)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply
                .header("anthropic-ratelimit-requests-remaining")
                .is_none()
        );
    }
    assert_eq!(
        client.messages(&claude("claude-x", 5)).await.status,
        StatusCode::OK
    );
    let stats = client.stats().await;
    assert_eq!((stats.ok, stats.rate_limited), (6, 0));
    assert_eq!((stats.not_found, stats.bad_requests), (2, 2));
}
