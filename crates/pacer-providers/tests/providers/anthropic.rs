//! The Anthropic provider against a loopback server: the requests it sends, the replies it
//! reads, the rate-limit headers it learns from, and what it tells the engine.

use std::time::{Duration, SystemTime};

use crate::support::{Reply, Server};
use axum::http::Method;
use pacer_core::{
    Accounting, BatchInput, BatchPhase, ErrorKind, FinishReason, Message, Provider, Request, Role,
    Usage, estimate_tokens, parse_rfc3339,
};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider, DEFAULT_BASE_URL};
use serde_json::{Value, json};

const KEY: &str = "sk-ant-api03-SECRETsecret0123456789";

fn provider(server: &Server, key: Option<&str>) -> AnthropicProvider {
    let mut config = AnthropicConfig::new(key.map(str::to_owned));
    config.base_url = server.root.clone();
    AnthropicProvider::new(config).unwrap()
}

fn message(content: Value, stop_reason: &str, usage: Value) -> Value {
    json!({
        "id": "msg_01", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason, "stop_sequence": null,
        "usage": usage
    })
}

fn hello() -> Value {
    message(
        json!([{"type": "text", "text": "Hi!"}]),
        "end_turn",
        json!({"input_tokens": 12, "output_tokens": 3}),
    )
}

#[tokio::test]
async fn request_carries_key_version_and_every_parameter() {
    let server = Server::start(Reply::ok(&hello())).await;
    let mut config = AnthropicConfig::new(Some(KEY.into()));
    config.base_url = format!("{}/", server.root);
    config.headers = vec![("anthropic-beta".into(), "prompt-caching-2024-07-31".into())];
    let provider = AnthropicProvider::new(config).unwrap();
    assert_eq!(provider.url(), format!("{}/v1/messages", server.root));

    let mut request = Request::text("claude-sonnet-4-5", Some("Be brief."), "Hello");
    request.messages.push(Message::new(Role::Assistant, "Hi."));
    request
        .messages
        .push(Message::new(Role::System, "Be kind."));
    request.messages.push(Message::new(Role::User, "Again"));
    let p = &mut request.params;
    p.temperature = Some(0.5);
    p.top_p = Some(0.9);
    p.top_k = Some(40);
    p.max_tokens = Some(64);
    p.stop = vec!["END".into()];
    // Not in Anthropic's API: never sent.
    p.n = 3;
    p.seed = Some(7);
    p.logprobs = true;
    p.extra.insert("metadata".into(), json!({"user_id": "u-1"}));
    provider.send(&request).await.unwrap();

    let seen = server.only();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.query, None);
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        seen.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(seen.header("authorization"), None);
    assert!(
        seen.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert!(seen.header("user-agent").unwrap().starts_with("pacer/"));
    assert_eq!(
        seen.body,
        json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi."},
                {"role": "user", "content": "Again"}
            ],
            "max_tokens": 64,
            "system": "Be brief.\n\nBe kind.",
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"}
        })
    );
    let body: Value = serde_json::from_slice(&provider.body(&request).unwrap()).unwrap();
    assert_eq!(seen.body, body);
}

#[tokio::test]
async fn unset_parameters_are_left_out_and_max_tokens_defaults() {
    let server = Server::start(Reply::ok(&hello())).await;
    let mut config = AnthropicConfig::new(None);
    config.base_url = server.root.clone();
    config.default_max_tokens = 1000;
    config.version = "2099-01-01".into();
    let provider = AnthropicProvider::new(config).unwrap();
    provider
        .send(&Request::text("claude-haiku-4-5", None, "Hi"))
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!(seen.header("x-api-key"), None);
    assert_eq!(seen.header("anthropic-version"), Some("2099-01-01"));
    assert_eq!(
        seen.body,
        json!({
            "model": "claude-haiku-4-5",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 1000
        })
    );
    assert_eq!(AnthropicConfig::new(None).default_max_tokens, 4096);
}

#[tokio::test]
async fn reply_text_usage_and_model_version() {
    let content = json!([
        {"type": "thinking", "thinking": "Let me see.", "signature": "sig"},
        {"type": "text", "text": "Paris"},
        {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
        {"type": "text", "text": " is the capital."}
    ]);
    let usage = json!({
        "input_tokens": 20, "output_tokens": 9,
        "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000
    });
    let server = Server::start(Reply::ok(&message(content, "end_turn", usage))).await;
    let response = provider(&server, Some(KEY))
        .send(&Request::text(
            "claude-opus-4-1",
            None,
            "Capital of France?",
        ))
        .await
        .unwrap();
    assert_eq!(
        response.model_version.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
    assert_eq!(response.choices.len(), 1);
    assert_eq!(response.choices[0].text, "Paris is the capital.");
    assert_eq!(response.choices[0].finish_reason, FinishReason::Stop);
    assert_eq!(response.choices[0].logprobs, None);
    // Anthropic's input_tokens leaves out cache writes and reads; Usage counts them in.
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 2120,
            output_tokens: 9,
            reasoning_tokens: 0,
            cached_input_tokens: 2000,
        }
    );
    assert_eq!(response.rate_limits, None);
}

#[tokio::test]
async fn stop_reasons_map_to_finish_reasons() {
    let cases = [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::Refusal),
        ("pause_turn", FinishReason::Other("pause_turn".into())),
    ];
    for (stop_reason, expected) in cases {
        let reply = message(
            json!([{"type": "text", "text": "x"}]),
            stop_reason,
            json!({"input_tokens": 1, "output_tokens": 1}),
        );
        let server = Server::start(Reply::ok(&reply)).await;
        let response = provider(&server, None)
            .send(&Request::text("claude-x", None, "Hi"))
            .await
            .unwrap();
        assert_eq!(response.choices[0].finish_reason, expected, "{stop_reason}");
    }
}

#[tokio::test]
async fn rate_limit_headers_become_readings_with_resets_from_now() {
    let far = "2999-01-01T00:00:00Z";
    let reply = Reply::ok(&hello())
        .header("anthropic-ratelimit-requests-limit", "50")
        .header("anthropic-ratelimit-requests-remaining", "49")
        .header("anthropic-ratelimit-requests-reset", far)
        .header("anthropic-ratelimit-tokens-limit", "90000")
        .header("anthropic-ratelimit-tokens-remaining", "89000")
        .header("anthropic-ratelimit-input-tokens-limit", "80000")
        .header("anthropic-ratelimit-input-tokens-remaining", "79500")
        .header(
            "anthropic-ratelimit-input-tokens-reset",
            "2020-01-01T00:00:00Z",
        )
        .header("anthropic-ratelimit-output-tokens-limit", "16000")
        .header("anthropic-ratelimit-output-tokens-remaining", "15997")
        .header(
            "anthropic-ratelimit-output-tokens-reset",
            "2999-01-01T01:00:00+01:00",
        );
    let server = Server::start(reply).await;
    let before = SystemTime::now();
    let response = provider(&server, Some(KEY))
        .send(&Request::text("claude-x", None, "Hi"))
        .await
        .unwrap();
    let after = SystemTime::now();
    let limits = response.rate_limits.expect("the headers are read");
    assert_eq!(limits.requests.limit, Some(50));
    assert_eq!(limits.requests.remaining, Some(49));
    let at = parse_rfc3339(far).unwrap();
    let reset = limits.requests.reset.unwrap();
    assert!(reset <= at.duration_since(before).unwrap(), "{reset:?}");
    assert!(reset >= at.duration_since(after).unwrap(), "{reset:?}");
    assert_eq!(limits.output_tokens.reset, Some(reset));
    // The combined tokens headers name the tighter of input and output: not learnt.
    assert!(limits.tokens.is_empty());
    assert_eq!(limits.input_tokens.remaining, Some(79500));
    // A reset already past is no wait at all.
    assert_eq!(limits.input_tokens.reset, Some(Duration::ZERO));
    assert_eq!(limits.output_tokens.limit, Some(16000));
}

#[test]
fn what_the_provider_tells_the_engine() {
    let provider = AnthropicProvider::new(AnthropicConfig::new(None)).unwrap();
    assert_eq!(provider.kind(), "anthropic");
    assert_eq!(provider.accounting(), Accounting::Actual);
    assert_eq!(provider.max_samples_per_call("claude-sonnet-4-5"), 1);
    assert!(provider.reports_rate_limits());
    assert_eq!(provider.url(), format!("{DEFAULT_BASE_URL}/v1/messages"));
    let request = Request::text("claude-x", Some("Be brief."), &"word ".repeat(400));
    let neutral = estimate_tokens(&request.messages);
    let estimate = provider.estimate_input_tokens(&request);
    assert!(
        estimate > neutral && estimate <= neutral * 6 / 5,
        "{estimate} vs {neutral}"
    );
}

#[test]
fn config_checks_and_redaction() {
    let config = AnthropicConfig::new(Some(KEY.into()));
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("SECRET") && debug.contains("[redacted]"),
        "{debug}"
    );
    let debug = format!("{:?}", AnthropicProvider::new(config).unwrap());
    assert!(!debug.contains("SECRET"), "{debug}");

    for base_url in ["api.anthropic.com", "ftp://x", ""] {
        let mut config = AnthropicConfig::new(None);
        config.base_url = base_url.into();
        let error = AnthropicProvider::new(config).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config, "{base_url}");
    }
    let error = AnthropicProvider::new(AnthropicConfig::new(Some("bad\nkey".into()))).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Config);
    assert!(!error.message.contains("bad\nkey"));
    let mut config = AnthropicConfig::new(None);
    config.headers = vec![("bad header".into(), "v".into())];
    assert_eq!(
        AnthropicProvider::new(config).unwrap_err().kind,
        ErrorKind::Config
    );
}

/// Writes `requests` as a batch's lines file, as the batch runner does.
fn lines_file(provider: &dyn Provider, requests: &[(&str, Request)]) -> tempfile::NamedTempFile {
    let api = provider.batch_api().unwrap();
    let mut text = Vec::new();
    for (id, request) in requests {
        text.extend(api.line(id, request).unwrap());
        text.push(b'\n');
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[tokio::test]
async fn a_batch_is_created_with_its_lines_as_the_request_list() {
    let batch = json!({
        "id": "msgbatch_01", "type": "message_batch", "processing_status": "in_progress",
        "request_counts": {"processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "ended_at": null, "created_at": "2026-11-24T03:00:30.100435Z",
        "expires_at": "2026-11-25T03:00:30.100435Z", "cancel_initiated_at": null,
        "results_url": null
    });
    let server = Server::start(Reply::ok(&batch)).await;
    let provider = provider(&server, Some(KEY));
    let first = Request::text("claude-x", Some("Be brief."), "One");
    let second = Request::text("claude-x", None, "Two");
    let file = lines_file(
        &provider,
        &[("t-0", first.clone()), ("t-1", second.clone())],
    );
    let input = BatchInput {
        model: "claude-x",
        tag: "t",
        lines: file.path(),
        count: 2,
        uploaded: None,
    };
    let api = provider.batch_api().unwrap();
    assert_eq!(api.upload(file.path(), "t").await.unwrap(), None);
    let status = api.create(input).await.unwrap();
    assert_eq!(status.id, "msgbatch_01");
    assert_eq!((status.phase, status.total), (BatchPhase::Running, 2));

    let seen = server.only();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, "/v1/messages/batches");
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    let body = |request: &Request| -> Value {
        serde_json::from_slice(&provider.body(request).unwrap()).unwrap()
    };
    assert_eq!(
        seen.body,
        json!({"requests": [
            {"custom_id": "t-0", "params": body(&first)},
            {"custom_id": "t-1", "params": body(&second)}
        ]})
    );
}

#[tokio::test]
async fn a_batch_over_the_queue_limit_is_rate_limited() {
    let error = json!({"type": "error", "error": {"type": "rate_limit_error",
        "message": format!("Too many batch requests in queue for key {KEY}")}});
    let server = Server::start(Reply::json(429, &error)).await;
    let provider = provider(&server, Some(KEY));
    let file = lines_file(
        &provider,
        &[("t-0", Request::text("claude-x", None, "One"))],
    );
    let input = BatchInput {
        model: "claude-x",
        tag: "t",
        lines: file.path(),
        count: 1,
        uploaded: None,
    };
    let error = provider
        .batch_api()
        .unwrap()
        .create(input)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert!(!error.message.contains("SECRET"), "{}", error.message);
}
