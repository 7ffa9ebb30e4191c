//! Helpers shared by the OpenAI provider's tests: a loopback HTTP server that records every
//! request and answers each with one reply (its URL ends in `/v1`, and it hands out
//! `OpenAiConfig`s and providers pointed at itself), and the requests and replies they send.
//! The other providers' tests use `support/` instead. Nothing leaves 127.0.0.1.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use pacer_core::{Provider, Request};
use pacer_providers::openai::{OpenAiConfig, OpenAiProvider};
use serde_json::{Value, json};

/// The API key the tests send.
pub const KEY: &str = "sk-test-SECRETsecret0123456789";

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Seen {
    /// A header's value, if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// What the server answers every request with.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    /// A 200 JSON reply.
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    /// The same reply with one more header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Reply,
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::Response<Body> {
    shared.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = &shared.reply;
    let mut builder = axum::http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Body::from(reply.body.clone())).unwrap()
}

/// A loopback server that records every request and answers each with one reply.
pub struct Server {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Starts a server answering `reply`.
    pub async fn start(reply: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(handle).with_state(Shared {
            seen: seen.clone(),
            reply,
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base_url: format!("http://{addr}/v1"),
            seen,
        }
    }

    /// An `OpenAiConfig` pointed at this server.
    pub fn config(&self, key: Option<&str>) -> OpenAiConfig {
        let mut config = OpenAiConfig::new(key.map(str::to_owned));
        config.base_url = self.base_url.clone();
        config
    }

    /// A provider pointed at this server.
    pub fn provider(&self, key: Option<&str>) -> OpenAiProvider {
        OpenAiProvider::new(self.config(key)).unwrap()
    }

    /// The one request the server got.
    pub fn only(&self) -> Seen {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        seen[0].clone()
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
    let server = Server::start(Reply::ok(chat_reply("ok"))).await;
    config.base_url = server.base_url.clone();
    let provider = OpenAiProvider::new(config).unwrap();
    provider.send(request).await.unwrap();
    let seen = server.only();
    let body = provider.body(request).unwrap();
    assert_eq!(seen.body, serde_json::from_slice::<Value>(&body).unwrap());
    seen.body
}
