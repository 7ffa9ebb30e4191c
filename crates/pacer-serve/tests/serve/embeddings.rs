//! `POST /v1/embeddings`: an OpenAI-compatible entry's reach `pacer mock`'s endpoint, a
//! Gemini entry's its `batchEmbedContents`, the in-process mock's are answered in process,
//! all written back in OpenAI's list (floats or base64); an Anthropic entry's are refused
//! before they are paced. An embedding request is paced by its inputs alone and counted in
//! the usage log and the metrics like the others.

use std::num::NonZeroU64;
use std::sync::Arc;

use base64::Engine;
use pacer_limit::Limits;
use pacer_mock::{MockServer, MockServerConfig};
use pacer_providers::MockProvider;
use pacer_providers::anthropic::{AnthropicConfig, AnthropicProvider};
use pacer_providers::gemini::{GeminiConfig, GeminiProvider};
use pacer_providers::mock::embedding;
use pacer_serve::{GatewayConfig, ModelRoute, Upstream, UsageLog};
use serde_json::{Value, json};

use crate::common::in_process::{self, CHAT, route};
use crate::common::{gateway, openai_route, post};

/// The vectors of an embeddings list, decoded from floats or base64.
fn vectors(list: &Value) -> Vec<Vec<f32>> {
    let data = list["data"].as_array().expect("a list of embeddings");
    data.iter()
        .enumerate()
        .map(|(i, item)| {
            assert_eq!(
                (&item["object"], &item["index"]),
                (&json!("embedding"), &json!(i))
            );
            match &item["embedding"] {
                Value::String(text) => base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                Value::Array(numbers) => {
                    numbers.iter().map(|x| x.as_f64().unwrap() as f32).collect()
                }
                other => panic!("an embedding is {other}"),
            }
        })
        .collect()
}

#[tokio::test]
async fn an_openai_entry_embeds_through_the_upstream_as_floats_or_base64() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let gw = gateway(GatewayConfig::new(vec![openai_route(
        "emb",
        "text-embedding-3-small",
        &mock,
        None,
    )]))
    .await;
    let body = json!({"model": "emb", "input": ["alpha", "beta"], "dimensions": 8, "user": "u1"});
    let reply = post(&gw.url(), "/embeddings", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let list = reply.json();
    assert_eq!(
        (&list["object"], &list["model"]),
        (&json!("list"), &json!("emb"))
    );
    let expected: Vec<Vec<f32>> = ["alpha", "beta"]
        .iter()
        .map(|text| embedding("text-embedding-3-small", text, 8))
        .collect();
    assert_eq!(vectors(&list), expected);
    let prompt_tokens = list["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt_tokens > 0);
    assert_eq!(list["usage"]["total_tokens"], prompt_tokens);
    let mut packed = body.clone();
    packed["encoding_format"] = json!("base64");
    let reply = post(&gw.url(), "/embeddings", None, &packed).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.json()["data"][0]["embedding"].is_string());
    assert_eq!(vectors(&reply.json()), expected);
    let stats = mock.stats();
    assert_eq!((stats.embedding_requests, stats.embedding_inputs), (2, 4));
    gw.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_gemini_entry_embeds_and_an_anthropic_entry_is_refused_before_it_is_paced() {
    let mock = MockServer::start(MockServerConfig::default())
        .await
        .unwrap();
    let mut gemini = GeminiConfig::new(Some("g-key".into()));
    gemini.base_url = mock.gemini_url();
    let mut anthropic = AnthropicConfig::new(Some("sk-ant-test".into()));
    anthropic.base_url = mock.anthropic_url();
    let gw = gateway(GatewayConfig::new(vec![
        ModelRoute {
            upstream: Upstream::Provider(Arc::new(GeminiProvider::new(gemini).unwrap())),
            ..openai_route("gem", "gemini-embedding-001", &mock, None)
        },
        ModelRoute {
            upstream: Upstream::Provider(Arc::new(AnthropicProvider::new(anthropic).unwrap())),
            ..openai_route("claude", "claude-x", &mock, None)
        },
    ]))
    .await;
    let body = json!({"model": "gem", "input": ["one", "two", "three"], "dimensions": 16});
    let reply = post(&gw.url(), "/embeddings", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let list = reply.json();
    assert_eq!(list["model"], "gem");
    let got = vectors(&list);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|v| v.len() == 16), "{list}");
    assert_eq!(mock.stats().gemini_requests, 1);
    let refused = post(
        &gw.url(),
        "/embeddings",
        None,
        &json!({"model": "claude", "input": "hi"}),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let error = &refused.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "embeddings_not_served");
    assert!(
        error["message"].as_str().unwrap().contains("anthropic"),
        "{error}"
    );
    assert_eq!(mock.stats().anthropic_requests, 0);
    gw.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_embedding_request_is_paced_by_its_inputs_alone_and_counted() {
    let provider = Arc::new(MockProvider::default());
    // A token limit below the entry's output cap: no chat request fits it, while an
    // embedding request, which writes nothing, reserves no output.
    let capped = ModelRoute {
        limits: Limits {
            tpm: NonZeroU64::new(2_000),
            ..Limits::default()
        },
        max_tokens: Some(5_000),
        ..route("emb", &provider, None)
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("usage.jsonl");
    let mut config = GatewayConfig::new(vec![capped]);
    config.usage_log = UsageLog::File(log.clone());
    let app = pacer_serve::router(config).unwrap();
    let body = json!({"model": "emb", "input": "hello there", "dimensions": 4});
    let reply = in_process::post(&app, "/v1/embeddings", None, &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(vectors(&reply.body), [embedding("emb", "hello there", 4)]);
    let chat = in_process::post(
        &app,
        CHAT,
        None,
        &json!({"model": "emb", "messages": [
        {"role": "user", "content": "hello there"}]}),
    )
    .await;
    assert_eq!(chat.status, 400, "{}", chat.text);
    assert_eq!(chat.body["error"]["code"], "request_exceeds_limit");
    let malformed = in_process::post(
        &app,
        "/v1/embeddings",
        None,
        &json!({"model": "emb", "input": [[1, 2, 3]]}),
    )
    .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_eq!(malformed.body["error"]["param"], "input");
    assert!(
        malformed.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("field `input`: expected a string or a non-empty list of strings"),
        "{}",
        malformed.text
    );
    assert_eq!(provider.calls(), 1);
    let metrics = in_process::get(&app, "/metrics").await.text;
    assert!(
        metrics.contains("pacer_requests_total{model=\"emb\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pacer_tokens_total{model=\"emb\",kind=\"output\"} 0"),
        "{metrics}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(
        (&first["endpoint"], &first["status"]),
        (&json!("embeddings"), &json!(200))
    );
    assert!(first["input_tokens"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(first["output_tokens"], 0);
    assert_eq!(lines[2]["endpoint"], "embeddings");
    assert_eq!(lines[2]["error_kind"], "BadRequest");
}
