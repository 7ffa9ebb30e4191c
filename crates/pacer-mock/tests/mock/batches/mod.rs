//! The batch APIs over loopback: OpenAI's files and batches, Anthropic's message batches and
//! Gemini's batch mode, on a paused tokio clock, so that a batch's life is moved along by
//! advancing the clock rather than by waiting.

mod anthropic;
mod gemini;
mod openai;
mod openai_endpoints;
mod openai_refusals;

use std::time::Duration;

use crate::common::Reply;
use pacer_mock::{MockBatchConfig, MockServer, MockServerConfig};
use reqwest::Method;
use serde_json::Value;

/// A client for one server. Its connection pool keeps no idle timer: on a paused clock the
/// runtime would jump to it whenever it waits for the server, moving the batches along.
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// Headers sent with every request (keys, `anthropic-version`).
    headers: Vec<(String, String)>,
}

/// A server whose batches take `processing`, configured by `config` besides, and a client.
pub async fn start(config: MockServerConfig) -> (MockServer, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = MockServer::start(config).await.expect("server starts");
    let http = reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .expect("client");
    let client = Client {
        http,
        base: format!("http://{}", server.addr()),
        headers: Vec::new(),
    };
    (server, client)
}

/// A config whose batches take ten seconds and whose lines fare as `batch` says.
pub fn config(batch: MockBatchConfig) -> MockServerConfig {
    MockServerConfig {
        seed: 7,
        batch: MockBatchConfig {
            processing: Duration::from_secs(10),
            ..batch
        },
        ..MockServerConfig::default()
    }
}

impl Client {
    /// The same client sending `headers` too.
    pub fn with(mut self, headers: &[(&str, &str)]) -> Self {
        self.headers.extend(
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// Sends a request with the client's headers, and `content_type` and `body` if any.
    pub async fn send(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        let response = request.send().await.expect("an HTTP reply");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("a body").to_vec(),
        }
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).unwrap();
        self.send(Method::POST, path, Some(("application/json", bytes)))
            .await
    }

    /// DELETEs `path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}

/// Moves the paused clock on by `seconds`.
pub async fn advance(seconds: f64) {
    tokio::time::advance(Duration::from_secs_f64(seconds)).await;
}

/// The lines of a JSONL body.
pub fn jsonl(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Whether `ids` are out of their sorted order.
pub fn shuffled(ids: &[String]) -> bool {
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted != ids
}
