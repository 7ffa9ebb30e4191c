//! The gateway's routes and the life of one request: authenticate, read, route, then one
//! call on the model's lane (wait for capacity, send, learn, retry: the engine's one attempt
//! loop), reply, record.
//!
//! - `handlers`: the routes, authentication and body limits.
//! - `forward`: one request as one call on its model's lane.
//! - `work`: what the lane sends (a body passed through, or a translated request) and
//!   `estimate`: what a body passed through is paced as.
//! - `render` and `respond`: the reply, rendered or as sent, whole or streamed, recorded.
//! - `error`: every failure with its status and OpenAI error.

mod count;
mod error;
mod estimate;
mod forward;
mod handlers;
mod render;
mod respond;
mod route;
mod work;

pub(crate) use error::GatewayError;
use forward::forward;
use handlers::{
    chat, completions, count_tokens, embeddings, health, messages, metrics, models, not_found,
    responses,
};
use route::{Dep, Route};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use pacer_core::Usage;
use pacer_engine::Budget;
use pacer_limit::{Limiter, LimiterConfig, Limits};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::metrics::{Metrics, Observation};
use crate::usage_log::Writer;
use crate::{GatewayConfig, GatewayKey, ServeError};

/// The routes.
pub(crate) fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/responses", post(responses))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
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
    /// Each key's own budget, where it has one, with what it spent before (the usage log).
    budgets: HashMap<String, Arc<Budget>>,
    max_queue_wait: Duration,
    max_body_bytes: usize,
    log_bodies: bool,
    pub(crate) metrics: Arc<Metrics>,
    log: Writer,
    next_id: AtomicU64,
}

/// The OpenAI endpoint a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `POST /v1/responses`.
    Responses,
    /// Anthropic's `POST /v1/messages`.
    Messages,
    /// Anthropic's `POST /v1/messages/count_tokens`.
    CountTokens,
}

impl Endpoint {
    /// Its name in the usage log.
    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Responses => "responses",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "count_tokens",
        }
    }

    /// Whether it is Anthropic's API (its errors in Anthropic's shape).
    fn anthropic(self) -> bool {
        matches!(self, Endpoint::Messages | Endpoint::CountTokens)
    }
}

impl Gateway {
    pub(crate) fn new(config: GatewayConfig) -> Result<Self, ServeError> {
        let mut routes = HashMap::new();
        let mut order = Vec::new();
        let common = route::Common {
            budget: config.budget.as_ref(),
            shared_limits: &config.shared_limits,
        };
        for spec in config.models {
            if routes.contains_key(&spec.name) {
                return Err(ServeError::DuplicateModel(spec.name));
            }
            let route = Route::new(spec, &common)?;
            order.push(route.spec.name.clone());
            routes.insert(route.spec.name.clone(), Arc::new(route));
        }
        // Each key's own limiter, where it has limits (its own, or the gateway's client_rpm).
        let clients = config
            .keys
            .iter()
            .filter_map(|k| {
                let limits = Limits {
                    rpm: k
                        .limits
                        .rpm
                        .or(config.client_rpm.and_then(std::num::NonZeroU64::new)),
                    ..k.limits
                };
                // A key's limit is its allowance: a whole minute's may go at once (no server
                // window to keep under), and all of it (no headroom).
                let config = LimiterConfig {
                    burst: Duration::from_secs(60),
                    headroom: 1.0,
                    max_headroom: 1.0,
                    clock_skew: Duration::ZERO,
                    ..LimiterConfig::new(limits)
                };
                (limits != Limits::default()).then(|| (k.id.clone(), Limiter::new(config)))
            })
            .collect();
        let budgets = key_budgets(&config.keys, &routes, &config.usage_log)?;
        let log = Writer::open(&config.usage_log).map_err(ServeError::UsageLog)?;
        Ok(Self {
            routes,
            order,
            keys: config.keys,
            clients,
            budgets,
            max_queue_wait: config.max_queue_wait,
            max_body_bytes: config.max_body_bytes,
            log_bodies: config.log_bodies,
            metrics: Arc::new(Metrics::default()),
            log,
            next_id: AtomicU64::new(1),
        })
    }

    /// Whether the key `client` may use the model `model` (a key with no list may use every
    /// one); `Err` with the 403 to send.
    fn allows(&self, client: &str, model: &str) -> Result<(), GatewayError> {
        let Some(key) = self.keys.iter().find(|k| k.id == client) else {
            return Ok(());
        };
        match &key.models {
            Some(models) if !models.iter().any(|m| m == model) => {
                Err(GatewayError::ModelNotAllowed {
                    key: key.id.clone(),
                    model: model.to_owned(),
                    allowed: models.join(", "),
                })
            }
            _ => Ok(()),
        }
    }

    /// The id of the key the request carries, or the 401 to send.
    fn authenticate(&self, headers: &HeaderMap) -> Result<String, GatewayError> {
        if self.keys.is_empty() {
            return Ok(String::new());
        }
        // OpenAI's clients send `Authorization: Bearer KEY`, Anthropic's `x-api-key: KEY`.
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(GatewayError::MissingKey);
        };
        self.keys
            .iter()
            .find(|k| constant_time_eq(k.key.as_bytes(), presented.as_bytes()))
            .map(|k| k.id.clone())
            .ok_or(GatewayError::WrongKey)
    }

    fn record(&self, started: Instant, done: &Done) {
        let latency = started.elapsed();
        self.metrics.observe(&Observation {
            model: &done.model,
            deployment: &done.deployment,
            fell_from: &done.fell_from,
            client: &done.client,
            status: done.status,
            error_kind: done.error_kind,
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
            "cost_usd": done.price.map(|price| price.cost(&done.usage)),
            "attempts": done.attempts,
            "queue_wait_ms": ms(done.queue_wait),
            "upstream_ms": ms(done.upstream),
            "latency_ms": ms(Some(latency)),
        });
        // The deployment, for a model with several (and those that failed the request first).
        if !done.deployment.is_empty() {
            line["deployment"] = json!(done.deployment);
        }
        if !done.fell_from.is_empty() {
            line["fell_from"] = json!(done.fell_from);
        }
        if self.log_bodies {
            line["request"] = done.request.clone().unwrap_or(Value::Null);
            line["reply"] = done.reply.clone().unwrap_or(Value::Null);
        }
        self.log.write(&line);
    }
}

/// The budgets of the keys that have one, each starting from what the key spent by the
/// usage log (when it is a file): a key's spend survives a restart.
fn key_budgets(
    keys: &[GatewayKey],
    routes: &HashMap<String, Arc<Route>>,
    log: &crate::UsageLog,
) -> Result<HashMap<String, Arc<Budget>>, ServeError> {
    let capped: Vec<&GatewayKey> = keys
        .iter()
        .filter(|k| k.budget_usd.is_some() || k.budget_tokens.is_some())
        .collect();
    if capped.is_empty() {
        return Ok(HashMap::new());
    }
    // A line without its cost (written before lines carried one) is priced by its model's
    // first deployment.
    let prices: HashMap<String, Option<pacer_core::Price>> = routes
        .iter()
        .map(|(name, route)| (name.clone(), route.deployments[0].price))
        .collect();
    for key in capped.iter().filter(|k| k.budget_usd.is_some()) {
        let unpriced = routes.values().find(|r| {
            r.prices().any(|p| p.is_none())
                && key.models.as_ref().is_none_or(|m| m.contains(&r.spec.name))
        });
        if let Some(route) = unpriced {
            return Err(ServeError::NoPrice(route.spec.name.clone()));
        }
    }
    let spent =
        match log {
            crate::UsageLog::File(path) => crate::usage_log::spent_per_client(path, &prices)
                .map_err(|source| ServeError::ReadUsageLog {
                    path: path.clone(),
                    source,
                })?,
            _ => HashMap::new(),
        };
    Ok(capped
        .into_iter()
        .map(|k| {
            let already = spent.get(&k.id).copied().unwrap_or_default();
            (
                k.id.clone(),
                Budget::new(k.budget_usd, k.budget_tokens, already),
            )
        })
        .collect())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a finished request leaves in the metrics and the usage log.
#[derive(Default)]
struct Done {
    id: String,
    model: String,
    /// The deployment that answered (or was tried last); empty for a model with one.
    deployment: String,
    /// The deployments tried before it, which failed.
    fell_from: Vec<String>,
    /// The price of the deployment that answered.
    price: Option<pacer_core::Price>,
    client: String,
    endpoint: &'static str,
    stream: bool,
    status: u16,
    error_kind: Option<&'static str>,
    usage: Usage,
    attempts: u32,
    queue_wait: Option<Duration>,
    upstream: Option<Duration>,
    request: Option<Value>,
    reply: Option<Value>,
}
