//! Gemini embeddings through `batchEmbedContents`: the request each input makes, the vectors
//! read back in order, the estimated usage, and the replies and requests refused.

use crate::support::{Reply, Server, refusing_root};
use pacer_core::{ErrorKind, Provider, Request};
use pacer_providers::gemini::{EMBED_BATCH_LIMIT, GeminiConfig, GeminiProvider};
use serde_json::json;

const KEY: &str = "AIzaSyTEST-SECRETsecret0123456789abcd";

fn provider(root: &str) -> GeminiProvider {
    let mut config = GeminiConfig::new(Some(KEY.into()));
    config.base_url = format!("{root}/v1beta");
    GeminiProvider::new(config).unwrap()
}

fn vectors() -> serde_json::Value {
    json!({"embeddings": [
        {"values": [0.25, -0.5, 1.0]},
        {"values": [0.0, 0.125, -1.0]}
    ]})
}

#[tokio::test]
async fn inputs_go_to_batch_embed_contents_and_come_back_in_order() {
    let server = Server::start(Reply::ok(&vectors())).await;
    let provider = provider(&server.root);
    let mut request = Request::embedding(
        "gemini-embedding-001",
        vec!["first text".into(), "second".into()],
    );
    request
        .params
        .extra
        .insert("output_dimensionality".into(), json!(3));
    request
        .params
        .extra
        .insert("task_type".into(), json!("SEMANTIC_SIMILARITY"));
    let response = provider.send(&request).await.unwrap();

    let seen = server.only();
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    assert!(seen.query.is_none());
    let each = |text: &str| {
        json!({
            "model": "models/gemini-embedding-001",
            "content": {"parts": [{"text": text}]},
            "taskType": "SEMANTIC_SIMILARITY",
            "outputDimensionality": 3
        })
    };
    assert_eq!(
        seen.body,
        json!({"requests": [each("first text"), each("second")]})
    );

    assert!(response.choices.is_empty());
    assert_eq!(
        response.embeddings,
        vec![vec![0.25, -0.5, 1.0], vec![0.0, 0.125, -1.0]]
    );
    // No token count in the reply: the provider's own estimate of the inputs.
    assert_eq!(
        response.usage.input_tokens,
        provider.estimate_input_tokens(&request)
    );
    assert_eq!(response.usage.input_tokens, 3 + 2);
    assert_eq!(response.usage.output_tokens, 0);
}

#[tokio::test]
async fn dimensions_is_read_too() {
    let server = Server::start(Reply::ok(&json!({"embeddings": [{"values": [1.0]}]}))).await;
    let mut request = Request::embedding("models/text-embedding-004", vec!["x".into()]);
    request.params.extra.insert("dimensions".into(), json!(1));
    provider(&server.root).send(&request).await.unwrap();
    let seen = server.only();
    assert_eq!(
        seen.path,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(
        seen.body["requests"][0],
        json!({
            "model": "models/text-embedding-004",
            "content": {"parts": [{"text": "x"}]},
            "outputDimensionality": 1
        })
    );
}

#[tokio::test]
async fn a_reply_with_another_count_of_vectors_is_invalid() {
    let server = Server::start(Reply::ok(&vectors())).await;
    let request = Request::embedding("gemini-embedding-001", vec!["only one".into()]);
    let error = provider(&server.root).send(&request).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
    assert!(
        error.message.contains("2 embeddings for 1 inputs"),
        "{error}"
    );
}

#[tokio::test]
async fn errors_are_classified_as_for_completions() {
    let body = json!({"error": {
        "code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota exceeded.",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]
    }});
    let server = Server::start(Reply::json(429, &body)).await;
    let request = Request::embedding("gemini-embedding-001", vec!["a".into()]);
    let error = provider(&server.root).send(&request).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.retry_after, Some(std::time::Duration::from_secs(7)));
    assert!(!error.message.contains("SECRET"), "{error}");
}

#[tokio::test]
async fn more_inputs_than_one_call_takes_fail_at_once() {
    assert_eq!(EMBED_BATCH_LIMIT, 100);
    // Nothing listens there: a request that went out would fail to connect instead.
    let provider = provider(&refusing_root().await);
    let inputs = vec![String::from("x"); EMBED_BATCH_LIMIT + 1];
    let error = provider
        .send(&Request::embedding("gemini-embedding-001", inputs))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::BadRequest);
    assert!(error.message.contains("at most 100"), "{error}");
}
