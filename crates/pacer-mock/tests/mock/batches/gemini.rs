//! Gemini's Batch Mode.

use pacer_mock::MockBatchConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Client, advance, config, start};

const CREATE: &str = "/v1beta/models/gemini-2.0-flash:batchGenerateContent";

fn generate(text: &str, max_output_tokens: u32) -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"maxOutputTokens": max_output_tokens},
    })
}

fn body(requests: Vec<Value>) -> Value {
    let requests: Vec<Value> = requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| json!({"request": request, "metadata": {"key": format!("k{i}")}}))
        .collect();
    json!({"batch": {"displayName": "test", "inputConfig": {"requests": {"requests": requests}}}})
}

async fn create(client: &Client, requests: Vec<Value>) -> crate::common::Reply {
    client.post(CREATE, &body(requests)).await
}

fn state(operation: &Value) -> &str {
    operation["metadata"]["state"].as_str().unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_batch_succeeds_with_responses_in_input_order() {
    let mut config = config(MockBatchConfig {
        line_failure: 0.3,
        ..MockBatchConfig::default()
    });
    config.api_key = Some("g-key".into());
    let (server, client) = start(config).await;
    assert_eq!(
        create(&client, vec![generate("x", 5)]).await.status,
        StatusCode::FORBIDDEN
    );
    let client = client.with(&[("x-goog-api-key", "g-key")]);

    let mut requests: Vec<Value> = (0..8).map(|i| generate(&format!("Line {i}"), 20)).collect();
    // Refused as generateContent refuses it.
    requests[2] = json!({"contents": []});
    let operation = create(&client, requests.clone()).await.json();
    assert_eq!(operation["name"], "batches/1");
    assert_eq!(operation["done"], false);
    let metadata = &operation["metadata"];
    assert_eq!(
        metadata["@type"],
        "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
    );
    assert_eq!(
        (metadata["model"].as_str(), metadata["displayName"].as_str()),
        (Some("models/gemini-2.0-flash"), Some("test"))
    );
    assert_eq!(state(&operation), "BATCH_STATE_PENDING");
    assert_eq!(metadata["batchStats"]["requestCount"], "8");
    assert_eq!(metadata["batchStats"]["pendingRequestCount"], "8");
    advance(1.5).await;
    assert_eq!(
        state(&client.get("/v1beta/batches/1").await.json()),
        "BATCH_STATE_RUNNING"
    );
    advance(9.0).await;

    let operation = client.get("/v1beta/batches/1").await.json();
    assert_eq!(state(&operation), "BATCH_STATE_SUCCEEDED");
    assert_eq!(operation["done"], true);
    assert!(operation["metadata"]["endTime"].is_string());
    let response = &operation["response"];
    assert_eq!(
        response["@type"],
        "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
    );
    let inlined = response["inlinedResponses"]["inlinedResponses"]
        .as_array()
        .unwrap();
    assert_eq!(
        operation["metadata"]["output"]["inlinedResponses"]["inlinedResponses"],
        json!(inlined)
    );
    let keys: Vec<&str> = inlined
        .iter()
        .map(|r| r["metadata"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, (0..8).map(|i| format!("k{i}")).collect::<Vec<_>>());
    assert_eq!(inlined[2]["error"]["status"], "INVALID_ARGUMENT");
    let failed: Vec<&Value> = inlined
        .iter()
        .filter(|r| r["error"]["code"] == 500)
        .collect();
    assert!(!failed.is_empty());
    assert_eq!(
        failed[0]["error"],
        json!({"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"})
    );
    let stats = &operation["metadata"]["batchStats"];
    assert_eq!(stats["failedRequestCount"], (failed.len() + 1).to_string());
    assert_eq!(
        stats["successfulRequestCount"],
        (7 - failed.len()).to_string()
    );
    let (i, answered) = inlined
        .iter()
        .enumerate()
        .find(|(_, r)| r.get("response").is_some())
        .unwrap();
    let live = client
        .post(
            "/v1beta/models/gemini-2.0-flash:generateContent",
            &requests[i],
        )
        .await
        .json();
    assert_eq!(answered["response"]["candidates"], live["candidates"]);
    // The same batch under `/v1`.
    assert_eq!(
        client.get("/v1/batches/1").await.json()["name"],
        "batches/1"
    );

    let stats = server.stats();
    assert_eq!((stats.batches_created, stats.batch_lines_submitted), (1, 8));
    assert_eq!(stats.batch_lines_failed, failed.len() as u64 + 1);
    assert_eq!((stats.gemini_requests, stats.batch_requests), (1, 5));
}

#[tokio::test(start_paused = true)]
async fn cancel_delete_list_expiry_and_the_queue_limit() {
    let config = config(MockBatchConfig {
        line_expiry: 0.5,
        queue_tokens: Some(25_000),
        ..MockBatchConfig::default()
    });
    let (server, client) = start(config).await;
    let small = || {
        (0..8)
            .map(|i| generate(&format!("Hi {i}"), 10))
            .collect::<Vec<_>>()
    };
    assert_eq!(create(&client, small()).await.json()["name"], "batches/1");
    assert_eq!(
        client
            .post("/v1beta/batches/1:cancel", &json!({}))
            .await
            .json(),
        json!({})
    );
    let cancelled = client.get("/v1beta/batches/1").await.json();
    assert_eq!(
        (state(&cancelled), &cancelled["done"]),
        ("BATCH_STATE_CANCELLED", &json!(true))
    );
    assert!(cancelled.get("response").is_none());

    create(&client, small()).await;
    advance(10.0).await;
    let expired = client.get("/v1beta/batches/2").await.json();
    assert_eq!(state(&expired), "BATCH_STATE_EXPIRED");
    assert!(expired.get("response").is_none() && expired["metadata"].get("output").is_none());

    let page = client.get("/v1beta/batches?pageSize=1").await.json();
    assert_eq!(page["operations"][0]["name"], "batches/2");
    assert_eq!(page["nextPageToken"], "2");
    let page = client
        .get("/v1/batches?pageSize=1&pageToken=2")
        .await
        .json();
    assert_eq!(page["operations"][0]["name"], "batches/1");
    assert!(page.get("nextPageToken").is_none());
    assert_eq!(client.delete("/v1beta/batches/1").await.json(), json!({}));
    let gone = client.get("/v1beta/batches/1").await;
    assert_eq!(
        (gone.status, gone.json()["error"]["status"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );

    let big = || vec![generate("Hi", 10_000), generate("Ho", 10_000)];
    assert_eq!(create(&client, big()).await.status, StatusCode::OK);
    let refused = create(&client, big()).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json()["error"]["status"], "RESOURCE_EXHAUSTED");

    let stats = server.stats();
    assert_eq!(
        (
            stats.batches_created,
            stats.batches_refused,
            stats.batches_cancelled
        ),
        (3, 1, 1)
    );
    assert_eq!(
        stats.batch_lines_expired, 8,
        "the expired batch returns none of its lines"
    );
}
