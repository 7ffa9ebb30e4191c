//! OpenAI batches of `/v1/embeddings` and `/v1/responses` lines: each line answered with
//! the body its live endpoint gives, a line the endpoint refuses with its 400.

use pacer_mock::MockBatchConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::openai::upload;
use super::{Client, advance, config, jsonl, start};

/// A line of `url`.
fn line(custom_id: &str, url: &str, body: Value) -> Value {
    json!({"custom_id": custom_id, "method": "POST", "url": url, "body": body})
}

/// Runs a batch of `lines` on `endpoint` to its end, returning its output and error lines
/// by `custom_id`.
async fn run(client: &Client, endpoint: &str, lines: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let file = upload(client, lines).await;
    let batch = client
        .post(
            "/v1/batches",
            &json!({"input_file_id": file, "endpoint": endpoint, "completion_window": "24h"}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.json());
    let id = batch.json()["id"].as_str().unwrap().to_owned();
    advance(11.0).await;
    let batch = client.get(&format!("/v1/batches/{id}")).await.json();
    assert_eq!(batch["status"], "completed", "{batch}");
    assert_eq!(batch["endpoint"], endpoint);
    let mut files = Vec::new();
    for field in ["output_file_id", "error_file_id"] {
        let mut lines = match batch[field].as_str() {
            Some(file) => jsonl(&client.get(&format!("/v1/files/{file}/content")).await.body),
            None => Vec::new(),
        };
        lines.sort_by_key(|l| l["custom_id"].as_str().unwrap_or_default().to_owned());
        files.push(lines);
    }
    let errors = files.pop().unwrap_or_default();
    (files.pop().unwrap_or_default(), errors)
}

#[tokio::test(start_paused = true)]
async fn embedding_lines_get_the_live_endpoints_bodies() {
    let (server, client) = start(config(MockBatchConfig::default())).await;
    let bodies = [
        json!({"model": "text-embedding-3-small", "input": ["Hello", "world"]}),
        json!({"model": "text-embedding-3-small", "input": "Hi", "dimensions": 8,
               "encoding_format": "base64"}),
        json!({"model": "text-embedding-3-small", "input": ""}),
    ];
    let lines: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| line(&format!("e{i}"), "/v1/embeddings", body.clone()))
        .collect();
    let (output, errors) = run(&client, "/v1/embeddings", &lines).await;
    assert_eq!((output.len(), errors.len()), (2, 1));
    for (line, body) in output.iter().zip(&bodies) {
        assert_eq!(line["response"]["status_code"], 200);
        let live = client.post("/v1/embeddings", body).await.json();
        assert_eq!(line["response"]["body"], live);
    }
    assert_eq!(errors[0]["custom_id"], "e2");
    assert_eq!(errors[0]["response"]["status_code"], 400);
    let stats = server.stats();
    assert_eq!(stats.batch_lines_submitted, 3);
    // The live calls count; the batch's lines do not.
    assert_eq!((stats.embedding_requests, stats.embedding_inputs), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn responses_lines_get_the_live_endpoints_bodies() {
    let (_server, client) = start(config(MockBatchConfig::default())).await;
    let tools = json!([{"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let bodies = [
        json!({"model": "gpt-4o-mini", "input": "What is a rate limit?"}),
        json!({"model": "gpt-4o-mini", "input": "Ask get_weather about Paris", "tools": tools}),
        json!({"model": "o4-mini", "input": "Hi", "top_p": 0.5}),
    ];
    let lines: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| line(&format!("r{i}"), "/v1/responses", body.clone()))
        .collect();
    let (output, errors) = run(&client, "/v1/responses", &lines).await;
    assert_eq!((output.len(), errors.len()), (2, 1));
    for (line, body) in output.iter().zip(&bodies) {
        let answered = &line["response"]["body"];
        let live = client.post("/v1/responses", body).await.json();
        assert_eq!(answered["object"], "response");
        for field in ["status", "usage", "model"] {
            assert_eq!(answered[field], live[field], "{field}");
        }
        let strip = |output: &Value| -> Vec<Value> {
            output
                .as_array()
                .unwrap()
                .iter()
                .map(|item| {
                    let mut item = item.clone();
                    item.as_object_mut().unwrap().remove("id");
                    item
                })
                .collect()
        };
        assert_eq!(strip(&answered["output"]), strip(&live["output"]));
    }
    assert_eq!(
        output[1]["response"]["body"]["output"][0]["type"],
        "function_call"
    );
    let refused = &errors[0]["response"];
    assert_eq!(refused["status_code"], 400);
    assert_eq!(refused["body"]["error"]["param"], "top_p");
}
