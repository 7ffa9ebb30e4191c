//! Helpers for the gateway driven in process, without sockets: routes to the in-process
//! mock provider, and requests sent through the router with `oneshot`.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request};
use http_body_util::BodyExt;
use pacer_engine::RetryPolicy;
use pacer_limit::Limits;
use pacer_providers::MockProvider;
use pacer_serve::{ModelRoute, Upstream};
use serde_json::Value;
use tower::ServiceExt;

/// The chat completions path.
pub const CHAT: &str = "/v1/chat/completions";

/// A route named `name` to the in-process mock, at `rpm` if given, with a 16-token cap.
pub fn route(name: &str, provider: &Arc<MockProvider>, rpm: Option<u64>) -> ModelRoute {
    ModelRoute {
        name: name.into(),
        upstream_model: name.into(),
        upstream: Upstream::Provider(provider.clone()),
        limits: Limits {
            rpm: rpm.and_then(NonZeroU64::new),
            ..Limits::default()
        },
        concurrency: 256,
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            base: Duration::from_millis(5),
            max_retries: 3,
            ..RetryPolicy::default()
        },
        max_tokens: Some(16),
        price: None,
        deployments: Vec::new(),
    }
}

/// What came back.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
    /// The body as JSON; `Null` when it is not JSON (a stream).
    pub body: Value,
}

/// POSTs `body` to `path` through `app`, with `key` as a bearer token if given.
pub async fn post(app: &Router, path: &str, key: Option<&str>, body: &Value) -> Reply {
    let mut request = Request::post(path).header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    send(app, request.body(Body::from(body.to_string())).unwrap()).await
}

/// GETs `path` through `app`.
pub async fn get(app: &Router, path: &str) -> Reply {
    send(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// GETs `path` through `app` with `key` as a bearer token.
pub async fn get_as(app: &Router, path: &str, key: &str) -> Reply {
    let request = Request::get(path).header("authorization", format!("Bearer {key}"));
    send(app, request.body(Body::empty()).unwrap()).await
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// The `data:` payloads of a server-sent event stream, `[DONE]` left out, as JSON.
pub fn events(stream: &str) -> Vec<Value> {
    stream
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}
