//! A loopback HTTP server for provider tests: it records every request and answers each with
//! one canned reply, whole or as server-sent events in several frames (perhaps cut short).
//! Nothing leaves 127.0.0.1.

// Each test module uses its own share of these helpers.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use futures_util::StreamExt;
use pacer_core::{Delta, Deltas, ProviderError, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

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
    /// The body's frames, sent one by one, where it is sent in pieces.
    pub frames: Vec<String>,
    /// Where the connection is broken off after the frames: when this is notified.
    pub cut: Option<Arc<Notify>>,
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
            frames: Vec::new(),
            cut: None,
        }
    }

    /// A 200 `text/event-stream` reply sending `frames` one by one (an event may straddle
    /// two).
    pub fn events(frames: &[String]) -> Self {
        let mut reply =
            Self::raw(200, &frames.concat()).header("content-type", "text/event-stream");
        reply.frames = frames.to_vec();
        reply
    }

    /// The same reply, its connection broken off after its frames once `cut` is notified
    /// (the client has read them by then: hyper may hold a head it has not yet written).
    pub fn cut_on(mut self, cut: &Arc<Notify>) -> Self {
        self.cut = Some(cut.clone());
        self
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
    if reply.frames.is_empty() {
        return builder.body(Body::from(reply.body.clone())).unwrap();
    }
    let frames = futures_util::stream::iter(reply.frames.clone().into_iter().map(Ok));
    let cut = reply.cut.clone().map(|cut| async move {
        cut.notified().await;
        Err(std::io::Error::other("the test server breaks off"))
    });
    let cut = futures_util::stream::iter(cut).then(|broken| broken);
    builder.body(Body::from_stream(frames.chain(cut))).unwrap()
}

/// `data` as one server-sent event named `name` (none: a plain `data:` event).
pub fn event(name: Option<&str>, data: &str) -> String {
    match name {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// Every item of a streamed reply, to its end.
pub async fn drain(mut deltas: Deltas) -> Vec<Result<Delta, ProviderError>> {
    let mut items = Vec::new();
    while let Some(item) = deltas.next().await {
        items.push(item);
    }
    items
}

/// The deltas of a streamed reply that must end well.
pub async fn deltas(deltas: Deltas) -> Vec<Delta> {
    drain(deltas)
        .await
        .into_iter()
        .map(|item| item.expect("the stream ends well"))
        .collect()
}

/// Reads `n` deltas, has the server break the connection off (`cut`), and returns them
/// with the items that follow.
pub async fn read_then_cut(
    mut deltas: Deltas,
    n: usize,
    cut: &Notify,
) -> (Vec<Delta>, Vec<Result<Delta, ProviderError>>) {
    let mut read = Vec::new();
    for _ in 0..n {
        read.push(
            deltas
                .next()
                .await
                .expect("a delta")
                .expect("not yet broken"),
        );
    }
    cut.notify_one();
    (read, drain(deltas).await)
}

/// The whole reply `deltas` tell, its rate limits left out.
pub fn gather(deltas: &[Delta]) -> Response {
    let mut gather = pacer_core::Gather::default();
    for delta in deltas {
        gather.add(delta);
    }
    gather.response(None)
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
