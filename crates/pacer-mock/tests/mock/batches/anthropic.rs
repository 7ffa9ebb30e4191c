//! Anthropic's Message Batches API.

use pacer_mock::MockBatchConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Client, advance, config, jsonl, shuffled, start};

const HEADERS: [(&str, &str); 2] = [("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")];

fn params(content: &str, max_tokens: u32) -> Value {
    json!({"model": "claude-x", "max_tokens": max_tokens, "messages": [{"role": "user", "content": content}]})
}

fn request(custom_id: &str, params: Value) -> Value {
    json!({"custom_id": custom_id, "params": params})
}

async fn create(client: &Client, requests: &[Value]) -> crate::common::Reply {
    client
        .post("/v1/messages/batches", &json!({"requests": requests}))
        .await
}

fn results_ids(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["custom_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_batch_ends_with_shuffled_results_and_errored_requests() {
    let mut config = config(MockBatchConfig {
        line_failure: 0.3,
        ..MockBatchConfig::default()
    });
    config.api_key = Some("sk-ant".into());
    config.models = vec!["claude-x".into()];
    let (server, client) = start(config).await;
    let refused = client
        .post("/v1/messages/batches", &json!({"requests": []}))
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let client = client.with(&HEADERS);
    let base = client.base.clone();

    let mut requests: Vec<Value> = (0..12)
        .map(|i| request(&format!("req_{i:02}"), params(&format!("Tell me {i}."), 30)))
        .collect();
    requests[3]["params"]["model"] = json!("claude-unknown");
    requests[4]["params"]
        .as_object_mut()
        .unwrap()
        .remove("max_tokens");
    let reply = create(&client, &requests).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let batch = reply.json();
    assert_eq!(batch["id"], "msgbatch_1");
    assert_eq!(batch["type"], "message_batch");
    assert_eq!(batch["processing_status"], "in_progress");
    assert_eq!(
        batch["request_counts"],
        json!({"processing": 12, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0})
    );
    assert!(batch["results_url"].is_null() && batch["ended_at"].is_null());
    assert!(batch["created_at"].as_str().unwrap().ends_with('Z'));
    let early = client.get("/v1/messages/batches/msgbatch_1/results").await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        client.get("/v1/messages/batches").await.json()["data"][0]["id"],
        "msgbatch_1"
    );

    advance(10.0).await;
    let batch = client.get("/v1/messages/batches/msgbatch_1").await.json();
    assert_eq!(batch["processing_status"], "ended");
    assert!(batch["ended_at"].is_string());
    let url = format!("{base}/v1/messages/batches/msgbatch_1/results");
    assert_eq!(batch["results_url"], url);
    let counts = &batch["request_counts"];
    let errored = counts["errored"].as_u64().unwrap();
    assert_eq!(counts["succeeded"].as_u64().unwrap() + errored, 12);
    assert!(
        errored >= 3,
        "two refused requests and at least one failure: {counts}"
    );

    let results = jsonl(
        &client
            .get("/v1/messages/batches/msgbatch_1/results")
            .await
            .body,
    );
    assert_eq!(results.len(), 12);
    assert!(shuffled(&results_ids(&results)));
    let by_id = |id: &str| results.iter().find(|r| r["custom_id"] == id).unwrap()["result"].clone();
    let unknown = by_id("req_03");
    assert_eq!(
        (unknown["type"].as_str(), unknown["error"]["type"].as_str()),
        (Some("errored"), Some("error"))
    );
    assert_eq!(unknown["error"]["error"]["type"], "not_found_error");
    assert_eq!(
        by_id("req_04")["error"]["error"]["message"],
        "max_tokens: Field required"
    );
    let failures = results
        .iter()
        .filter(|r| r["result"]["error"]["error"]["type"] == "api_error")
        .count() as u64;
    assert_eq!(failures, errored - 2);
    let succeeded = results
        .iter()
        .find(|r| r["result"]["type"] == "succeeded")
        .unwrap();
    let i: usize = succeeded["custom_id"].as_str().unwrap()[4..]
        .parse()
        .unwrap();
    let live = client
        .post("/v1/messages", &requests[i]["params"])
        .await
        .json();
    let message = &succeeded["result"]["message"];
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"], live["content"]);

    let stats = server.stats();
    assert_eq!(
        (stats.batches_created, stats.batch_lines_submitted),
        (1, 12)
    );
    assert_eq!(stats.batch_lines_failed, errored);
    assert_eq!(
        (stats.anthropic_requests, stats.ok),
        (1, 1),
        "only the live call"
    );
}

#[tokio::test(start_paused = true)]
async fn cancels_expiry_bad_batches_and_the_queue_limit() {
    let config = config(MockBatchConfig {
        line_expiry: 0.5,
        queue_tokens: Some(5000),
        ..MockBatchConfig::default()
    });
    let (server, client) = start(config).await;
    assert_eq!(
        client.get("/v1/messages/batches").await.status,
        StatusCode::BAD_REQUEST,
        "no version"
    );
    let client = client.with(&HEADERS[1..]);

    let twice = [request("a", params("x", 5)), request("a", params("y", 5))];
    let reply = create(&client, &twice).await;
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(message.contains("Duplicate custom_id"), "{message}");
    let reply = create(&client, &[request("a b", params("x", 5))]).await;
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pattern")
    );

    let big: Vec<Value> = (0..4)
        .map(|i| request(&format!("b{i}"), params("Hi", 1000)))
        .collect();
    assert_eq!(create(&client, &big).await.status, StatusCode::OK);
    let refused = create(&client, &big).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json()["error"]["type"], "rate_limit_error");

    let canceling = client
        .post("/v1/messages/batches/msgbatch_1/cancel", &json!({}))
        .await
        .json();
    assert_eq!(canceling["processing_status"], "canceling");
    assert!(canceling["cancel_initiated_at"].is_string());
    advance(1.0).await;
    let ended = client.get("/v1/messages/batches/msgbatch_1").await.json();
    assert_eq!(ended["processing_status"], "ended");
    assert_eq!(ended["request_counts"]["canceled"], 4);
    let results = jsonl(
        &client
            .get("/v1/messages/batches/msgbatch_1/results")
            .await
            .body,
    );
    assert!(
        results
            .iter()
            .all(|r| r["result"] == json!({"type": "canceled"}))
    );

    let lines: Vec<Value> = (0..10)
        .map(|i| request(&format!("e{i}"), params("Hello", 10)))
        .collect();
    let batch = create(&client, &lines).await.json();
    advance(10.0).await;
    let path = format!("/v1/messages/batches/{}", batch["id"].as_str().unwrap());
    let ended = client.get(&path).await.json();
    let expired = ended["request_counts"]["expired"].as_u64().unwrap();
    assert!(expired > 0 && expired < 10, "{ended}");
    let results = jsonl(&client.get(&format!("{path}/results")).await.body);
    let shown = results
        .iter()
        .filter(|r| r["result"] == json!({"type": "expired"}))
        .count();
    assert_eq!(shown as u64, expired);

    let stats = server.stats();
    assert_eq!(
        (
            stats.batches_created,
            stats.batches_refused,
            stats.batches_cancelled
        ),
        (2, 1, 1)
    );
    assert_eq!(
        (stats.batch_lines_submitted, stats.batch_lines_expired),
        (14, expired)
    );
}
