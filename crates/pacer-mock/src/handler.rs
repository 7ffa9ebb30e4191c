//! The request path: routing, the key, the rate limits, latency, faults and the reply.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use pacer_core::Request;
use serde_json::json;
use tokio::time::Instant;

use crate::MockServerConfig;
use crate::endpoints;
use crate::limiter::{Limiter, Readings, Refusal, ceil_millis, go_duration};
use crate::replies::{chat_response, completion_response};
use crate::respond::{self, Dropped, Reply, error, json, json_value, serialize};
use crate::stats::{Counters, Stats};

/// The largest request body read (larger ones get a 413).
const MAX_BODY: usize = 32 << 20;

/// Models `/v1/models` lists when any model is served.
const DEFAULT_MODELS: [&str; 5] = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1-mini",
    "o4-mini",
    "gpt-5-mini",
];

/// A fault injected into one completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Fail500,
    Fail503,
    Drop,
    Truncate,
    Slow,
}

const FAULTS: [Fault; 5] = [
    Fault::Fail500,
    Fault::Fail503,
    Fault::Drop,
    Fault::Truncate,
    Fault::Slow,
];

/// Which reply a completion gets.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A chat completion with `k` alternatives per token.
    Chat {
        /// Alternatives per token.
        k: usize,
        /// Whether the model reasons (and reports reasoning tokens).
        reasoning: bool,
    },
    /// A legacy completion with `k` alternatives per token.
    Completion {
        /// Alternatives per token.
        k: usize,
    },
}

/// Everything the connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: MockServerConfig,
    pub(crate) counters: Counters,
    limiter: Limiter,
    started: std::time::Instant,
    /// Present when latency or faults need random draws.
    rng: Option<Mutex<fastrand::Rng>>,
    /// Cumulative fault probabilities, in [`FAULTS`] order.
    thresholds: [f64; 5],
    next_id: AtomicU64,
    auth: Option<HeaderValue>,
    models: Bytes,
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Shared {
    /// The state of a server configured by `config`.
    pub(crate) fn new(config: MockServerConfig) -> Self {
        let mut thresholds = [0.0; 5];
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
            auth: config
                .api_key
                .as_ref()
                .and_then(|key| HeaderValue::from_str(&format!("Bearer {key}")).ok()),
            models,
            config,
        }
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot(self.started.elapsed().as_secs_f64())
    }

    /// A 400, counted.
    pub(crate) fn bad_request(
        &self,
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Reply {
        Counters::bump(&self.counters.bad_requests);
        respond::bad_request(message, param, code)
    }

    /// A 404 for a model not served, counted; `None` when the model is served.
    pub(crate) fn unknown_model(&self, model: &str) -> Option<Reply> {
        if self.config.models.is_empty() || self.config.models.iter().any(|m| m == model) {
            return None;
        }
        Counters::bump(&self.counters.not_found);
        Some(error(
            StatusCode::NOT_FOUND,
            format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            Some("model_not_found"),
            None,
        ))
    }

    /// The latency and the fault of one completion.
    fn draw(&self) -> (Duration, Option<Fault>) {
        let Some(rng) = &self.rng else {
            return (Duration::ZERO, None);
        };
        let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
        let (mean, sd) = (self.config.latency, self.config.latency_sd);
        let delay = if sd.is_zero() {
            mean
        } else {
            // Box–Muller.
            let (u1, u2) = (1.0 - rng.f64(), rng.f64());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            Duration::from_secs_f64((mean.as_secs_f64() + sd.as_secs_f64() * z).max(0.0))
        };
        let u = rng.f64();
        let fault = self
            .thresholds
            .iter()
            .position(|t| u < *t)
            .map(|i| FAULTS[i]);
        (delay, fault)
    }

    /// Steps 5 to 8 for a parsed, valid completion request: limits, latency, faults, reply.
    pub(crate) async fn complete(
        &self,
        request: Request,
        prompt_tokens: u64,
        cost: u64,
        kind: Kind,
    ) -> Result<Reply, Dropped> {
        let c = &self.counters;
        let (verdict, readings) = self.limiter.admit(Instant::now(), &request.model, cost);
        if let Err(refusal) = verdict {
            let reply = self.refusal(refusal, &request.model);
            return Ok(self.with_headers(reply, &readings));
        }
        Counters::add(&c.tokens_charged, cost);
        let (delay, fault) = self.draw();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match fault {
            Some(Fault::Fail500) => {
                Counters::bump(&c.server_errors);
                let reply = error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server had an error while processing your request.",
                    "server_error",
                    None,
                    None,
                );
                return Ok(self.with_headers(reply, &readings));
            }
            Some(Fault::Fail503) => {
                Counters::bump(&c.overloaded);
                let reply = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The engine is currently overloaded, please try again later.",
                    "server_error",
                    None,
                    None,
                );
                return Ok(self.with_headers(reply, &readings));
            }
            Some(Fault::Drop) => {
                Counters::bump(&c.dropped);
                return Err(Dropped);
            }
            Some(Fault::Slow) => {
                Counters::bump(&c.slow);
                tokio::time::sleep(self.config.slow_for).await;
            }
            Some(Fault::Truncate) | None => {}
        }
        let reply = pacer_providers::mock::reply(&request);
        let id = self.next_id.fetch_add(1, Relaxed);
        let created = unix_seconds();
        let (mut body, usage) = match kind {
            Kind::Chat { k, reasoning } => {
                let wire = chat_response(id, created, reply, prompt_tokens, k, reasoning);
                (serialize(&wire), wire.usage)
            }
            Kind::Completion { k } => {
                let wire = completion_response(id, created, reply, prompt_tokens, k);
                (serialize(&wire), wire.usage)
            }
        };
        if let Some(usage) = usage {
            Counters::add(&c.prompt_tokens, usage.prompt_tokens);
            Counters::add(&c.completion_tokens, usage.completion_tokens);
        }
        match fault {
            Some(Fault::Truncate) => {
                Counters::bump(&c.truncated);
                body.truncate(body.len() / 2);
            }
            Some(Fault::Slow) => {}
            _ => Counters::bump(&c.ok),
        }
        Ok(self.with_headers(json(StatusCode::OK, body), &readings))
    }

    fn with_headers(&self, mut reply: Reply, readings: &Readings) -> Reply {
        if self.config.rate_headers {
            respond::rate_headers(&mut reply, readings);
        }
        reply
    }

    fn refusal(&self, refusal: Refusal, model: &str) -> Reply {
        match refusal {
            Refusal::Quota => {
                Counters::bump(&self.counters.quota_exceeded);
                error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "You exceeded your current quota, please check your plan and billing details.",
                    "insufficient_quota",
                    Some("insufficient_quota"),
                    None,
                )
            }
            Refusal::Limited {
                dimension,
                limit,
                used,
                requested,
                retry_after,
            } => {
                Counters::bump(&self.counters.rate_limited);
                let ms = ceil_millis(retry_after).max(1);
                let mut reply = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Rate limit reached for {} on model {model}: Limit {limit}, Used {used}, \
                         Requested {requested}. Please try again in {}.",
                        dimension.as_str(),
                        go_duration(Duration::from_millis(ms)),
                    ),
                    dimension.as_str(),
                    Some("rate_limit_exceeded"),
                    None,
                );
                let headers = reply.headers_mut();
                headers.insert(
                    HeaderName::from_static("retry-after-ms"),
                    HeaderValue::from(ms),
                );
                headers.insert(
                    HeaderName::from_static("retry-after"),
                    HeaderValue::from(ms.div_ceil(1000).max(1)),
                );
                reply
            }
        }
    }
}

fn model_object(id: &str, created: u64) -> serde_json::Value {
    json!({"id": id, "object": "model", "created": created, "owned_by": "pacer-mock"})
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
    if let Some(expected) = &shared.auth
        && req.headers().get(AUTHORIZATION) != Some(expected)
    {
        Counters::bump(&c.unauthorized);
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            "invalid_request_error",
            Some("invalid_api_key"),
            None,
        ));
    }
    let chat = match (method, path) {
        (&Method::POST, "/v1/chat/completions") => true,
        (&Method::POST, "/v1/completions") => false,
        (&Method::GET, "/v1/models") => {
            Counters::bump(&c.ok);
            return Ok(json(StatusCode::OK, shared.models.clone()));
        }
        (&Method::GET, _) if path.starts_with("/v1/models/") => {
            let id = &path["/v1/models/".len()..];
            if let Some(reply) = shared.unknown_model(id) {
                return Ok(reply);
            }
            Counters::bump(&c.ok);
            return Ok(json_value(
                StatusCode::OK,
                &model_object(id, unix_seconds()),
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
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            Counters::bump(&c.bad_requests);
            return Ok(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The request body is larger than {MAX_BODY} bytes."),
                "invalid_request_error",
                None,
                None,
            ));
        }
        // The client went away mid-body.
        Err(_) => return Err(Dropped),
    };
    if chat {
        endpoints::chat(&shared, &body).await
    } else {
        endpoints::completions(&shared, &body).await
    }
}
