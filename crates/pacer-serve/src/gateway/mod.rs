//! The gateway's routes and the life of one request: authenticate, read, route, wait for
//! capacity, send, learn, retry, reply, record.

mod handlers;
mod respond;
mod upstream;

use handlers::*;
use respond::*;
use upstream::*;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use pacer_core::{Provider, Usage};
use pacer_limit::{Limiter, LimiterConfig, Limits};
use pacer_providers::openai::{self, Api, Encoding, OpenAiProvider};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::metrics::{Metrics, Observation};
use crate::usage_log::Writer;
use crate::{GatewayConfig, GatewayKey, ModelRoute, Upstream};

/// The routes.
pub(crate) fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(gateway)
}

/// The gateway's shared state.
pub(crate) struct Gateway {
    routes: HashMap<String, Arc<Route>>,
    order: Vec<String>,
    keys: Vec<GatewayKey>,
    clients: HashMap<String, Limiter>,
    max_queue_wait: Duration,
    max_body_bytes: usize,
    log_bodies: bool,
    pub(crate) metrics: Arc<Metrics>,
    log: Writer,
    next_id: AtomicU64,
    rng: std::sync::Mutex<fastrand::Rng>,
}

/// One model's state, shared by all its requests.
struct Route {
    spec: ModelRoute,
    limiter: Limiter,
    slots: Arc<Semaphore>,
    target: Target,
}

enum Target {
    OpenAi {
        chat: Box<OpenAiProvider>,
        completions: Box<OpenAiProvider>,
        api_key: Option<String>,
        encoding: Encoding,
    },
    Provider(Arc<dyn Provider>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completions,
}

impl Gateway {
    pub(crate) fn new(config: GatewayConfig) -> Result<Self, String> {
        let mut routes = HashMap::new();
        let mut order = Vec::new();
        for spec in config.models {
            if routes.contains_key(&spec.name) {
                return Err(format!("model `{}` is configured twice", spec.name));
            }
            let (target, probe) = match &spec.upstream {
                Upstream::OpenAi(openai_config) => {
                    let build = |api| {
                        OpenAiProvider::new(openai::OpenAiConfig {
                            api,
                            ..openai_config.clone()
                        })
                        .map_err(|e| format!("model `{}`: {e}", spec.name))
                    };
                    let encoding = Encoding::for_model(&spec.upstream_model);
                    // Loading the tokenizer takes a while: not on the first request.
                    encoding.warm();
                    let target = Target::OpenAi {
                        chat: Box::new(build(Api::Chat)?),
                        completions: Box::new(build(Api::Completions)?),
                        api_key: openai_config.api_key.clone(),
                        encoding,
                    };
                    (target, true)
                }
                Upstream::Provider(provider) => (
                    Target::Provider(provider.clone()),
                    provider.reports_rate_limits(),
                ),
            };
            let limiter = Limiter::new(LimiterConfig {
                probe,
                ..LimiterConfig::new(spec.limits)
            });
            let route = Route {
                slots: Arc::new(Semaphore::new(spec.concurrency.max(1))),
                limiter,
                target,
                spec,
            };
            order.push(route.spec.name.clone());
            routes.insert(route.spec.name.clone(), Arc::new(route));
        }
        let clients = match config.client_rpm.and_then(std::num::NonZeroU64::new) {
            Some(rpm) => config
                .keys
                .iter()
                .map(|k| {
                    let limits = Limits {
                        rpm: Some(rpm),
                        ..Limits::default()
                    };
                    (k.id.clone(), Limiter::new(LimiterConfig::new(limits)))
                })
                .collect(),
            None => HashMap::new(),
        };
        let log = Writer::open(&config.usage_log)
            .map_err(|e| format!("cannot open the usage log: {e}"))?;
        Ok(Self {
            routes,
            order,
            keys: config.keys,
            clients,
            max_queue_wait: config.max_queue_wait,
            max_body_bytes: config.max_body_bytes,
            log_bodies: config.log_bodies,
            metrics: Arc::new(Metrics::default()),
            log,
            next_id: AtomicU64::new(1),
            rng: std::sync::Mutex::new(fastrand::Rng::new()),
        })
    }

    /// The id of the key the request carries, or the 401 to send.
    fn authenticate(&self, headers: &HeaderMap) -> Result<String, Box<Failure>> {
        if self.keys.is_empty() {
            return Ok(String::new());
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(Box::new(Failure::new(
                StatusCode::UNAUTHORIZED,
                "missing gateway key: send `Authorization: Bearer KEY`",
                "invalid_request_error",
                "invalid_api_key",
                "Auth",
            )));
        };
        self.keys
            .iter()
            .find(|k| constant_time_eq(k.key.as_bytes(), presented.as_bytes()))
            .map(|k| k.id.clone())
            .ok_or_else(|| {
                Box::new(Failure::new(
                    StatusCode::UNAUTHORIZED,
                    "incorrect gateway key",
                    "invalid_request_error",
                    "invalid_api_key",
                    "Auth",
                ))
            })
    }

    fn record(&self, started: Instant, done: &Done) {
        let latency = started.elapsed();
        self.metrics.observe(&Observation {
            model: &done.model,
            client: &done.client,
            status: done.status,
            error_kind: done.error_kind.as_deref(),
            input_tokens: done.usage.input_tokens,
            output_tokens: done.usage.output_tokens,
            attempts: done.attempts,
            queue_wait: done.queue_wait,
            upstream: done.upstream,
        });
        if !self.log.enabled() {
            return;
        }
        let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3);
        let mut line = json!({
            "ts": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            "id": done.id,
            "model": done.model,
            "client": done.client,
            "endpoint": done.endpoint,
            "stream": done.stream,
            "status": done.status,
            "error_kind": done.error_kind,
            "input_tokens": done.usage.input_tokens,
            "output_tokens": done.usage.output_tokens,
            "attempts": done.attempts,
            "queue_wait_ms": ms(done.queue_wait),
            "upstream_ms": ms(done.upstream),
            "latency_ms": ms(Some(latency)),
        });
        if self.log_bodies {
            line["request"] = done.request.clone().unwrap_or(Value::Null);
            line["reply"] = done.reply.clone().unwrap_or(Value::Null);
        }
        self.log.write(&line);
    }

    fn draw(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).f64()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a finished request leaves in the metrics and the usage log.
#[derive(Default)]
struct Done {
    id: String,
    model: String,
    client: String,
    endpoint: &'static str,
    stream: bool,
    status: u16,
    error_kind: Option<String>,
    usage: Usage,
    attempts: u32,
    queue_wait: Option<Duration>,
    upstream: Option<Duration>,
    request: Option<Value>,
    reply: Option<Value>,
}
