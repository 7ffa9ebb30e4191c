//! The state the connections share, and the request path up to the endpoints: the stats
//! routes, the batch APIs' routes, routing by protocol, OpenAI's key check and reading the
//! body.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::batch::{self, Batches};
use crate::limiter::Limiter;
use crate::respond::{Dropped, Reply, error, json, json_value, serialize};
use crate::stats::{Counters, Stats};
use crate::{MockServerConfig, anthropic, embeddings, endpoints, gemini, responses};

/// The largest request body read (larger ones get a 413).
pub(crate) const MAX_BODY: usize = 32 << 20;

/// Models `/v1/models` lists when any model is served.
const DEFAULT_MODELS: [&str; 5] = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "o4-mini",
    "gpt-5-mini",
];

/// Everything the connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: MockServerConfig,
    pub(crate) counters: Counters,
    pub(crate) limiter: Limiter,
    started: std::time::Instant,
    /// Present when latency or faults need random draws.
    pub(crate) rng: Option<Mutex<fastrand::Rng>>,
    /// Cumulative fault probabilities, in [`FAULTS`](crate::complete::FAULTS) order.
    pub(crate) thresholds: [f64; 6],
    /// The number of the next reply, for its id.
    pub(crate) next_id: AtomicU64,
    /// The batches and files of the batch APIs.
    pub(crate) batches: Batches,
    /// `Bearer <key>`, as OpenAI's clients send the key.
    auth: Option<HeaderValue>,
    models: Bytes,
}

/// Seconds since the Unix epoch, for `created` fields.
pub(crate) fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Shared {
    /// The state of a server configured by `config`.
    pub(crate) fn new(config: MockServerConfig) -> Self {
        let mut thresholds = [0.0; 6];
        let mut sum = 0.0;
        for (t, (_, p)) in thresholds.iter_mut().zip(config.fault_probabilities()) {
            sum += p;
            *t = if p > 0.0 { sum } else { f64::NEG_INFINITY };
        }
        let created = unix_seconds();
        let names: Vec<&str> = if config.models.is_empty() {
            DEFAULT_MODELS.to_vec()
        } else {
            config.models.iter().map(String::as_str).collect()
        };
        let data: Vec<_> = names.iter().map(|id| model_object(id, created)).collect();
        let models = serialize(&json!({"object": "list", "data": data})).into();
        Self {
            limiter: Limiter::new(&config),
            counters: Counters::default(),
            started: std::time::Instant::now(),
            rng: config
                .draws()
                .then(|| Mutex::new(fastrand::Rng::with_seed(config.seed))),
            thresholds,
            next_id: AtomicU64::new(1),
            batches: Batches::default(),
            auth: config
                .api_key
                .as_ref()
                .and_then(|key| HeaderValue::from_str(&format!("Bearer {key}")).ok()),
            models,
            config,
        }
    }

    /// The counters now, with the batches that have ended since the last look settled in
    /// them.
    pub(crate) fn stats(&self) -> Stats {
        self.batches
            .settle(tokio::time::Instant::now(), &self.counters);
        self.counters.snapshot(self.started.elapsed().as_secs_f64())
    }

    /// Counts a refusal of a request's body or model (a 404 as not found, anything else as
    /// a bad request) and returns it.
    pub(crate) fn refused(&self, reply: Reply) -> Reply {
        let counter = if reply.status() == StatusCode::NOT_FOUND {
            &self.counters.not_found
        } else {
            &self.counters.bad_requests
        };
        Counters::bump(counter);
        reply
    }

    /// Whether `model` is served: any is when no models are configured.
    pub(crate) fn serves(&self, model: &str) -> bool {
        self.config.models.is_empty() || self.config.models.iter().any(|m| m == model)
    }

    /// An OpenAI-style 404 for a model not served (uncounted); `None` when the model is
    /// served.
    pub(crate) fn unknown_model(&self, model: &str) -> Option<Reply> {
        if self.serves(model) {
            return None;
        }
        Some(error(
            StatusCode::NOT_FOUND,
            format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
            None,
        ))
    }

    /// OpenAI's 401 when the server wants a key and `headers` do not bear it as
    /// `Authorization: Bearer <key>` (uncounted); `None` when they may pass.
    pub(crate) fn openai_key_refused(&self, headers: &HeaderMap) -> Option<Reply> {
        let expected = self.auth.as_ref()?;
        (headers.get(AUTHORIZATION) != Some(expected)).then(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_request_error",
                Some("invalid_api_key"),
                None,
            )
        })
    }
}

fn model_object(id: &str, created: u64) -> serde_json::Value {
    json!({"id": id, "object": "model", "created": created, "owned_by": "pacer-mock"})
}

/// Where a request goes.
enum Route {
    Chat,
    Completions,
    Embeddings,
    Responses,
    Models,
    Model(String),
    Messages,
    CountTokens,
    Gemini(gemini::Call),
    Unknown,
}

fn route(method: &Method, path: &str) -> Route {
    match (method, path) {
        (&Method::POST, "/v1/chat/completions") => Route::Chat,
        (&Method::POST, "/v1/completions") => Route::Completions,
        (&Method::POST, "/v1/embeddings") => Route::Embeddings,
        (&Method::POST, "/v1/responses") => Route::Responses,
        (&Method::POST, "/v1/messages") => Route::Messages,
        (&Method::POST, "/v1/messages/count_tokens") => Route::CountTokens,
        (&Method::GET, "/v1/models") => Route::Models,
        (&Method::GET, _) if path.starts_with("/v1/models/") => {
            Route::Model(path["/v1/models/".len()..].to_owned())
        }
        (&Method::POST, _) => gemini::call_in_path(path).map_or(Route::Unknown, Route::Gemini),
        _ => Route::Unknown,
    }
}

/// Why a request body could not be read.
pub(crate) enum BodyError {
    /// It is longer than the limit.
    TooLarge,
    /// The client went away mid-body.
    Gone,
}

/// The whole body of a request, up to [`MAX_BODY`] bytes.
pub(crate) async fn read_body(body: Incoming) -> Result<Bytes, BodyError> {
    read_body_up_to(body, MAX_BODY).await
}

/// The whole body of a request, up to `limit` bytes.
pub(crate) async fn read_body_up_to(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Gone),
    }
}

/// Serves one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Dropped> {
    let (method, path) = (req.method(), req.uri().path());
    match (method, path) {
        (&Method::GET, "/stats") => return Ok(json_value(StatusCode::OK, &shared.stats())),
        (&Method::POST, "/stats/reset") => {
            shared.counters.reset();
            return Ok(json_value(StatusCode::OK, &shared.stats()));
        }
        _ => {}
    }
    let c = &shared.counters;
    Counters::bump(&c.requests);
    if let Some(route) = batch::route(&req) {
        Counters::bump(&c.batch_requests);
        return batch::serve(&shared, route, req).await;
    }
    let route = route(method, path);
    match route {
        Route::Messages => {
            Counters::bump(&c.anthropic_requests);
            return anthropic::messages(&shared, req).await;
        }
        Route::CountTokens => {
            Counters::bump(&c.anthropic_requests);
            return anthropic::count_tokens(&shared, req).await;
        }
        Route::Gemini(call) => {
            Counters::bump(&c.gemini_requests);
            if call.embeds() {
                Counters::bump(&c.embedding_requests);
            }
            return gemini::serve(&shared, call, req).await;
        }
        Route::Unknown => {}
        Route::Embeddings => {
            Counters::bump(&c.openai_requests);
            Counters::bump(&c.embedding_requests);
        }
        Route::Responses => {
            Counters::bump(&c.openai_requests);
            Counters::bump(&c.responses_requests);
        }
        Route::Chat | Route::Completions | Route::Models | Route::Model(_) => {
            Counters::bump(&c.openai_requests);
        }
    }
    if let Some(reply) = shared.openai_key_refused(req.headers()) {
        Counters::bump(&c.unauthorized);
        return Ok(reply);
    }
    match route {
        Route::Chat | Route::Completions | Route::Embeddings | Route::Responses => {}
        Route::Models => {
            Counters::bump(&c.ok);
            return Ok(json(StatusCode::OK, shared.models.clone()));
        }
        Route::Model(id) => {
            if let Some(reply) = shared.unknown_model(&id) {
                return Ok(shared.refused(reply));
            }
            Counters::bump(&c.ok);
            return Ok(json_value(
                StatusCode::OK,
                &model_object(&id, unix_seconds()),
            ));
        }
        _ => {
            Counters::bump(&c.not_found);
            return Ok(error(
                StatusCode::NOT_FOUND,
                format!("Invalid URL ({method} {path})"),
                "invalid_request_error",
                None,
                None,
            ));
        }
    }
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            Counters::bump(&c.bad_requests);
            return Ok(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than {MAX_BODY} bytes."),
                "invalid_request_error",
                None,
                None,
            ));
        }
        Err(BodyError::Gone) => return Err(Dropped),
    };
    match route {
        Route::Completions => endpoints::completions(&shared, &body).await,
        Route::Embeddings => embeddings::embeddings(&shared, &body).await,
        Route::Responses => responses::responses(&shared, &body).await,
        // Every other route has replied above.
        _ => endpoints::chat(&shared, &body).await,
    }
}
