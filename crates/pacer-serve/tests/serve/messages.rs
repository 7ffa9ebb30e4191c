//! Anthropic's Messages API for clients, in front of `pacer mock` on loopback: an Anthropic
//! entry gets the body as it is (its stream passed through), an OpenAI-compatible one a
//! translation both ways (its stream rendered piece by piece as the upstream sends it);
//! `count_tokens`; Anthropic's key header and error shape. And the other way round: Claude
//! and Gemini entries reached through OpenAI's chat format stream chunk by chunk.

use std::sync::Arc;

use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::anthropic::AnthropicConfig;
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use pacer_serve::{GatewayConfig, GatewayKey, ModelRoute, Upstream, UsageLog};
use serde_json::{Value, json};

use crate::common::{client, gateway, openai_route, post};

/// POSTs `body` to `base` + `path` as Anthropic's SDK does: the key in `x-api-key`.
async fn post_anthropic(base: &str, path: &str, key: &str, body: &Value) -> (u16, String) {
    let reply = client()
        .post(format!("{base}{path}"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

/// The `(event, data)` pairs of an Anthropic event stream.
fn anthropic_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event line in {block:?}"));
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("no data line in {block:?}"));
            (event.to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

/// The text an Anthropic event stream tells, and its final usage.
fn told(events: &[(String, Value)]) -> (String, Value) {
    let text = events
        .iter()
        .filter(|(e, d)| e == "content_block_delta" && d["delta"]["type"] == "text_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    let usage = events
        .iter()
        .rev()
        .find(|(e, _)| e == "message_delta")
        .map(|(_, d)| d["usage"].clone())
        .unwrap_or(Value::Null);
    (text, usage)
}

fn anthropic_route(mock: &MockServer) -> ModelRoute {
    let mut config = AnthropicConfig::new(Some("sk-ant-upstream".into()));
    config.base_url = mock.anthropic_url();
    ModelRoute {
        upstream: Upstream::Anthropic(config),
        ..openai_route("claude", "claude-sonnet-4-5", mock, None)
    }
}

fn question(model: &str) -> Value {
    json!({"model": model, "max_tokens": 64, "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

#[tokio::test]
async fn an_anthropic_entry_gets_the_messages_body_as_it_is() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut config = GatewayConfig::new(vec![anthropic_route(&mock)]);
    config.keys = vec![GatewayKey::new("t", "gw-key")];
    config.usage_log = UsageLog::File(log.path().to_path_buf());
    let gw = gateway(config).await;
    let base = format!("http://{}", gw.addr());

    let (status, text) = post_anthropic(&base, "/v1/messages", "gw-key", &question("claude")).await;
    assert_eq!(status, 200, "{text}");
    let message: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    let model = message["model"].as_str().unwrap();
    assert!(
        model.starts_with("claude-sonnet-4-5"),
        "as the upstream wrote it: {model}"
    );
    let whole = message["content"][0]["text"].as_str().unwrap().to_owned();
    let input = message["usage"]["input_tokens"].as_u64().unwrap();

    let mut streamed = question("claude");
    streamed["stream"] = json!(true);
    let (status, text) = post_anthropic(&base, "/v1/messages", "gw-key", &streamed).await;
    assert_eq!(status, 200, "{text}");
    let events = anthropic_events(&text);
    assert_eq!(events.first().unwrap().0, "message_start");
    assert_eq!(events.last().unwrap().0, "message_stop");
    let (said, usage) = told(&events);
    assert_eq!(said, whole, "the mock answers a prompt the same each time");
    assert!(usage["output_tokens"].as_u64().unwrap() > 0);

    let count = json!({"model": "claude", "system": "Be brief.",
        "messages": [{"role": "user", "content": "What is the capital of France?"}]});
    let (status, text) = post_anthropic(&base, "/v1/messages/count_tokens", "gw-key", &count).await;
    assert_eq!(status, 200, "{text}");
    let counted: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(counted["input_tokens"].as_u64(), Some(input));

    // Anthropic's error shape, for Anthropic's clients.
    let (status, text) = post_anthropic(&base, "/v1/messages", "wrong", &question("claude")).await;
    assert_eq!(status, 401);
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "authentication_error");
    let (status, text) = post_anthropic(&base, "/v1/messages", "gw-key", &question("gpt")).await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "not_found_error"
    );
    gw.shutdown().await.unwrap();

    // The stream's usage reached the log, read from its events as they went by.
    let lines: Vec<Value> = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stream_line = lines.iter().find(|l| l["stream"] == true).unwrap();
    assert_eq!(stream_line["endpoint"], "messages");
    assert_eq!(stream_line["input_tokens"].as_u64(), Some(input));
    assert!(stream_line["output_tokens"].as_u64().unwrap() > 0);
    assert!(stream_line["error_kind"].is_null(), "{stream_line}");
    assert_eq!(mock.stats().anthropic_requests, 3);
}

#[tokio::test]
async fn an_openai_entry_is_reached_through_the_messages_api() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let gw = gateway(GatewayConfig::new(vec![openai_route(
        "fast",
        "gpt-4o-mini",
        &mock,
        None,
    )]))
    .await;
    let base = format!("http://{}", gw.addr());
    let (status, text) = post_anthropic(&base, "/v1/messages", "-", &question("fast")).await;
    assert_eq!(status, 200, "{text}");
    let message: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["model"], "fast");
    assert_eq!(message["stop_reason"], "end_turn");
    let whole = message["content"][0]["text"].as_str().unwrap().to_owned();
    assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let mut streamed = question("fast");
    streamed["stream"] = json!(true);
    let (status, text) = post_anthropic(&base, "/v1/messages", "-", &streamed).await;
    assert_eq!(status, 200, "{text}");
    let events = anthropic_events(&text);
    let (said, usage) = told(&events);
    assert_eq!(said, whole);
    // The upstream's chunks, each rendered as it came: more than one text delta.
    let deltas = events
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .count();
    assert!(deltas > 1, "{text}");
    assert_eq!(
        usage["output_tokens"], message["usage"]["output_tokens"],
        "{text}"
    );
    let (status, text) = post_anthropic(
        &base,
        "/v1/messages/count_tokens",
        "-",
        &json!({"model": "fast", "messages": [{"role": "user", "content": "Hello there"}]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        serde_json::from_str::<Value>(&text).unwrap()["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    // A Messages body without max_tokens is refused as Anthropic refuses it.
    let (status, text) = post_anthropic(
        &base,
        "/v1/messages",
        "-",
        &json!({"model": "fast", "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("max_tokens"), "{text}");
    gw.shutdown().await.unwrap();
}

/// The content pieces of an OpenAI chat stream.
fn chat_pieces(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|piece| !piece.is_empty())
        .collect()
}

#[tokio::test]
async fn claude_and_gemini_entries_stream_chunk_by_chunk_through_the_chat_format() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut gemini = GeminiConfig::new(Some("g-key".into()));
    gemini.base_url = mock.gemini_url();
    let gemini = ModelRoute {
        upstream: Upstream::Provider(Arc::new(GeminiProvider::new(gemini).unwrap())),
        ..openai_route("gem", "gemini-2.5-flash", &mock, None)
    };
    let gw = gateway(GatewayConfig::new(vec![anthropic_route(&mock), gemini])).await;
    for model in ["claude", "gem"] {
        let body = json!({"model": model, "max_tokens": 64, "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Tell me about rate limits."}]});
        let reply = post(&gw.url(), "/chat/completions", None, &body).await;
        assert_eq!(reply.status, 200, "{model}: {}", reply.text);
        assert!(reply.text.ends_with("data: [DONE]\n\n"), "{}", reply.text);
        let pieces = chat_pieces(&reply.text);
        assert!(pieces.len() > 1, "{model} in one piece: {}", reply.text);
        let mut whole_body = body.clone();
        whole_body["stream"] = json!(false);
        let whole = post(&gw.url(), "/chat/completions", None, &whole_body).await;
        assert_eq!(
            whole.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap(),
            pieces.concat(),
            "{model}"
        );
        let usage = reply
            .text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find(|c| c["usage"].is_object())
            .unwrap_or_else(|| panic!("{model}: no usage chunk in {}", reply.text));
        assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    }
    gw.shutdown().await.unwrap();
}
