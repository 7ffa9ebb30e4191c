//! A loopback HTTP server for provider tests: it records every request and answers each with
//! one canned reply. Nothing leaves 127.0.0.1.

// Each test module uses its own share of these helpers.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;
use tokio::net::TcpListener;

pub mod openai;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
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
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// A JSON reply with `status`.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::raw(status, &body.to_string()).header("content-type", "application/json")
    }

    /// A 200 JSON reply.
    pub fn ok(body: &Value) -> Self {
        Self::json(200, body)
    }

    /// A reply of `status` with `body` as it is.
    pub fn raw(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    /// The same reply with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
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
        query: uri.query().map(str::to_owned),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = &shared.reply;
    let mut builder = axum::http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Body::from(reply.body.clone())).unwrap()
}

/// A loopback server that records every request and answers each with one reply.
pub struct Server {
    /// `http://127.0.0.1:PORT`, no path.
    pub root: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Starts a server answering `reply`.
    pub async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(handle).with_state(Shared {
            seen: seen.clone(),
            reply,
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            root: format!("http://{addr}"),
            seen,
        }
    }

    /// The one request the server got.
    pub fn only(&self) -> Seen {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "{seen:?}");
        seen[0].clone()
    }
}

/// A root URL where nothing listens.
pub async fn refusing_root() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
