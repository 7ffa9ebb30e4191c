//! What the OpenAI provider's tests share on top of the loopback [`Server`]: the key they send,
//! configs and providers pointed at the server's `/v1`, the requests and replies, and the
//! Batch API's lines, creation and results.

use axum::routing::get;
use axum::{Json, Router};
use pacer_core::{BatchInput, BatchLine, Provider, Request};
use pacer_providers::openai::{OpenAiConfig, OpenAiProvider};
use serde_json::{Value, json};
use tempfile::NamedTempFile;
use tokio::net::TcpListener;

use super::{Reply, Server};

/// The API key the tests send.
pub const KEY: &str = "sk-test-SECRETsecret0123456789";

/// The server as an OpenAI-compatible endpoint.
pub trait OpenAiServer {
    /// `http://127.0.0.1:PORT/v1`.
    fn base_url(&self) -> String;

    /// An `OpenAiConfig` pointed at this server.
    fn config(&self, key: Option<&str>) -> OpenAiConfig {
        let mut config = OpenAiConfig::new(key.map(str::to_owned));
        config.base_url = self.base_url();
        config
    }

    /// A provider pointed at this server.
    fn provider(&self, key: Option<&str>) -> OpenAiProvider {
        OpenAiProvider::new(self.config(key)).unwrap()
    }
}

impl OpenAiServer for Server {
    fn base_url(&self) -> String {
        format!("{}/v1", self.root)
    }
}

/// A one-choice chat completion saying `text`.
pub fn chat_reply(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    })
}

/// Every parameter set, on a system + user conversation.
pub fn full_request(model: &str) -> Request {
    let mut request = Request::text(model, Some("Be brief."), "Hello");
    let p = &mut request.params;
    p.temperature = Some(0.7);
    p.top_p = Some(0.9);
    p.max_tokens = Some(64);
    p.seed = Some(42);
    p.stop = vec!["\n\n".into(), "END".into()];
    p.n = 3;
    p.logprobs = true;
    p.extra
        .insert("response_format".into(), json!({"type": "json_object"}));
    request
}

/// Sends `request` through a provider made from `config` (its base_url replaced) and returns
/// the body the server got.
pub async fn sent_body(mut config: OpenAiConfig, request: &Request) -> Value {
    let server = Server::start(Reply::ok(&chat_reply("ok"))).await;
    config.base_url = server.base_url();
    let provider = OpenAiProvider::new(config).unwrap();
    provider.send(request).await.unwrap();
    let seen = server.only();
    let body = provider.body(request).unwrap();
    assert_eq!(seen.body, serde_json::from_slice::<Value>(&body).unwrap());
    seen.body
}

/// Writes `requests` as a batch's lines file, as the batch runner does.
pub fn lines_file(provider: &OpenAiProvider, requests: &[(&str, Request)]) -> NamedTempFile {
    let api = provider.batch_api().unwrap();
    let mut text = Vec::new();
    for (id, request) in requests {
        text.extend(api.line(id, request).unwrap());
        text.push(b'\n');
    }
    let file = NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

/// A batch's line as JSON, as `provider` writes it for `request`.
pub fn batch_line(provider: &OpenAiProvider, request: &Request) -> Value {
    let line = provider.batch_api().unwrap().line("id-0", request).unwrap();
    serde_json::from_slice(&line).unwrap()
}

/// The body of the `POST /batches` that creates a batch of `requests` (uploaded as
/// `file-in`), as a server answering a batch object saw it.
pub async fn batch_creation(mut config: OpenAiConfig, requests: &[(&str, Request)]) -> Value {
    let batch =
        json!({"id": "batch_1", "object": "batch", "status": "validating", "created_at": 1});
    let server = Server::start(Reply::ok(&batch)).await;
    config.base_url = server.base_url();
    let provider = OpenAiProvider::new(config).unwrap();
    let file = lines_file(&provider, requests);
    let input = BatchInput {
        model: "m",
        tag: "t",
        lines: file.path(),
        count: requests.len(),
        uploaded: Some("file-in"),
    };
    provider.batch_api().unwrap().create(input).await.unwrap();
    let seen = server.only();
    assert_eq!(seen.path, "/v1/batches");
    seen.body
}

/// The results of batch `batch_1` as a provider made from `config` reads them from a
/// loopback server whose output file holds one line per `bodies` entry: a 200 result with
/// that body, under `custom_id` `t-<i>`.
pub async fn batch_results(mut config: OpenAiConfig, bodies: &[Value]) -> Vec<BatchLine> {
    let output: String = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let line = json!({"id": format!("batch_req_{i}"), "custom_id": format!("t-{i}"),
                "response": {"status_code": 200, "request_id": "r", "body": body}, "error": null});
            format!("{line}\n")
        })
        .collect();
    let batch = json!({"id": "batch_1", "object": "batch", "status": "completed",
        "created_at": 1, "output_file_id": "file-out", "error_file_id": null});
    let app = Router::new()
        .route(
            "/v1/batches/batch_1",
            get(move || async move { Json(batch) }),
        )
        .route(
            "/v1/files/file-out/content",
            get(move || async move { output }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    config.base_url = format!("http://{addr}/v1");
    let provider = OpenAiProvider::new(config).unwrap();
    let api = provider.batch_api().unwrap();
    let mut results = api.results("batch_1").await.unwrap();
    let mut lines = Vec::new();
    while let Some(line) = results.next().await {
        lines.push(line.unwrap());
    }
    lines
}
