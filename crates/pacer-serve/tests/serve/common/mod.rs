//! Helpers shared by the gateway's tests: routes to `pacer mock`, a gateway on loopback, and a
//! client that posts to it and reads the reply.
//!
//! Each test module uses only part of it.
#![allow(dead_code)]

pub mod in_process;

use std::net::SocketAddr;
use std::time::Duration;

use pacer_engine::RetryPolicy;
use pacer_limit::Limits;
use pacer_mock::MockServer;
use pacer_providers::openai::OpenAiConfig;
use pacer_serve::{GatewayConfig, GatewayServer, ModelRoute, Upstream};
use serde_json::{Value, json};

/// Any free port on loopback.
pub const LOOPBACK: &str = "127.0.0.1:0";

/// An HTTP client with a 30 s timeout.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A route named `name` to `upstream_model` on the mock's OpenAI API, retrying quickly.
pub fn openai_route(
    name: &str,
    upstream_model: &str,
    mock: &MockServer,
    key: Option<&str>,
) -> ModelRoute {
    let mut config = OpenAiConfig::new(key.map(str::to_owned));
    config.base_url = mock.url();
    ModelRoute {
        name: name.into(),
        upstream_model: upstream_model.into(),
        upstream: Upstream::OpenAi(config),
        limits: Limits::default(),
        concurrency: 64,
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            base: Duration::from_millis(5),
            max_retries: 10,
            ..RetryPolicy::default()
        },
        max_tokens: Some(64),
        price: None,
        deployments: Vec::new(),
    }
}

/// A gateway started on loopback.
pub async fn gateway(config: GatewayConfig) -> GatewayServer {
    GatewayServer::start(config, LOOPBACK.parse::<SocketAddr>().unwrap())
        .await
        .expect("gateway starts")
}

/// What came back.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

/// POSTs `body` as JSON to `base` + `path`, with `key` as a bearer token if given.
pub async fn post(base: &str, path: &str, key: Option<&str>, body: &Value) -> Reply {
    let request = client()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    send(request, key).await
}

/// GETs `base` + `path`, with `key` as a bearer token if given.
pub async fn get(base: &str, path: &str, key: Option<&str>) -> Reply {
    send(client().get(format!("{base}{path}")), key).await
}

async fn send(mut request: reqwest::RequestBuilder, key: Option<&str>) -> Reply {
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("an HTTP reply");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// A one-message chat request for `model`.
pub fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 16})
}
