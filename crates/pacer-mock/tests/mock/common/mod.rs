//! Loopback helpers: a server and a client that talk over 127.0.0.1, nothing else.

#![allow(dead_code)]

use std::time::Duration;

use pacer_mock::{MockServer, MockServerConfig, Stats};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// What came back.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header as a number.
    pub fn header_u64(&self, name: &str) -> Option<u64> {
        self.header(name).and_then(|v| v.parse().ok())
    }

    /// The error's `type`, `code` and `param`.
    pub fn error(&self) -> (String, Value, Value) {
        let body = self.json();
        let error = &body["error"];
        (
            error["type"].as_str().unwrap_or_default().to_owned(),
            error["code"].clone(),
            error["param"].clone(),
        )
    }
}

/// A client for one server.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

/// A reqwest client; `timeout` bounds each whole request.
pub fn http(timeout: Option<Duration>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder();
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().expect("client")
}

/// A server configured by `config` and a client for it.
pub async fn start(config: MockServerConfig) -> (MockServer, Client) {
    let server = MockServer::start(config).await.expect("server starts");
    let client = Client {
        http: http(None),
        base: format!("http://{}", server.addr()),
        key: None,
    };
    assert_eq!(client.base.clone() + "/v1", server.url());
    (server, client)
}

impl Client {
    fn with_key(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    /// POSTs raw bytes to `path`.
    pub async fn try_post_raw(&self, path: &str, body: Vec<u8>) -> reqwest::Result<Reply> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        let response = self.with_key(request).send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn try_post(&self, path: &str, body: &Value) -> reqwest::Result<Reply> {
        self.try_post_raw(path, serde_json::to_vec(body).unwrap())
            .await
    }

    /// POSTs `body` as JSON to `path`, expecting an HTTP reply.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.try_post(path, body).await.expect("an HTTP reply")
    }

    /// A chat completion request.
    pub async fn chat(&self, body: &Value) -> Reply {
        self.post("/v1/chat/completions", body).await
    }

    /// POSTs `body` as JSON to `path` with `headers` and no bearer key: how Anthropic's and
    /// Gemini's clients send theirs.
    pub async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("an HTTP reply");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("a body").to_vec(),
        }
    }

    /// A Messages request to `/v1/messages`, with `anthropic-version` and, when the client
    /// has one, its key as `x-api-key`.
    pub async fn messages(&self, body: &Value) -> Reply {
        self.anthropic("/v1/messages", body).await
    }

    /// A request to one of Anthropic's endpoints, with `anthropic-version` and, when the
    /// client has one, its key as `x-api-key`.
    pub async fn anthropic(&self, path: &str, body: &Value) -> Reply {
        let mut headers = vec![("anthropic-version", "2023-06-01")];
        if let Some(key) = &self.key {
            headers.push(("x-api-key", key.as_str()));
        }
        self.post_with(path, &headers, body).await
    }

    /// A `generateContent` request for `model`, with the client's key, if any, as
    /// `x-goog-api-key`.
    pub async fn generate(&self, model: &str, body: &Value) -> Reply {
        self.gemini(&format!("{model}:generateContent"), body).await
    }

    /// A request to `/v1beta/models/{call}` (`call`: the model, its method and any query),
    /// with the client's key, if any, as `x-goog-api-key`.
    pub async fn gemini(&self, call: &str, body: &Value) -> Reply {
        let path = format!("/v1beta/models/{call}");
        let headers: Vec<(&str, &str)> = self
            .key
            .iter()
            .map(|key| ("x-goog-api-key", key.as_str()))
            .collect();
        self.post_with(&path, &headers, body).await
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> Reply {
        let request = self.http.get(format!("{}{path}", self.base));
        let response = self.with_key(request).send().await.expect("an HTTP reply");
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("a body").to_vec(),
        }
    }

    /// The server's counters, over HTTP.
    pub async fn stats(&self) -> Stats {
        let reply = self.get("/stats").await;
        assert_eq!(reply.status, StatusCode::OK);
        serde_json::from_slice(&reply.body).expect("stats")
    }
}

/// A one-message Messages request (Anthropic).
pub fn claude(model: &str, max_tokens: u32) -> Value {
    json!({
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Say hello to the rate limiter."}],
    })
}

/// A one-turn `generateContent` request (Gemini).
pub fn gemini_hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "Say hello to the rate limiter."}]}]})
}

/// The error body's `(type, message)`, as Anthropic writes them.
pub fn anthropic_error(reply: &Reply) -> (String, String) {
    let body = reply.json();
    assert_eq!(body["type"], "error", "{body}");
    let error = &body["error"];
    (
        error["type"].as_str().unwrap_or_default().to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Whether a reply carries any of OpenAI's or Anthropic's rate-limit headers.
pub fn has_rate_headers(reply: &Reply) -> bool {
    reply.headers.keys().any(|name| {
        name.as_str().starts_with("x-ratelimit-")
            || name.as_str().starts_with("anthropic-ratelimit-")
    })
}

/// The server-sent events of a body, as `(event name, data as JSON)`; the name is empty
/// for an event without one. Panics on anything but events of JSON.
pub fn events(body: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(body).expect("UTF-8 events");
    assert!(text.ends_with("\n\n"), "{text}");
    text.split_terminator("\n\n")
        .map(|event| {
            let mut name = String::new();
            let mut data = None;
            for line in event.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")));
                } else {
                    panic!("not an event line: {line:?}");
                }
            }
            (name, data.unwrap_or_else(|| panic!("no data in {event:?}")))
        })
        .collect()
}

/// A one-message chat request.
pub fn hello(model: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello to the rate limiter."}],
    })
}
