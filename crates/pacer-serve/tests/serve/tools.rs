//! Chat completions with content parts and tools on the entries the gateway translates:
//! images, assistant tool calls and tool results reach the provider; a reply's tool calls
//! come back in `message.tool_calls` and in a stream's `delta.tool_calls` (its id and name,
//! then its arguments in pieces, as OpenAI streams them); a malformed
//! body is a 400 naming its field; and the estimate a request is paced by counts its images
//! and its tools, on translated and passed-through entries alike.

use std::num::NonZeroU64;
use std::sync::Arc;

use pacer_limit::Limits;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::MockProvider;
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_serve::{GatewayConfig, ModelRoute, Upstream};
use serde_json::{Value, json};

use crate::common::in_process::{self, CHAT, events, route};
use crate::common::{gateway, openai_route, post};

/// The `weather` tool, in the chat format.
fn weather() -> Value {
    json!({"type": "function", "function": {"name": "weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

/// A 1024 × 512 PNG's head, inline: enough for its size to be read.
const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAABAAAAAIACAYAAAA=";

#[tokio::test(start_paused = true)]
async fn tool_calls_come_back_in_the_message_and_in_the_stream() {
    let provider = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![route("m", &provider, None)])).unwrap();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "How warm is Paris?"}],
        "tools": [weather()], "tool_choice": {"type": "function", "function": {"name": "weather"}}});
    let reply = in_process::post(&app, CHAT, None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let choice = &reply.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(
        (&call["type"], &call["function"]["name"]),
        (&json!("function"), &json!("weather"))
    );
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let reply = in_process::post(&app, CHAT, None, &streamed).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let chunks = events(&reply.text);
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    // As OpenAI streams a call: its id and name first, then its arguments in pieces.
    assert!(deltas.iter().all(|d| d[0]["index"] == 0), "{}", reply.text);
    assert_eq!(deltas[0][0]["id"], call["id"]);
    assert_eq!(deltas[0][0]["function"]["name"], "weather");
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d[0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, call["function"]["arguments"].as_str().unwrap());
    let finish = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect::<Vec<_>>();
    assert_eq!(finish, ["tool_calls"]);
    assert!(reply.text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test(start_paused = true)]
async fn images_tool_calls_and_results_reach_the_provider_and_bad_parts_name_their_field() {
    let provider = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![route("m", &provider, None)])).unwrap();
    let conversation = json!({"model": "m", "tools": [weather()], "messages": [
        {"role": "user", "content": [{"type": "text", "text": "What is in this picture, and the weather?"},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees and sunny"}]});
    let reply = in_process::post(&app, CHAT, None, &conversation).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let text = reply.body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    // The mock's answer to a tool result quotes it.
    assert!(text.contains("sunny"), "{text}");
    for (body, field) in [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}),
            "messages[0].content[1].image_url.url",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "18"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "function", "function": {"description": "no name"}}]}),
            "tools[0].function.name",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": 7}),
            "tool_choice",
        ),
    ] {
        let reply = in_process::post(&app, CHAT, None, &body).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        let error = &reply.body["error"];
        assert_eq!(error["param"], field, "{error}");
        assert_eq!(error["type"], "invalid_request_error");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("field `{field}`: expected ")),
            "{message}"
        );
    }
    assert_eq!(provider.calls(), 1);
}

/// A route to the in-process mock with a token limit of 600 a minute.
fn capped(provider: &Arc<MockProvider>) -> ModelRoute {
    ModelRoute {
        limits: Limits {
            tpm: NonZeroU64::new(600),
            ..Limits::default()
        },
        ..route("m", provider, None)
    }
}

#[tokio::test(start_paused = true)]
async fn the_estimate_counts_images_and_tools() {
    let provider = Arc::new(MockProvider::default());
    let app = pacer_serve::router(GatewayConfig::new(vec![capped(&provider)])).unwrap();
    let with_image = |detail: &str| {
        json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": detail}}]}]})
    };
    // An image of unknown size at high detail is counted as a large one (765 tokens by
    // OpenAI's rule, which the mock bills by): more than the whole limit.
    let large = in_process::post(&app, CHAT, None, &with_image("high")).await;
    assert_eq!(large.status, 400, "{}", large.text);
    assert_eq!(large.body["error"]["code"], "request_exceeds_limit");
    // At low detail it is 85.
    let small = in_process::post(&app, CHAT, None, &with_image("low")).await;
    assert_eq!(small.status, 200, "{}", small.text);
    // A tool's definition is prompt too: 3,000 characters of it pass the limit.
    let mut tool = weather();
    tool["function"]["description"] = json!("word ".repeat(600));
    let tooled = json!({"model": "m", "max_tokens": 16, "tools": [tool],
        "messages": [{"role": "user", "content": "hi"}]});
    let reply = in_process::post(&app, CHAT, None, &tooled).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["error"]["code"], "request_exceeds_limit");
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn a_passed_through_body_is_paced_with_its_images_and_a_claude_entry_gets_them() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut anthropic = AnthropicConfig::new(Some("sk-ant-test".into()));
    anthropic.base_url = mock.anthropic_url();
    let gw = gateway(GatewayConfig::new(vec![
        ModelRoute {
            limits: Limits {
                tpm: NonZeroU64::new(600),
                ..Limits::default()
            },
            ..openai_route("gpt", "gpt-4o-mini", &mock, None)
        },
        ModelRoute {
            upstream: Upstream::Provider(Arc::new(AnthropicProvider::new(anthropic).unwrap())),
            ..openai_route("claude", "claude-x", &mock, None)
        },
    ]))
    .await;
    let with_image = |model: &str, url: &str| {
        json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]})
    };
    let refused = post(
        &gw.url(),
        "/chat/completions",
        None,
        &with_image("gpt", "https://example.com/a.png"),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"]["code"], "request_exceeds_limit");
    assert_eq!(mock.stats().openai_requests, 0);
    let reply = post(
        &gw.url(),
        "/chat/completions",
        None,
        &with_image("claude", PNG),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["object"], "chat.completion");
    let stats = mock.stats();
    assert_eq!(stats.anthropic_requests, 1);
    // Billed as Anthropic bills a 1024 × 512 image (700 tokens; 1,590 for one of unknown
    // size), and the text.
    assert!((701..800).contains(&stats.prompt_tokens), "{stats:?}");
    gw.shutdown().await.unwrap();
}
