//! The gateway's routes and the life of one request: authenticate, read, route, wait for
//! capacity, send, learn, retry, reply, record.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use pacer_core::{
    Accounting, ErrorKind, LimitDimension, Provider, ProviderError, RateLimitInfo, Usage,
};
use pacer_limit::{Cost, Dimension, Limiter, LimiterConfig, Limits, Permit, Reading};
use pacer_providers::http::http_client;
use pacer_providers::openai::{self, Api, Encoding, OpenAiProvider};
use serde_json::{Map, Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::metrics::{Metrics, Observation};
use crate::translate::{self, UsageScanner};
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

/// An error reply in OpenAI's shape.
struct Failure {
    status: StatusCode,
    message: String,
    kind: &'static str,
    code: String,
    error_kind: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(
        status: StatusCode,
        message: impl Into<String>,
        kind: &'static str,
        code: impl Into<String>,
        error_kind: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            code: code.into(),
            error_kind: error_kind.into(),
            retry_after: None,
        }
    }

    /// An upstream failure, as the client sees it: the upstream's status class, the
    /// provider's (redacted) message; an upstream refusing the gateway's own key is a 502,
    /// not the client's 401.
    fn upstream(error: &ProviderError) -> Self {
        let (status, kind) = match error.kind {
            ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            ErrorKind::QuotaExhausted => (StatusCode::TOO_MANY_REQUESTS, "insufficient_quota"),
            ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::ContentFiltered => (
                error
                    .status
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .filter(StatusCode::is_client_error)
                    .unwrap_or(StatusCode::BAD_REQUEST),
                "invalid_request_error",
            ),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "invalid_request_error"),
            ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "server_error"),
            ErrorKind::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
            ErrorKind::Auth => (StatusCode::BAD_GATEWAY, "upstream_auth_error"),
            _ => (StatusCode::BAD_GATEWAY, "server_error"),
        };
        let message = match error.kind {
            ErrorKind::Auth => format!(
                "the upstream refused the gateway's credentials: {}",
                error.message
            ),
            _ => format!("upstream: {}", error.message),
        };
        Self::new(
            status,
            message,
            kind,
            error.kind.as_str(),
            error.kind.as_str(),
        )
    }

    fn queue_timeout(wait: Duration, max: Duration) -> Self {
        let mut failure = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "the gateway's rate limit for this model is reached: a request would wait about {:.1} s, more than the {:.1} s allowed; retry later",
                wait.as_secs_f64(),
                max.as_secs_f64()
            ),
            "rate_limit_error",
            "gateway_queue_timeout",
            "QueueTimeout",
        );
        failure.retry_after = Some(wait.max(Duration::from_millis(1)));
        failure
    }

    fn response(&self) -> Response {
        let body = json!({"error": {"message": self.message, "type": self.kind, "param": null, "code": self.code}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            let headers = response.headers_mut();
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            headers.insert(
                "retry-after-ms",
                HeaderValue::from(wait.as_millis().max(1) as u64),
            );
        }
        response
    }
}

async fn chat(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Body) -> Response {
    handle(gateway, Endpoint::Chat, headers, body).await
}

async fn completions(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gateway, Endpoint::Completions, headers, body).await
}

async fn models(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if let Err(failure) = gateway.authenticate(&headers) {
        return failure.response();
    }
    let data: Vec<Value> = gateway
        .order
        .iter()
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "pacer"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gateway.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    Failure::new(
        StatusCode::NOT_FOUND,
        "no such route; the gateway serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health and GET /metrics",
        "invalid_request_error",
        "not_found",
        "NotFound",
    )
    .response()
}

/// The body, up to `max` bytes.
async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, Failure> {
    let too_large = || {
        Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the gateway's limit of {max} bytes"),
            "invalid_request_error",
            "request_too_large",
            "TooLarge",
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
            "invalid_request_error",
            "bad_body",
            "BadRequest",
        )),
    }
}

async fn handle(
    gateway: Arc<Gateway>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let id = gateway.next_id.fetch_add(1, Ordering::Relaxed);
    let mut done = Done {
        id: format!("gw-{id}"),
        model: "-".into(),
        endpoint: match endpoint {
            Endpoint::Chat => "chat",
            Endpoint::Completions => "completions",
        },
        ..Done::default()
    };
    let fail = |done: &mut Done, failure: Failure| {
        done.status = failure.status.as_u16();
        done.error_kind = Some(failure.error_kind.clone());
        gateway.record(started, done);
        failure.response()
    };
    match gateway.authenticate(&headers) {
        Ok(client) => done.client = client,
        Err(failure) => return fail(&mut done, *failure),
    }
    let bytes = match read_body(&headers, body, gateway.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(failure) => return fail(&mut done, failure),
    };
    let bad = |message: String| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            message,
            "invalid_request_error",
            "invalid_request",
            "BadRequest",
        )
    };
    let mut body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(body)) => body,
        Ok(_) => return fail(&mut done, bad("the body must be a JSON object".into())),
        Err(e) => return fail(&mut done, bad(format!("the body is not valid JSON: {e}"))),
    };
    let Some(model) = body.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return fail(&mut done, bad("`model` is required".into()));
    };
    let Some(route) = gateway.routes.get(&model).cloned() else {
        let failure = Failure::new(
            StatusCode::NOT_FOUND,
            format!(
                "the model `{model}` is not served here; available: {}",
                gateway.order.join(", ")
            ),
            "invalid_request_error",
            "model_not_found",
            "NotFound",
        );
        return fail(&mut done, failure);
    };
    done.model = route.spec.name.clone();
    done.stream = body.get("stream") == Some(&Value::Bool(true));
    if gateway.log_bodies {
        done.request = Some(Value::Object(body.clone()));
    }
    match forward(&gateway, &route, endpoint, &mut body, started, done).await {
        Ok(response) => response,
        Err((mut done, failure)) => fail(&mut done, failure),
    }
}

/// What came back from upstream.
enum Upstreamed {
    /// A whole reply for the client, with its usage.
    Whole {
        body: Bytes,
        content_type: &'static str,
        usage: Usage,
    },
    /// A stream to pass through.
    Events(hyper::Response<hyper::body::Incoming>),
}

impl Route {
    /// The limiter's cost of a request: its prompt tokens (counted only when a token limit
    /// is in force) plus its output cap × n.
    fn cost(&self, endpoint: Endpoint, body: &Map<String, Value>) -> Cost {
        let output = u64::from(translate::max_tokens(body).unwrap_or(self.spec.default_max_tokens))
            * u64::from(translate::n(body));
        if !self.limiter.counts_tokens() {
            return Cost::request(0, output);
        }
        let input = match (&self.target, endpoint) {
            (Target::OpenAi { encoding, .. }, Endpoint::Completions) => {
                let prompt = match body.get("prompt") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                openai::completion_prompt_tokens(*encoding, &prompt)
            }
            (Target::OpenAi { encoding, .. }, Endpoint::Chat) => {
                translate::messages(body).map_or(0, |m| openai::chat_prompt_tokens(*encoding, &m))
            }
            (Target::Provider(provider), _) => translate::request(&self.spec.upstream_model, body)
                .map_or(0, |r| provider.estimate_input_tokens(&r)),
        };
        Cost::request(input, output)
    }

    async fn send(
        &self,
        endpoint: Endpoint,
        body: &Map<String, Value>,
        stream: bool,
        id: &str,
    ) -> Result<(Upstreamed, Option<RateLimitInfo>), ProviderError> {
        match &self.target {
            Target::OpenAi {
                chat,
                completions,
                api_key,
                ..
            } => {
                let provider = match endpoint {
                    Endpoint::Chat => chat,
                    Endpoint::Completions => completions,
                };
                let bytes = serde_json::to_vec(body).unwrap_or_default();
                let client = http_client();
                if stream {
                    let reply = client
                        .post_streaming(provider.uri(), provider.headers(), bytes)
                        .await?;
                    let limits = openai::rate_limits(reply.headers());
                    if reply.status().is_success() {
                        return Ok((Upstreamed::Events(reply), limits));
                    }
                    let status = reply.status().as_u16();
                    let retry_after = pacer_core::retry_after(
                        reply
                            .headers()
                            .iter()
                            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
                    );
                    let body = reply
                        .into_body()
                        .collect()
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    let mut error = openai::classify_status(status, &body, api_key.as_deref());
                    error.retry_after = retry_after;
                    return Err(error.with_rate_limits(limits));
                }
                let reply = client
                    .post(provider.uri(), provider.headers(), bytes)
                    .await?;
                let limits = openai::rate_limits(&reply.headers);
                let body = reply.body.map_err(|e| e.with_rate_limits(limits))?;
                if !(200..300).contains(&reply.status) {
                    let mut error =
                        openai::classify_status(reply.status, &body, api_key.as_deref());
                    error.retry_after = pacer_core::retry_after(
                        reply
                            .headers
                            .iter()
                            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
                    );
                    return Err(error.with_rate_limits(limits));
                }
                let Ok(value) = serde_json::from_slice::<Value>(&body) else {
                    return Err(ProviderError::new(
                        ErrorKind::InvalidResponse,
                        "the upstream's reply is not JSON",
                    )
                    .with_status(reply.status)
                    .with_rate_limits(limits));
                };
                let usage = translate::usage(&value).unwrap_or_default();
                Ok((
                    Upstreamed::Whole {
                        body,
                        content_type: "application/json",
                        usage,
                    },
                    limits,
                ))
            }
            Target::Provider(provider) => {
                if endpoint == Endpoint::Completions {
                    return Err(ProviderError::new(ErrorKind::BadRequest, "/v1/completions serves OpenAI-compatible entries only; use /v1/chat/completions").with_status(400));
                }
                let mut request = translate::request(&self.spec.upstream_model, body)
                    .map_err(|m| ProviderError::new(ErrorKind::BadRequest, m).with_status(400))?;
                // The cap the limiter reserved for, sent.
                request
                    .params
                    .max_tokens
                    .get_or_insert(self.spec.default_max_tokens);
                let response = provider.send(&request).await?;
                let created = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let completion = translate::completion(
                    &format!("chatcmpl-{id}"),
                    created,
                    &self.spec.name,
                    &response,
                );
                let (body, content_type) = if stream {
                    let include_usage = body
                        .get("stream_options")
                        .and_then(|o| o.get("include_usage"))
                        == Some(&Value::Bool(true));
                    (
                        Bytes::from(translate::event_stream(&completion, include_usage)),
                        "text/event-stream",
                    )
                } else {
                    (Bytes::from(completion.to_string()), "application/json")
                };
                Ok((
                    Upstreamed::Whole {
                        body,
                        content_type,
                        usage: response.usage,
                    },
                    response.rate_limits,
                ))
            }
        }
    }

    fn accounting(&self) -> Accounting {
        match &self.target {
            // OpenAI counts a request's prompt plus max_tokens × n against its limits,
            // whatever it uses, so the reservation stands.
            Target::OpenAi { .. } => Accounting::Estimate,
            Target::Provider(provider) => provider.accounting(),
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Waits for capacity, sends, retries, and replies; `Err` carries the failure to send.
async fn forward(
    gateway: &Arc<Gateway>,
    route: &Arc<Route>,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
    started: Instant,
    mut done: Done,
) -> Result<Response, (Done, Failure)> {
    let max_wait = gateway.max_queue_wait;
    let cost = route.cost(endpoint, body);
    // The upstream's name, and the final usage chunk of a stream.
    body.insert(
        "model".into(),
        Value::String(route.spec.upstream_model.clone()),
    );
    if done.stream && matches!(route.target, Target::OpenAi { .. }) {
        let options = body.entry("stream_options").or_insert_with(|| json!({}));
        if let Value::Object(options) = options {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }
    let mut deadline = started + max_wait;
    let slot = match tokio::time::timeout_at(deadline, route.slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        _ => return Err((done, Failure::queue_timeout(max_wait, max_wait))),
    };
    if let Some(client) = gateway.clients.get(&done.client) {
        let refused = match client
            .acquire_within(Cost::request(0, 0), remaining(deadline))
            .await
        {
            Ok(Ok(_)) => None,
            Ok(Err(wait)) => Some(wait),
            Err(_) => Some(Duration::from_secs(1)),
        };
        if let Some(wait) = refused {
            let mut failure = Failure::queue_timeout(wait, max_wait);
            failure.code = "gateway_client_rate_limit".into();
            failure.message = format!(
                "this gateway key's limit of requests per minute is reached; retry in about {:.1} s",
                wait.as_secs_f64()
            );
            return Err((done, failure));
        }
    }
    let mut queue_wait = started.elapsed();
    let mut upstream_time = Duration::ZERO;
    let (mut retries, mut rate_limited) = (0u32, 0u32);
    let policy = &route.spec.retry;
    let error = loop {
        let waiting = Instant::now();
        let permit = match route
            .limiter
            .acquire_within(cost, remaining(deadline))
            .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(wait)) => {
                return Err((done, Failure::queue_timeout(wait, max_wait)));
            }
            Err(too_big) => {
                let failure = Failure::new(
                    StatusCode::BAD_REQUEST,
                    too_big.to_string(),
                    "invalid_request_error",
                    "request_exceeds_limit",
                    "BadRequest",
                );
                return Err((done, failure));
            }
        };
        queue_wait += waiting.elapsed();
        done.attempts += 1;
        let sending = Instant::now();
        let sent = tokio::time::timeout(
            route.spec.timeout,
            route.send(endpoint, body, done.stream, &done.id),
        )
        .await
        .unwrap_or_else(|_| {
            Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("no reply within {:.1} s", route.spec.timeout.as_secs_f64()),
            ))
        });
        upstream_time += sending.elapsed();
        done.queue_wait = Some(queue_wait);
        done.upstream = Some(upstream_time);
        match sent {
            Ok((upstreamed, limits)) => {
                learn(&route.limiter, &permit, limits, true);
                route.limiter.succeeded();
                return Ok(reply(
                    gateway, route, &permit, upstreamed, slot, started, done,
                ));
            }
            Err(error) => {
                learn(
                    &route.limiter,
                    &permit,
                    error.rate_limits.as_deref().copied(),
                    error.status.is_some(),
                );
                if let Some(usage) = &error.usage {
                    done.usage.add(usage);
                }
                if error.kind.is_rate_limit() {
                    rate_limited += 1;
                    let wait = error
                        .retry_after
                        .or_else(|| error.rate_limits.as_ref().and_then(|l| l.exhausted_reset()));
                    route.limiter.rate_limited(&permit, wait);
                    if rate_limited > policy.max_rate_limit_retries {
                        break error;
                    }
                    // A fresh wait: the upstream's refusal is not the client's fault.
                    deadline = Instant::now() + max_wait;
                    continue;
                }
                match policy.next_delay(retries, &error, gateway.draw()) {
                    Some(delay) => {
                        retries += 1;
                        tokio::time::sleep(delay).await;
                    }
                    None => break error,
                }
            }
        }
    };
    let failure = Failure::upstream(&error);
    if gateway.log_bodies {
        done.reply = Some(json!({"error": failure.message}));
    }
    Err((done, failure))
}

/// The reply to the client, recorded when it has been sent (at once for a whole reply, at
/// the stream's end for a stream).
fn reply(
    gateway: &Arc<Gateway>,
    route: &Route,
    permit: &Permit,
    upstreamed: Upstreamed,
    slot: OwnedSemaphorePermit,
    started: Instant,
    mut done: Done,
) -> Response {
    done.status = 200;
    match upstreamed {
        Upstreamed::Whole {
            body,
            content_type,
            usage,
        } => {
            if route.accounting() == Accounting::Actual {
                route.limiter.settle(
                    permit,
                    Cost::request(usage.input_tokens, usage.output_tokens),
                );
            }
            done.usage.add(&usage);
            if gateway.log_bodies {
                done.reply = Some(serde_json::from_slice(&body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&body).into_owned())
                }));
            }
            gateway.record(started, &done);
            drop(slot);
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Upstreamed::Events(upstream) => {
            let relay = Relay {
                body: upstream.into_body(),
                scanner: UsageScanner::default(),
                guard: StreamGuard {
                    gateway: gateway.clone(),
                    started,
                    done,
                    ended: false,
                    _slot: slot,
                },
                finished: false,
            };
            let stream = futures_util::stream::unfold(relay, |mut relay| async move {
                if relay.finished {
                    return None;
                }
                loop {
                    match relay.body.frame().await {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                relay.scanner.feed(&data);
                                if let Some(usage) = relay.scanner.usage {
                                    relay.guard.done.usage = usage;
                                }
                                relay.guard.ended = relay.scanner.done;
                                return Some((Ok::<Bytes, std::io::Error>(data), relay));
                            }
                        }
                        Some(Err(e)) => {
                            relay.finished = true;
                            relay.guard.done.error_kind = Some("Connection".into());
                            return Some((Err(std::io::Error::other(e)), relay));
                        }
                        None => {
                            relay.guard.end();
                            return None;
                        }
                    }
                }
            });
            let mut response = Response::new(Body::from_stream(stream));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    }
}

struct Relay {
    body: hyper::body::Incoming,
    scanner: UsageScanner,
    guard: StreamGuard,
    finished: bool,
}

/// Records a streamed request when its stream is dropped: at its end, or when the client
/// went away or the upstream broke off.
struct StreamGuard {
    gateway: Arc<Gateway>,
    started: Instant,
    done: Done,
    ended: bool,
    _slot: OwnedSemaphorePermit,
}

impl StreamGuard {
    fn end(&mut self) {
        self.ended = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.ended && self.done.error_kind.is_none() {
            self.done.error_kind = Some("StreamIncomplete".into());
        }
        self.gateway.record(self.started, &self.done);
    }
}

/// Passes what a reply's headers said about the limits to the limiter (as a lane does).
fn learn(limiter: &Limiter, permit: &Permit, info: Option<RateLimitInfo>, replied: bool) {
    let readings: Vec<(Dimension, Reading)> = info
        .map(|info| {
            info.readings()
                .into_iter()
                .filter(|(_, r)| r.limit.is_some() || r.remaining.is_some())
                .map(|(d, r)| {
                    let dimension = match d {
                        LimitDimension::Requests => Dimension::Requests,
                        LimitDimension::Tokens => Dimension::Tokens,
                        LimitDimension::InputTokens => Dimension::InputTokens,
                        LimitDimension::OutputTokens => Dimension::OutputTokens,
                    };
                    (
                        dimension,
                        Reading {
                            limit: r.limit,
                            remaining: r.remaining,
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    limiter.learn(permit, &readings, replied);
}
