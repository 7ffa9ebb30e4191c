//! The gateway in front of `pacer mock`, over loopback only: requests routed by model, gateway
//! keys and body limits, a Claude entry reached through OpenAI's chat format, and an
//! upstream's final error passed back in OpenAI's shape.

use std::sync::Arc;

use crate::common::*;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_serve::{GatewayConfig, GatewayKey, ModelRoute, Upstream};
use serde_json::json;

#[tokio::test]
async fn requests_are_routed_by_model_and_models_are_listed() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let gw = gateway(GatewayConfig::new(vec![
        openai_route("small", "gpt-4o-mini", &mock, None),
        openai_route("large", "gpt-4o", &mock, None),
    ]))
    .await;
    let base = gw.url();
    let a = post(&base, "/chat/completions", None, &chat("small", "hi")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.json()["model"]
            .as_str()
            .unwrap()
            .starts_with("gpt-4o-mini")
    );
    let b = post(&base, "/chat/completions", None, &chat("large", "hi")).await;
    assert!(
        b.json()["model"]
            .as_str()
            .unwrap()
            .starts_with("gpt-4o-mock")
    );
    assert!(b.json()["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let unknown = post(&base, "/chat/completions", None, &chat("nope", "hi")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "model_not_found");
    let models = get(&base, "/models", None).await.json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["small", "large"]);
    let completion = post(
        &base,
        "/completions",
        None,
        &json!({"model": "small", "prompt": "Once", "max_tokens": 5}),
    )
    .await;
    assert_eq!(completion.status, 200, "{}", completion.text);
    assert_eq!(completion.json()["object"], "text_completion");
    assert_eq!(mock.stats().openai_requests, 3);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn gateway_keys_are_required_and_bodies_are_limited() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut config = GatewayConfig::new(vec![openai_route("m", "gpt-4o-mini", &mock, None)]);
    config.keys = vec![GatewayKey::new("team-a", "gw-key-a")];
    config.max_body_bytes = 1_000;
    let gw = gateway(config).await;
    let base = gw.url();
    let missing = post(&base, "/chat/completions", None, &chat("m", "hi")).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["error"]["code"], "invalid_api_key");
    let wrong = post(
        &base,
        "/chat/completions",
        Some("gw-key-b"),
        &chat("m", "hi"),
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(get(&base, "/models", None).await.status, 401);
    let ok = post(
        &base,
        "/chat/completions",
        Some("gw-key-a"),
        &chat("m", "hi"),
    )
    .await;
    assert_eq!(ok.status, 200);
    let big = post(
        &base,
        "/chat/completions",
        Some("gw-key-a"),
        &chat("m", &"x".repeat(2_000)),
    )
    .await;
    assert_eq!(big.status, 413);
    assert_eq!(big.json()["error"]["code"], "request_too_large");
    let health = get(&format!("http://{}", gw.addr()), "/health", None).await;
    assert_eq!(health.status, 200);
    // Only the one good request reached the upstream.
    assert_eq!(mock.stats().requests, 1);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_final_upstream_error_comes_back_in_openais_shape_without_the_upstream_key() {
    let mock = MockServer::start(MockServerConfig {
        api_key: Some("sk-the-right-key-000".into()),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let gw = gateway(GatewayConfig::new(vec![openai_route(
        "m",
        "gpt-4o-mini",
        &mock,
        Some("sk-wrong-upstream-key-123"),
    )]))
    .await;
    let reply = post(&gw.url(), "/chat/completions", None, &chat("m", "hi")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.json()["error"]["code"], "Auth");
    assert!(!reply.text.contains("wrong-upstream"), "{}", reply.text);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_claude_entry_is_reached_through_openais_chat_format() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut config = AnthropicConfig::new(Some("sk-ant-test".into()));
    config.base_url = mock.anthropic_url();
    let provider = Arc::new(AnthropicProvider::new(config).unwrap());
    let route = ModelRoute {
        upstream: Upstream::Provider(provider),
        ..openai_route("claude", "claude-x", &mock, None)
    };
    let gw = gateway(GatewayConfig::new(vec![route])).await;
    let body = json!({"model": "claude", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "Hello there"}], "max_tokens": 32});
    let reply = post(&gw.url(), "/chat/completions", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let completion = reply.json();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], "claude");
    assert_eq!(completion["choices"][0]["message"]["role"], "assistant");
    assert!(
        !completion["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let usage = &completion["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let events = post(&gw.url(), "/chat/completions", None, &streamed).await;
    assert_eq!(events.headers["content-type"], "text/event-stream");
    assert!(
        events.text.contains("chat.completion.chunk") && events.text.ends_with("data: [DONE]\n\n"),
        "{}",
        events.text
    );
    assert_eq!(mock.stats().anthropic_requests, 2);
    gw.shutdown().await.unwrap();
}
