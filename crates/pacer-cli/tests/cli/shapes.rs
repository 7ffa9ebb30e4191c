//! Request shapes beyond chat text through the real `pacer` binary against `pacer mock` on
//! loopback: embeddings packed many a request (from the OpenAI cookbook's request file read
//! as it is), their vectors in the records or the side file, tools and images on all three
//! hosted APIs, the Responses API, a batch file mixing chat and embedding lines, and the
//! export as OpenAI batch output lines.

use std::path::Path;

use crate::common::*;
use pacer_mock::{MockServer, MockServerConfig};
use serde_json::{Value, json};

fn env(mock: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", mock.url()),
        ("OPENAI_API_KEY", "sk-test-key-0123456789".into()),
        ("ANTHROPIC_BASE_URL", mock.anthropic_url()),
        ("ANTHROPIC_API_KEY", "sk-ant-test-key-0123".into()),
        ("GEMINI_BASE_URL", mock.gemini_url()),
        ("GEMINI_API_KEY", "gemini-test-key-0123".into()),
        ("GOOGLE_API_KEY", String::new()),
    ]
}

async fn mock(config: MockServerConfig) -> MockServer {
    MockServer::start(config).await.expect("the mock binds")
}

/// `n` lines of the cookbook's request file: `{"model", "input", "metadata": {"row_id"}}`.
fn cookbook(n: usize) -> String {
    (0..n)
        .map(|i| {
            let line = json!({"model": "text-embedding-3-small",
                              "input": format!("Sentence number {i} about rate limits."),
                              "metadata": {"row_id": i}});
            format!("{line}\n")
        })
        .collect()
}

fn embedding_config(extra: &str) -> String {
    format!(
        "prompts_file = \"requests.jsonl\"\noutput_dir = \"out\"\n\n[[models]]\n\
         name = \"text-embedding-3-small\"\ntype = \"openai\"\nrpm = 3000\ntpm = 1000000\n\
         embed_batch = 100\ndimensions = 16\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookbook_embedding_file_runs_as_it_is_packed_many_texts_a_request() {
    let server = mock(MockServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "requests.jsonl", &cookbook(250));
    write(dir.path(), "run.toml", &embedding_config(""));
    run_with(
        dir.path(),
        env(&server),
        &["run", "-c", "run.toml", "--quiet"],
    )
    .await
    .expect_code(0);
    let stats = server.stats();
    assert_eq!(stats.embedding_requests, 3, "250 texts, 100 a request");
    assert_eq!(stats.embedding_inputs, 250);
    let records = records(&dir.path().join("out"));
    assert_eq!(records.len(), 250);
    let mut input_tokens = 0;
    for record in &records {
        assert_eq!(record["status"], "ok", "{record}");
        assert_eq!(
            record["embedding"].as_array().unwrap().len(),
            16,
            "{record}"
        );
        assert_eq!(record["batch_model"], "text-embedding-3-small");
        assert!(
            record["row_id"].is_u64(),
            "the metadata object's fields: {record}"
        );
        assert_eq!(record["tokens_used"]["output"], 0);
        input_tokens += record["tokens_used"]["input"].as_u64().unwrap();
    }
    // The shares add up to what the server counted.
    assert_eq!(input_tokens, stats.prompt_tokens);

    // The same vectors to the side file: each record points at its own.
    let side = tempfile::tempdir().unwrap();
    write(side.path(), "requests.jsonl", &cookbook(250));
    write(
        side.path(),
        "run.toml",
        &embedding_config("embeddings_file = true\n"),
    );
    run_with(
        side.path(),
        env(&server),
        &["run", "-c", "run.toml", "--quiet"],
    )
    .await
    .expect_code(0);
    let bytes = std::fs::read(side.path().join("out/embeddings.f32")).unwrap();
    assert_eq!(bytes.len(), 250 * 16 * 4);
    let by_id = |records: &[Value], id: &str| {
        records
            .iter()
            .find(|r| r["prompt_id"] == id)
            .cloned()
            .unwrap()
    };
    let kept = records_of(side.path());
    for id in ["prompt_0001", "prompt_0137", "prompt_0250"] {
        let record = by_id(&kept, id);
        assert!(record.get("embedding").is_none(), "{record}");
        let index = &record["embedding_index"];
        let offset = index["offset"].as_u64().unwrap() as usize;
        let vector: Vec<f64> = bytes[offset..offset + 64]
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        let json: Vec<f64> = by_id(&records, id)["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (a, b) in vector.iter().zip(&json) {
            assert!((a - b).abs() < 1e-6, "{id}: {a} vs {b}");
        }
    }
    // Exported as batch output lines, the vectors come back from the side file.
    pacer(side.path(), &["export", "out", "--format", "openai-batch"]).expect_code(0);
    let lines = read_jsonl(&side.path().join("out/batch_output.jsonl"));
    assert_eq!(lines.len(), 250);
    assert_eq!(lines[0]["response"]["status_code"], 200);
    assert_eq!(lines[0]["response"]["body"]["object"], "list");
    assert_eq!(
        lines[0]["response"]["body"]["data"][0]["embedding"]
            .as_array()
            .unwrap()
            .len(),
        16
    );
}

fn records_of(dir: &Path) -> Vec<Value> {
    records(&dir.join("out"))
}

/// A prompt with a tool the model must call and an inline image.
fn tool_prompts() -> String {
    let png = "iVBORw0KGgoAAAANSUhEUgAAAgAAAAEACAYAAAA";
    let line = json!({
        "id": "t1",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is the weather in Paris?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}")}},
        ]}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]},
        }}],
        "tool_choice": "required",
    });
    format!("{line}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_come_back_from_all_three_hosted_apis() {
    let server = mock(MockServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "prompts.jsonl", &tool_prompts());
    let args = [
        "run",
        "prompts.jsonl",
        "-m",
        "openai:gpt-4o-mini",
        "-m",
        "anthropic:claude-haiku-4-5",
        "-m",
        "gemini:gemini-2.5-flash",
        "--max-tokens",
        "64",
        "-o",
        "out",
        "--quiet",
    ];
    run_with(dir.path(), env(&server), &args)
        .await
        .expect_code(0);
    let records = records(&dir.path().join("out"));
    assert_eq!(records.len(), 3);
    for record in &records {
        assert_eq!(record["status"], "ok", "{record}");
        assert_eq!(record["finish_reason"], "tool_calls", "{record}");
        let call = &record["tool_calls"][0];
        assert_eq!(call["name"], "get_weather", "{record}");
        assert!(call["arguments"]["city"].is_string(), "{record}");
        assert!(call["id"].as_str().is_some_and(|id| !id.is_empty()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responses_api_entry_answers_and_a_mixed_batch_file_routes_by_url() {
    let server = mock(MockServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        json!({"custom_id": "chat-1", "method": "POST", "url": "/v1/chat/completions",
               "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}}),
        json!({"custom_id": "resp-1", "method": "POST", "url": "/v1/responses",
               "body": {"model": "o4-mini", "instructions": "Be brief.", "input": "Name a colour.",
                        "max_output_tokens": 200, "reasoning": {"effort": "low"}}}),
        json!({"custom_id": "emb-1", "method": "POST", "url": "/v1/embeddings",
               "body": {"model": "text-embedding-3-small", "input": "a sentence"}}),
        json!({"custom_id": "emb-2", "method": "POST", "url": "/v1/embeddings",
               "body": {"model": "text-embedding-3-small", "input": ["two", "texts"]}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    write(dir.path(), "batch.jsonl", &text);
    write(
        dir.path(),
        "run.toml",
        "prompts_file = \"batch.jsonl\"\noutput_dir = \"out\"\n\n\
         [[models]]\nname = \"o4-mini\"\ntype = \"openai\"\napi = \"responses\"\n\n\
         [[models]]\nname = \"text-embedding-3-small\"\ntype = \"openai\"\ndimensions = 8\n",
    );
    run_with(
        dir.path(),
        env(&server),
        &["run", "-c", "run.toml", "--quiet"],
    )
    .await
    .expect_code(0);
    let records = records(&dir.path().join("out"));
    let ids = |label: &str| {
        let mut ids: Vec<String> = records
            .iter()
            .filter(|r| r["label"] == label)
            .map(|r| r["prompt_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids("o4-mini"), ["chat-1", "resp-1"]);
    assert_eq!(ids("text-embedding-3-small"), ["emb-1", "emb-2"]);
    assert_eq!(server.stats().responses_requests, 2);
    for record in &records {
        assert_eq!(record["status"], "ok", "{record}");
    }
    let two = records.iter().find(|r| r["prompt_id"] == "emb-2").unwrap();
    assert_eq!(two["embedding"].as_array().unwrap().len(), 2, "{two}");

    // The chat records exported as batch output lines keep their custom ids.
    pacer(
        dir.path(),
        &[
            "export",
            "out",
            "--format",
            "openai-batch",
            "--label",
            "o4-mini",
        ],
    )
    .expect_code(0);
    let out = read_jsonl(&dir.path().join("out/batch_output.jsonl"));
    assert_eq!(out.len(), 2);
    for line in &out {
        let record = records
            .iter()
            .find(|r| r["prompt_id"] == line["custom_id"])
            .unwrap();
        let body = &line["response"]["body"];
        assert_eq!(body["object"], "response", "{line}");
        assert_eq!(
            body["output"].as_array().unwrap().last().unwrap()["content"][0]["text"],
            record["full_response"]
        );
        assert!(line["error"].is_null());
    }
}
