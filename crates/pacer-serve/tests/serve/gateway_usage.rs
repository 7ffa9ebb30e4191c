//! What the gateway in front of `pacer mock` counts, over loopback only: streams passed
//! through with their usage in the metrics, and a usage log and metrics that hold no key and
//! no prompt text.

use crate::common::*;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_serve::{GatewayConfig, GatewayKey, UsageLog};
use serde_json::{Value, json};

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
    // The stream is recorded as it ends, before its last byte reaches the client.
    assert!(reply.text.ends_with("data: [DONE]\n\n"));
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
    config.keys = vec![GatewayKey::new("team-a", "gw-secret-a")];
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
async fn a_keys_budget_is_charged_for_its_streams_at_their_end() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut config = GatewayConfig::new(vec![openai_route("m", "gpt-4o-mini", &mock, None)]);
    let mut key = GatewayKey::new("a", "key-a");
    key.budget_tokens = Some(200);
    config.keys = vec![key];
    let gw = gateway(config).await;
    let mut body = chat("m", "Tell me a story");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(40);
    // Each stream holds ~50 tokens while it runs and is charged its usage at its end: the
    // budget runs out after a few, never if streams were not charged.
    let mut streamed = 0;
    let refused = loop {
        let reply = post(&gw.url(), "/chat/completions", Some("key-a"), &body).await;
        if reply.status != 200 {
            break reply;
        }
        assert!(reply.text.ends_with("data: [DONE]\n\n"));
        streamed += 1;
        assert!(streamed < 20, "streams were never charged");
    };
    assert!(streamed >= 2, "{streamed}");
    assert_eq!(refused.status, 429, "{}", refused.text);
    let error: Value = serde_json::from_str(&refused.text).unwrap();
    assert_eq!(error["error"]["type"], "insufficient_quota");
    gw.shutdown().await.unwrap();
}
