//! Gemini's `:streamGenerateContent` on the mock, over loopback: server-sent events with
//! `?alt=sse`, one JSON array without, both the chunks of the `generateContent` reply, and
//! refusals as the usual JSON.

use std::time::Duration;

use crate::common::{events, gemini_hello, start};
use pacer_mock::MockServerConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The text of candidate 0 over `chunks`.
fn text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .flat_map(|chunk| {
            chunk["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
        })
        .filter_map(|part| part["text"].as_str())
        .collect()
}

/// `chunk` without its `responseId`, which differs from one reply to the next.
fn anonymous(mut chunk: Value) -> Value {
    chunk.as_object_mut().unwrap().remove("responseId");
    chunk
}

#[tokio::test]
async fn a_stream_with_alt_sse_is_chunks_of_the_same_reply() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "What is a rate limit?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 60},
    });
    let whole = client.generate("gemini-2.0-flash", &body).await.json();
    let reply = client
        .gemini("gemini-2.0-flash:streamGenerateContent?alt=sse", &body)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = events(&reply.body);
    assert!(events.iter().all(|(name, _)| name.is_empty()), "data only");
    let chunks: Vec<Value> = events.into_iter().map(|(_, data)| data).collect();
    assert!(chunks.len() >= 3, "several chunks: {chunks:?}");
    let candidate = &whole["candidates"][0];
    assert_eq!(
        text(&chunks),
        candidate["content"]["parts"][0]["text"].as_str().unwrap()
    );
    for chunk in &chunks {
        assert_eq!(chunk["modelVersion"], whole["modelVersion"]);
        assert_eq!(chunk["candidates"][0]["content"]["role"], "model");
        assert_eq!(
            chunk["usageMetadata"]["promptTokenCount"],
            whole["usageMetadata"]["promptTokenCount"]
        );
    }
    let (last, before) = chunks.split_last().unwrap();
    assert!(
        before
            .iter()
            .all(|c| c["candidates"][0]["finishReason"].is_null())
    );
    assert_eq!(
        last["candidates"][0]["finishReason"],
        candidate["finishReason"]
    );
    assert_eq!(last["usageMetadata"], whole["usageMetadata"]);
    // The `/v1/` path and a key in the query stream the same.
    let v1 = client
        .post_with(
            "/v1/models/gemini-2.0-flash:streamGenerateContent?key=k&alt=sse",
            &[],
            &body,
        )
        .await;
    let again: Vec<Value> = crate::common::events(&v1.body)
        .into_iter()
        .map(|(_, data)| anonymous(data))
        .collect();
    assert_eq!(again, chunks.into_iter().map(anonymous).collect::<Vec<_>>());
    let stats = client.stats().await;
    assert_eq!((stats.gemini_requests, stats.ok), (3, 3));
}

#[tokio::test]
async fn without_alt_sse_the_chunks_are_one_json_array() {
    let (_server, client) = start(MockServerConfig::default()).await;
    let call = "gemini-x:streamGenerateContent";
    let sse = client
        .gemini(&format!("{call}?alt=sse"), &gemini_hello())
        .await;
    let reply = client.gemini(call, &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let array = reply.json();
    let chunks = array.as_array().expect("a JSON array");
    assert!(chunks.len() >= 2, "{array}");
    let from_sse: Vec<Value> = events(&sse.body)
        .into_iter()
        .map(|(_, data)| anonymous(data))
        .collect();
    let chunks: Vec<Value> = chunks.iter().cloned().map(anonymous).collect();
    assert_eq!(chunks, from_sse);
    let whole = client.generate("gemini-x", &gemini_hello()).await.json();
    assert_eq!(
        text(&chunks),
        whole["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap()
    );
}

#[tokio::test]
async fn a_refused_stream_request_gets_the_usual_json_error() {
    // 60 rpm over a 1 s window: a bucket of one request.
    let config = MockServerConfig {
        rpm: Some(60),
        window: Duration::from_secs(1),
        models: vec!["gemini-x".into()],
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let call = "gemini-x:streamGenerateContent?alt=sse";
    assert_eq!(
        client.gemini(call, &gemini_hello()).await.status,
        StatusCode::OK
    );
    let reply = client.gemini(call, &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let error = &reply.json()["error"];
    assert_eq!(
        (error["code"].as_u64(), error["status"].as_str()),
        (Some(429), Some("RESOURCE_EXHAUSTED"))
    );
    let unknown = client
        .gemini("gemini-9:streamGenerateContent?alt=sse", &gemini_hello())
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = client.gemini(call, &json!({"contents": []})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["error"]["status"], "INVALID_ARGUMENT");

    let config = MockServerConfig {
        fail_500: 1.0,
        ..MockServerConfig::default()
    };
    let (_server, client) = start(config).await;
    let reply = client.gemini(call, &gemini_hello()).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["error"]["status"], "INTERNAL");
}
