//! OpenAI's Batch API: files, batches, their output and error files.

use pacer_mock::MockBatchConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Client, advance, config, jsonl, shuffled, start};
use crate::common::Reply;

/// A multipart upload form of `purpose` and `file`, as OpenAI's clients send it: its
/// content type and body.
fn form(purpose: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "pacer-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"input.jsonl\"\r\n\
         Content-Type: application/jsonl\r\n\r\n"
    )
    .into_bytes();
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads `text` as a file for `purpose`.
pub async fn upload_text(client: &Client, purpose: &str, text: &[u8]) -> Reply {
    let (content_type, body) = form(purpose, text);
    client
        .send(Method::POST, "/v1/files", Some((&content_type, body)))
        .await
}

/// Uploads `lines` as a batch input file, returning its id.
pub async fn upload(client: &Client, lines: &[Value]) -> String {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let reply = upload_text(client, "batch", text.as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let file = reply.json();
    assert_eq!(
        (file["object"].as_str(), file["purpose"].as_str()),
        (Some("file"), Some("batch"))
    );
    assert_eq!(file["bytes"], text.len());
    assert_eq!(file["filename"], "input.jsonl");
    file["id"].as_str().unwrap().to_owned()
}

/// A chat completion line.
pub fn line(custom_id: &str, body: Value) -> Value {
    json!({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})
}

/// A short chat request.
pub fn chat(content: &str) -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": content}]})
}

/// Creates a batch of the file `file`, returning the batch object.
pub async fn create(client: &Client, file: &str) -> Value {
    let reply = client
        .post(
            "/v1/batches",
            &json!({"input_file_id": file, "endpoint": "/v1/chat/completions",
                    "completion_window": "24h", "metadata": {"run": "test"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    reply.json()
}

/// The lines of the file `id`.
async fn content(client: &Client, id: &Value) -> Vec<Value> {
    let reply = client
        .get(&format!("/v1/files/{}/content", id.as_str().unwrap()))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    jsonl(&reply.body)
}

fn ids(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_batch_runs_to_completion_with_shuffled_results_and_failed_lines() {
    let (server, client) = start(config(MockBatchConfig {
        line_failure: 0.3,
        ..MockBatchConfig::default()
    }))
    .await;
    let mut lines: Vec<Value> = (0..20)
        .map(|i| line(&format!("job-{i:02}"), chat(&format!("Question {i}?"))))
        .collect();
    // Refused as the live endpoint refuses it: a 400 in the error file.
    lines[5]["body"]["n"] = json!(1000);
    let file = upload(&client, &lines).await;
    assert_eq!(
        client.get(&format!("/v1/files/{file}")).await.json()["id"],
        file
    );
    let back = client.get(&format!("/v1/files/{file}/content")).await;
    assert_eq!(jsonl(&back.body), lines);

    let batch = create(&client, &file).await;
    assert_eq!(batch["id"], "batch_1");
    assert_eq!(batch["object"], "batch");
    assert_eq!(batch["status"], "validating");
    assert_eq!(
        batch["request_counts"],
        json!({"total": 0, "completed": 0, "failed": 0})
    );
    assert_eq!(batch["metadata"], json!({"run": "test"}));
    assert_eq!(
        batch["expires_at"],
        batch["created_at"].as_u64().unwrap() + 86_400
    );
    for field in [
        "output_file_id",
        "error_file_id",
        "in_progress_at",
        "completed_at",
        "errors",
    ] {
        assert!(batch[field].is_null(), "{field}: {batch}");
    }
    advance(1.5).await;
    let batch = client.get("/v1/batches/batch_1").await.json();
    assert_eq!(batch["status"], "in_progress");
    assert_eq!(batch["request_counts"]["total"], 20);
    assert!(batch["in_progress_at"].is_u64());
    advance(8.0).await;
    assert_eq!(
        client.get("/v1/batches/batch_1").await.json()["status"],
        "finalizing"
    );
    advance(1.0).await;

    let batch = client.get("/v1/batches/batch_1").await.json();
    assert_eq!(batch["status"], "completed", "{batch}");
    assert!(batch["completed_at"].is_u64() && batch["finalizing_at"].is_u64());
    let counts = &batch["request_counts"];
    let (completed, failed) = (
        counts["completed"].as_u64().unwrap(),
        counts["failed"].as_u64().unwrap(),
    );
    assert_eq!(completed + failed, 20);
    assert!(
        failed >= 2,
        "the refused line and at least one failure: {counts}"
    );

    let output = content(&client, &batch["output_file_id"]).await;
    let errors = content(&client, &batch["error_file_id"]).await;
    assert_eq!(
        (output.len() as u64, errors.len() as u64),
        (completed, failed)
    );
    assert!(shuffled(&ids(&output)), "{:?}", ids(&output));
    for line in &output {
        assert_eq!(line["response"]["status_code"], 200);
        assert!(line["error"].is_null());
        assert!(line["id"].as_str().unwrap().starts_with("batch_req_"));
        assert_eq!(line["response"]["body"]["object"], "chat.completion");
    }
    // A line's body is what the live endpoint answers to it.
    let answered = &output[0];
    let i: usize = answered["custom_id"].as_str().unwrap()[4..]
        .parse()
        .unwrap();
    let live = client
        .post("/v1/chat/completions", &lines[i]["body"])
        .await
        .json();
    assert_eq!(
        answered["response"]["body"]["choices"][0]["message"],
        live["choices"][0]["message"]
    );
    let refused = errors
        .iter()
        .find(|l| l["custom_id"] == "job-05")
        .expect("the refused line");
    assert_eq!(refused["response"]["status_code"], 400);
    assert_eq!(refused["response"]["body"]["error"]["param"], "n");
    let failures: Vec<&Value> = errors
        .iter()
        .filter(|l| l["response"]["status_code"] == 500)
        .collect();
    assert_eq!(failures.len() as u64, failed - 1);
    assert_eq!(
        failures[0]["response"]["body"]["error"]["type"],
        "server_error"
    );

    // Output files are files: their objects, and deleting them.
    let id = batch["output_file_id"].as_str().unwrap();
    let object = client.get(&format!("/v1/files/{id}")).await.json();
    assert_eq!(object["purpose"], "batch_output");
    assert_eq!(
        client.delete(&format!("/v1/files/{id}")).await.json()["deleted"],
        true
    );
    assert_eq!(
        client.get(&format!("/v1/files/{id}/content")).await.status,
        StatusCode::NOT_FOUND
    );

    let stats = server.stats();
    assert_eq!((stats.files_uploaded, stats.batches_created), (1, 1));
    assert_eq!(
        (stats.batch_lines_submitted, stats.batch_lines_failed),
        (20, failed)
    );
    assert_eq!((stats.batch_requests, stats.requests), (12, 13));
    assert_eq!(
        (stats.ok, stats.bad_requests, stats.batch_lines_expired),
        (1, 0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn lines_expire_cancels_cancel_every_line_and_lists_page() {
    let (server, client) = start(config(MockBatchConfig {
        line_expiry: 0.4,
        ..MockBatchConfig::default()
    }))
    .await;
    let lines: Vec<Value> = (0..10)
        .map(|i| line(&format!("r{i}"), chat(&format!("Say {i}."))))
        .collect();
    let file = upload(&client, &lines).await;
    create(&client, &file).await;
    create(&client, &file).await;
    advance(2.0).await;
    let cancelling = client
        .post("/v1/batches/batch_2/cancel", &json!({}))
        .await
        .json();
    assert_eq!(cancelling["status"], "cancelling");
    assert!(cancelling["cancelling_at"].is_u64());
    assert_eq!(
        client
            .post("/v1/batches/batch_2/cancel", &json!({}))
            .await
            .json()["status"],
        "cancelling"
    );
    advance(1.0).await;
    let cancelled = client.get("/v1/batches/batch_2").await.json();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_u64() && cancelled["output_file_id"].is_null());
    let errors = content(&client, &cancelled["error_file_id"]).await;
    assert_eq!(errors.len(), 10);
    assert!(
        errors
            .iter()
            .all(|l| l["response"].is_null() && l["error"]["code"] == "batch_cancelled")
    );

    advance(8.0).await;
    let expired = client.get("/v1/batches/batch_1").await.json();
    assert_eq!(expired["status"], "expired", "{expired}");
    assert!(expired["expired_at"].is_u64() && expired["completed_at"].is_null());
    let output = content(&client, &expired["output_file_id"]).await;
    let errors = content(&client, &expired["error_file_id"]).await;
    assert_eq!(output.len() + errors.len(), 10);
    assert!(!errors.is_empty() && !output.is_empty(), "{errors:?}");
    for line in &errors {
        assert!(line["response"].is_null());
        assert_eq!(line["error"]["code"], "batch_expired");
    }
    assert_eq!(expired["request_counts"]["completed"], output.len());
    assert_eq!(expired["request_counts"]["failed"], 0);
    let refused = client.post("/v1/batches/batch_1/cancel", &json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(
        refused.json()["error"]["message"],
        "Cannot cancel a batch with status 'expired'."
    );

    let page = client.get("/v1/batches?limit=1").await.json();
    assert_eq!(page["object"], "list");
    assert_eq!(page["data"][0]["id"], "batch_2");
    assert_eq!(
        (page["first_id"].as_str(), page["has_more"].as_bool()),
        (Some("batch_2"), Some(true))
    );
    let page = client.get("/v1/batches?limit=5&after=batch_2").await.json();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        (page["last_id"].as_str(), page["has_more"].as_bool()),
        (Some("batch_1"), Some(false))
    );

    let stats = server.stats();
    assert_eq!((stats.batches_created, stats.batches_cancelled), (2, 1));
    assert_eq!(stats.batch_lines_expired, errors.len() as u64);
    assert_eq!(stats.batch_lines_failed, 0);
}
