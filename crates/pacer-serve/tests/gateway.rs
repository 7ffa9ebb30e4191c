//! The gateway in front of `pacer mock`, over loopback only.

use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use pacer_engine::RetryPolicy;
use pacer_limit::Limits;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_providers::openai::OpenAiConfig;
use pacer_serve::{GatewayConfig, GatewayKey, GatewayServer, ModelRoute, Upstream, UsageLog};
use serde_json::{Value, json};

const LOOPBACK: &str = "127.0.0.1:0";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn openai_route(
    name: &str,
    upstream_model: &str,
    mock: &MockServer,
    key: Option<&str>,
) -> ModelRoute {
    let mut config = OpenAiConfig::new(key.map(str::to_owned));
    config.base_url = mock.url();
    ModelRoute {
        name: name.into(),
        upstream_model: upstream_model.into(),
        upstream: Upstream::OpenAi(config),
        limits: Limits::default(),
        concurrency: 64,
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            base: Duration::from_millis(5),
            max_retries: 10,
            ..RetryPolicy::default()
        },
        default_max_tokens: 64,
    }
}

async fn gateway(config: GatewayConfig) -> GatewayServer {
    GatewayServer::start(config, LOOPBACK.parse::<SocketAddr>().unwrap())
        .await
        .expect("gateway starts")
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

async fn post(base: &str, path: &str, key: Option<&str>, body: &Value) -> Reply {
    let mut request = client()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("an HTTP reply");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

async fn get(base: &str, path: &str, key: Option<&str>) -> Reply {
    let mut request = client().get(format!("{base}{path}"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("an HTTP reply");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 16})
}

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
    config.keys = vec![GatewayKey {
        id: "team-a".into(),
        key: "gw-key-a".into(),
    }];
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
async fn a_request_that_would_wait_too_long_gets_429_with_retry_after() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut route = openai_route("m", "gpt-4o-mini", &mock, None);
    route.limits = Limits {
        rpm: NonZeroU64::new(60),
        ..Limits::default()
    };
    let mut config = GatewayConfig::new(vec![route]);
    config.max_queue_wait = Duration::from_millis(200);
    let gw = gateway(config).await;
    let base = gw.url();
    let first = post(&base, "/chat/completions", None, &chat("m", "hi")).await;
    assert_eq!(first.status, 200);
    let second = post(&base, "/chat/completions", None, &chat("m", "hi")).await;
    assert_eq!(second.status, 429, "{}", second.text);
    assert_eq!(second.json()["error"]["code"], "gateway_queue_timeout");
    assert_eq!(second.json()["error"]["type"], "rate_limit_error");
    let retry_after: u64 = second.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(second.headers.contains_key("retry-after-ms"));
    // The refused request never reached the upstream.
    assert_eq!(mock.stats().requests, 1);
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn waiting_requests_are_paced_under_the_limit_and_all_succeed() {
    let mock = MockServer::start(MockServerConfig {
        rpm: Some(600),
        window: Duration::from_secs(1),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let mut route = openai_route("m", "gpt-4o-mini", &mock, None);
    route.limits = Limits {
        rpm: NonZeroU64::new(600),
        ..Limits::default()
    };
    let gw = gateway(GatewayConfig::new(vec![route])).await;
    let base = Arc::new(gw.url());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..25 {
        let base = base.clone();
        tasks.spawn(async move {
            post(
                &base,
                "/chat/completions",
                None,
                &chat("m", &format!("q{i}")),
            )
            .await
            .status
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let stats = mock.stats();
    assert_eq!((stats.ok, stats.rate_limited), (25, 0));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn upstream_server_errors_are_retried() {
    let mock = MockServer::start(MockServerConfig {
        fail_500: 0.5,
        seed: 7,
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let gw = gateway(GatewayConfig::new(vec![openai_route(
        "m",
        "gpt-4o-mini",
        &mock,
        None,
    )]))
    .await;
    let base = gw.url();
    for i in 0..10 {
        let reply = post(
            &base,
            "/chat/completions",
            None,
            &chat("m", &format!("q{i}")),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    // Streams too: a failure before the first byte is retried.
    for i in 0..10 {
        let mut body = chat("m", &format!("s{i}"));
        body["stream"] = json!(true);
        let reply = post(&base, "/chat/completions", None, &body).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert!(reply.text.ends_with("data: [DONE]\n\n"), "{}", reply.text);
    }
    let stats = mock.stats();
    assert!(stats.server_errors > 0, "{stats:?}");
    assert_eq!(stats.ok, 20);
    let metrics = get(&format!("http://{}", gw.addr()), "/metrics", None)
        .await
        .text;
    let attempts = format!(
        "pacer_upstream_attempts_total{{model=\"m\"}} {}",
        20 + stats.server_errors
    );
    assert!(metrics.contains(&attempts), "{metrics}");
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

#[tokio::test]
async fn streams_pass_through_and_their_usage_is_counted() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let gw = gateway(GatewayConfig::new(vec![openai_route(
        "m",
        "gpt-4o-mini",
        &mock,
        None,
    )]))
    .await;
    let mut body = chat("m", "Tell me a story");
    body["stream"] = json!(true);
    let reply = post(&gw.url(), "/chat/completions", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let chunks: Vec<Value> = reply
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!text.is_empty());
    let output = chunks.last().unwrap()["usage"]["completion_tokens"]
        .as_u64()
        .unwrap();
    assert!(reply.text.ends_with("data: [DONE]\n\n"));
    // Give the stream's end a moment to be recorded.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let metrics = get(&format!("http://{}", gw.addr()), "/metrics", None)
        .await
        .text;
    assert!(
        metrics.contains(&format!(
            "pacer_tokens_total{{model=\"m\",kind=\"output\"}} {output}"
        )),
        "{metrics}"
    );
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_usage_log_and_metrics_hold_no_key_and_no_text() {
    let mock = MockServer::start(MockServerConfig {
        api_key: Some("sk-upstream-secret-987654".into()),
        ..MockServerConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("usage.jsonl");
    let mut config = GatewayConfig::new(vec![openai_route(
        "m",
        "gpt-4o-mini",
        &mock,
        Some("sk-upstream-secret-987654"),
    )]);
    config.keys = vec![GatewayKey {
        id: "team-a".into(),
        key: "gw-secret-a".into(),
    }];
    config.usage_log = UsageLog::File(log.clone());
    let gw = gateway(config).await;
    let ok = post(
        &gw.url(),
        "/chat/completions",
        Some("gw-secret-a"),
        &chat("m", "PROMPT-MARKER"),
    )
    .await;
    assert_eq!(ok.status, 200);
    let refused = post(
        &gw.url(),
        "/chat/completions",
        Some("gw-secret-b"),
        &chat("m", "PROMPT-MARKER"),
    )
    .await;
    assert_eq!(refused.status, 401);
    let metrics = get(&format!("http://{}", gw.addr()), "/metrics", None)
        .await
        .text;
    gw.shutdown().await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["model"], "m");
    assert_eq!(lines[0]["client"], "team-a");
    assert_eq!(lines[0]["status"], 200);
    assert!(lines[0]["input_tokens"].as_u64().unwrap() > 0);
    assert!(lines[0]["output_tokens"].as_u64().unwrap() > 0);
    assert!(lines[0]["latency_ms"].as_f64().is_some());
    assert_eq!(lines[1]["status"], 401);
    assert_eq!(lines[1]["error_kind"], "Auth");
    assert!(
        metrics.contains("pacer_requests_total{model=\"m\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pacer_client_requests_total{client=\"team-a\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pacer_queue_wait_seconds_count{model=\"m\"} 1"),
        "{metrics}"
    );
    for secret in ["sk-upstream", "gw-secret", "PROMPT-MARKER"] {
        assert!(!text.contains(secret), "{secret} in the log: {text}");
        assert!(!metrics.contains(secret), "{secret} in the metrics");
    }
}

#[tokio::test]
async fn each_gateway_key_may_have_its_own_rate_limit() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut config = GatewayConfig::new(vec![openai_route("m", "gpt-4o-mini", &mock, None)]);
    config.keys = vec![
        GatewayKey {
            id: "a".into(),
            key: "key-a".into(),
        },
        GatewayKey {
            id: "b".into(),
            key: "key-b".into(),
        },
    ];
    config.client_rpm = Some(60);
    config.max_queue_wait = Duration::from_millis(200);
    let gw = gateway(config).await;
    let base = gw.url();
    assert_eq!(
        post(&base, "/chat/completions", Some("key-a"), &chat("m", "1"))
            .await
            .status,
        200
    );
    let second = post(&base, "/chat/completions", Some("key-a"), &chat("m", "2")).await;
    assert_eq!(second.status, 429, "{}", second.text);
    assert_eq!(second.json()["error"]["code"], "gateway_client_rate_limit");
    assert!(second.headers.contains_key("retry-after"));
    // Another key has its own allowance.
    assert_eq!(
        post(&base, "/chat/completions", Some("key-b"), &chat("m", "3"))
            .await
            .status,
        200
    );
    assert_eq!(mock.stats().requests, 2);
    gw.shutdown().await.unwrap();
}
