//! OpenAI's Batch API refusing: bad uploads, bad batch requests, input files OpenAI fails
//! at validation, and the enqueued-token limit.

use pacer_mock::MockBatchConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::openai::{chat, create, line, upload, upload_text};
use super::{advance, config, start};

#[tokio::test(start_paused = true)]
async fn bad_files_and_the_queue_limit_fail_batches_as_openai_does() {
    let mut config = config(MockBatchConfig {
        queue_tokens: Some(5000),
        ..MockBatchConfig::default()
    });
    config.api_key = Some("sk-batch".into());
    config.models = vec!["gpt-4o-mini".into()];
    let (server, client) = start(config).await;
    assert_eq!(
        client.get("/v1/batches").await.status,
        StatusCode::UNAUTHORIZED
    );
    let client = client.with(&[("authorization", "Bearer sk-batch")]);

    let reply = upload_text(&client, "fine-tune", b"{}\n").await;
    assert_eq!(
        (reply.status, reply.error().2),
        (StatusCode::BAD_REQUEST, json!("purpose"))
    );
    let reply = upload_text(&client, "batch", b"not json\n").await;
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Must be .jsonl")
    );
    let reply = client
        .post("/v1/batches", &json!({"input_file_id": "file-1", "endpoint": "/v1/moderations", "completion_window": "24h"}))
        .await;
    assert_eq!(
        reply.error(),
        (
            "invalid_request_error".into(),
            json!("invalid_value"),
            json!("endpoint")
        )
    );
    let reply = client
        .post("/v1/batches", &json!({"input_file_id": "file-1", "endpoint": "/v1/chat/completions", "completion_window": "1h"}))
        .await;
    assert_eq!(reply.error().2, "completion_window");

    let mut streaming = chat("Hi");
    streaming["stream"] = json!(true);
    let mut wrong_model = chat("Hi");
    wrong_model["model"] = json!("gpt-nope");
    let bad = [
        line("a", chat("Hi")),
        line("a", chat("Hi again")),
        json!({"custom_id": "b", "method": "POST", "url": "/v1/embeddings", "body": chat("Hi")}),
        line("c", streaming),
        json!({"custom_id": "d", "method": "POST", "url": "/v1/chat/completions"}),
        line("e", wrong_model),
    ];
    let mut text: String = bad.iter().map(|l| format!("{l}\n")).collect();
    text += "{not json\n";
    let file = upload_text(&client, "batch", text.as_bytes()).await.json()["id"].clone();
    let failed = create(&client, file.as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["failed_at"].is_u64());
    let errors: Vec<(Value, Value)> = failed["errors"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["code"].clone(), e["line"].clone()))
        .collect();
    let expected = [
        ("duplicate_custom_id", 2),
        ("invalid_url", 3),
        ("streaming_unsupported", 4),
        ("missing_required_parameter", 5),
        ("model_not_found", 6),
        ("invalid_json_line", 7),
    ];
    assert_eq!(errors, expected.map(|(c, l)| (json!(c), json!(l))));
    let missing = create(&client, "file-99").await;
    assert_eq!(missing["errors"]["data"][0]["param"], "file_id");

    // Three lines of 1,000 output tokens each and their prompts fit under 5,000 once.
    let big: Vec<Value> = (0..3)
        .map(|i| line(&format!("q{i}"), json!({"model": "gpt-4o-mini", "max_tokens": 1000, "messages": [{"role": "user", "content": "Hi"}]})))
        .collect();
    let file = upload(&client, &big).await;
    assert_eq!(create(&client, &file).await["status"], "validating");
    let refused = create(&client, &file).await;
    assert_eq!(refused["status"], "failed");
    let error = &refused["errors"]["data"][0];
    assert_eq!(error["code"], "token_limit_exceeded");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Enqueued token limit reached for gpt-4o-mini in organization"),
        "{message}"
    );
    assert!(
        message.contains("Limit: 5000 enqueued tokens."),
        "{message}"
    );
    advance(10.0).await;
    assert_eq!(
        create(&client, &file).await["status"],
        "validating",
        "the first has ended"
    );

    let stats = server.stats();
    assert_eq!((stats.batches_created, stats.batches_refused), (2, 1));
    assert_eq!((stats.batch_lines_submitted, stats.files_uploaded), (6, 2));
    assert_eq!((stats.unauthorized, stats.bad_requests), (0, 0));
}
