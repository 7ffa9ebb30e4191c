//! Every way a gateway request can fail, each with the HTTP status, OpenAI error `type` and
//! `code` it is answered with (as axum's rejections declare theirs), and the name the usage
//! log and metrics give it.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pacer_core::parse::ShapeError;
use pacer_core::{ErrorKind, ProviderError};
use pacer_engine::{Exhausted, StopReason};
use serde_json::json;

/// A request the gateway could not serve.
#[derive(Debug)]
pub(crate) enum GatewayError {
    /// No `Authorization: Bearer KEY` header, where keys are asked for.
    MissingKey,
    /// A key the gateway does not know.
    WrongKey,
    /// A path the gateway does not serve.
    NoRoute,
    /// A body over the gateway's limit.
    BodyTooLarge { max: usize },
    /// The body could not be read.
    UnreadableBody(String),
    /// The body is not a request the gateway can route or translate.
    InvalidRequest(String),
    /// A field of the body is not the shape its endpoint takes.
    Malformed(ShapeError),
    /// The `model` asked for is not configured.
    ModelNotServed { model: String, available: String },
    /// `/v1/completions` for an entry reached through translation.
    CompletionsNotServed,
    /// `/v1/embeddings` for an entry whose provider has no embeddings API.
    EmbeddingsNotServed { provider: &'static str },
    /// A field that needs the upstream's own state (`previous_response_id`), for an entry
    /// reached through translation.
    NeedsPassThrough { field: &'static str },
    /// The key may not use this model.
    ModelNotAllowed {
        key: String,
        model: String,
        allowed: String,
    },
    /// The client's own key is over one of its limits (`limit`: "rpm" or "tpm", with its
    /// value per minute).
    ClientRateLimited {
        wait: Duration,
        limit: &'static str,
        per_minute: u64,
    },
    /// The model's capacity would not come within the queue bound.
    QueueTimeout { wait: Duration, max: Duration },
    /// The upstream's final answer (or the engine's: a request larger than a whole limit).
    Upstream(ProviderError),
    /// The request's worst case would pass the gateway's budget.
    OverBudget(Exhausted),
    /// The request's worst case would pass its key's own budget.
    KeyOverBudget { key: String, exhausted: Exhausted },
    /// The model's lane has stopped: its key was refused, or its quota is used up.
    Stopped(StopReason),
}

/// The HTTP status and OpenAI error type a failure of `kind` is answered with; `upstream` is
/// the status the upstream sent, kept for the client's own mistakes.
fn by_kind(kind: ErrorKind, upstream: Option<u16>) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        ErrorKind::QuotaExhausted | ErrorKind::BudgetExhausted => {
            (StatusCode::TOO_MANY_REQUESTS, "insufficient_quota")
        }
        ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::ContentFiltered => (
            upstream
                .and_then(|s| StatusCode::from_u16(s).ok())
                .filter(StatusCode::is_client_error)
                .unwrap_or(StatusCode::BAD_REQUEST),
            "invalid_request_error",
        ),
        ErrorKind::Config => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        // Batch kinds: the gateway makes no batch calls, so these never reach a client.
        ErrorKind::Expired | ErrorKind::Cancelled => (StatusCode::BAD_GATEWAY, "server_error"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "invalid_request_error"),
        ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "server_error"),
        ErrorKind::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "server_error"),
        // An upstream refusing the gateway's own key is no fault of the client's key.
        ErrorKind::Auth => (StatusCode::BAD_GATEWAY, "upstream_auth_error"),
        ErrorKind::Server
        | ErrorKind::Connection
        | ErrorKind::InvalidResponse
        | ErrorKind::InvalidOutput => (StatusCode::BAD_GATEWAY, "server_error"),
    }
}

impl GatewayError {
    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            GatewayError::MissingKey | GatewayError::WrongKey => StatusCode::UNAUTHORIZED,
            GatewayError::ModelNotAllowed { .. } => StatusCode::FORBIDDEN,
            GatewayError::NoRoute | GatewayError::ModelNotServed { .. } => StatusCode::NOT_FOUND,
            GatewayError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UnreadableBody(_)
            | GatewayError::InvalidRequest(_)
            | GatewayError::Malformed(_)
            | GatewayError::CompletionsNotServed
            | GatewayError::EmbeddingsNotServed { .. }
            | GatewayError::NeedsPassThrough { .. } => StatusCode::BAD_REQUEST,
            GatewayError::ClientRateLimited { .. }
            | GatewayError::QueueTimeout { .. }
            | GatewayError::OverBudget(_)
            | GatewayError::KeyOverBudget { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Upstream(error) => by_kind(error.kind, error.status).0,
            GatewayError::Stopped(reason) => match reason.kind {
                Some(kind) => by_kind(kind, None).0,
                None => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    /// OpenAI's error `type`.
    fn error_type(&self) -> &'static str {
        match self {
            GatewayError::MissingKey
            | GatewayError::WrongKey
            | GatewayError::NoRoute
            | GatewayError::BodyTooLarge { .. }
            | GatewayError::UnreadableBody(_)
            | GatewayError::InvalidRequest(_)
            | GatewayError::Malformed(_)
            | GatewayError::ModelNotServed { .. }
            | GatewayError::CompletionsNotServed
            | GatewayError::EmbeddingsNotServed { .. }
            | GatewayError::NeedsPassThrough { .. } => "invalid_request_error",
            GatewayError::ModelNotAllowed { .. } => "permission_error",
            GatewayError::ClientRateLimited { .. } | GatewayError::QueueTimeout { .. } => {
                "rate_limit_error"
            }
            GatewayError::OverBudget(_) | GatewayError::KeyOverBudget { .. } => {
                "insufficient_quota"
            }
            GatewayError::Upstream(error) => by_kind(error.kind, error.status).1,
            GatewayError::Stopped(reason) => match reason.kind {
                Some(kind) => by_kind(kind, None).1,
                None => "server_error",
            },
        }
    }

    /// OpenAI's error `code`.
    fn code(&self) -> &'static str {
        match self {
            GatewayError::MissingKey | GatewayError::WrongKey => "invalid_api_key",
            GatewayError::NoRoute => "not_found",
            GatewayError::BodyTooLarge { .. } => "request_too_large",
            GatewayError::UnreadableBody(_) => "bad_body",
            GatewayError::InvalidRequest(_)
            | GatewayError::Malformed(_)
            | GatewayError::CompletionsNotServed
            | GatewayError::NeedsPassThrough { .. } => "invalid_request",
            GatewayError::EmbeddingsNotServed { .. } => "embeddings_not_served",
            GatewayError::ModelNotServed { .. } => "model_not_found",
            GatewayError::ModelNotAllowed { .. } => "model_not_allowed",
            GatewayError::ClientRateLimited { .. } => "gateway_client_rate_limit",
            GatewayError::QueueTimeout { .. } => "gateway_queue_timeout",
            GatewayError::OverBudget(_) | GatewayError::KeyOverBudget { .. } => {
                ErrorKind::BudgetExhausted.as_str()
            }
            GatewayError::Upstream(error) if error.kind == ErrorKind::Config => {
                "request_exceeds_limit"
            }
            GatewayError::Upstream(error) => error.kind.as_str(),
            GatewayError::Stopped(reason) => reason.kind.map_or("stopping", ErrorKind::as_str),
        }
    }

    /// The name the usage log and the metrics give this failure.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            GatewayError::MissingKey | GatewayError::WrongKey => "Auth",
            GatewayError::ModelNotAllowed { .. } => "Forbidden",
            GatewayError::NoRoute | GatewayError::ModelNotServed { .. } => "NotFound",
            GatewayError::BodyTooLarge { .. } => "TooLarge",
            GatewayError::UnreadableBody(_)
            | GatewayError::InvalidRequest(_)
            | GatewayError::Malformed(_)
            | GatewayError::CompletionsNotServed
            | GatewayError::EmbeddingsNotServed { .. }
            | GatewayError::NeedsPassThrough { .. } => "BadRequest",
            GatewayError::ClientRateLimited { .. } | GatewayError::QueueTimeout { .. } => {
                "QueueTimeout"
            }
            GatewayError::OverBudget(_) | GatewayError::KeyOverBudget { .. } => {
                ErrorKind::BudgetExhausted.as_str()
            }
            GatewayError::Upstream(error) => error.kind.as_str(),
            GatewayError::Stopped(reason) => reason.kind.map_or("Stopped", ErrorKind::as_str),
        }
    }

    /// What went wrong, in words (an upstream's message redacted by its provider).
    fn message(&self) -> String {
        match self {
            GatewayError::MissingKey => {
                "missing gateway key: send `Authorization: Bearer KEY` (or `x-api-key: KEY`)".into()
            }
            GatewayError::WrongKey => "incorrect gateway key".into(),
            GatewayError::NoRoute => "no such route; the gateway serves POST /v1/chat/completions, POST /v1/completions, POST /v1/responses, POST /v1/embeddings, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models, GET /health and GET /metrics".into(),
            GatewayError::BodyTooLarge { max } => {
                format!("the request body is larger than the gateway's limit of {max} bytes")
            }
            GatewayError::UnreadableBody(e) => format!("cannot read the request body: {e}"),
            GatewayError::InvalidRequest(message) => message.clone(),
            GatewayError::Malformed(error) => error.to_string(),
            GatewayError::ModelNotServed { model, available } => {
                format!("the model `{model}` is not served here; available: {available}")
            }
            GatewayError::CompletionsNotServed => "/v1/completions serves OpenAI-compatible entries only; use /v1/chat/completions".into(),
            GatewayError::EmbeddingsNotServed { provider } => format!(
                "this model's provider ({provider}) has no embeddings API; /v1/embeddings serves OpenAI-compatible, Gemini and mock entries"
            ),
            GatewayError::NeedsPassThrough { field } => format!(
                "`{field}` needs an OpenAI-compatible entry: this model is reached through translation, which keeps no earlier responses; send the whole conversation as `input`"
            ),
            GatewayError::ModelNotAllowed { key, model, allowed } => format!(
                "the gateway key `{key}` may not use the model `{model}`; it may use: {allowed}"
            ),
            GatewayError::ClientRateLimited {
                wait,
                limit,
                per_minute,
            } => format!(
                "this gateway key's own limit is reached: {limit} {per_minute} ({}); it frees up for this request in about {:.1} s",
                match *limit {
                    "tpm" => "tokens a minute",
                    _ => "requests a minute",
                },
                wait.as_secs_f64()
            ),
            GatewayError::QueueTimeout { wait, max } => format!(
                "the gateway's rate limit for this model is reached: a request would wait about {:.1} s, more than the {:.1} s allowed; retry later",
                wait.as_secs_f64(),
                max.as_secs_f64()
            ),
            GatewayError::Upstream(error) if error.kind == ErrorKind::Auth => format!(
                "the upstream refused the gateway's credentials: {}",
                error.message
            ),
            GatewayError::Upstream(error) if error.kind == ErrorKind::Config => {
                error.message.clone()
            }
            GatewayError::Upstream(error) => format!("upstream: {}", error.message),
            GatewayError::OverBudget(exhausted) => {
                format!("the gateway's budget is reached: {exhausted}")
            }
            GatewayError::KeyOverBudget { key, exhausted } => {
                format!("the gateway key `{key}`'s own budget is reached: {exhausted}")
            }
            GatewayError::Stopped(reason) => match reason.kind {
                Some(kind) => format!(
                    "this model is stopped: an earlier request's {kind} error means every request would fail the same way ({}); the gateway serves it again once restarted with the cause fixed",
                    stop_cause(kind)
                ),
                None => "the gateway is stopping".into(),
            },
        }
    }

    /// The request field at fault, where one is.
    fn param(&self) -> Option<&str> {
        match self {
            GatewayError::Malformed(error) => error.field.as_deref(),
            GatewayError::NeedsPassThrough { field } => Some(field),
            GatewayError::MissingKey
            | GatewayError::WrongKey
            | GatewayError::NoRoute
            | GatewayError::BodyTooLarge { .. }
            | GatewayError::UnreadableBody(_)
            | GatewayError::InvalidRequest(_)
            | GatewayError::ModelNotServed { .. }
            | GatewayError::ModelNotAllowed { .. }
            | GatewayError::CompletionsNotServed
            | GatewayError::EmbeddingsNotServed { .. }
            | GatewayError::ClientRateLimited { .. }
            | GatewayError::QueueTimeout { .. }
            | GatewayError::Upstream(_)
            | GatewayError::OverBudget(_)
            | GatewayError::KeyOverBudget { .. }
            | GatewayError::Stopped(_) => None,
        }
    }

    /// How long the client should wait before trying again, where that is known.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            GatewayError::ClientRateLimited { wait, .. }
            | GatewayError::QueueTimeout { wait, .. } => {
                Some((*wait).max(Duration::from_millis(1)))
            }
            _ => None,
        }
    }

    /// The error body the client gets, in OpenAI's shape.
    pub(crate) fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message(), "type": self.error_type(), "param": self.param(), "code": self.code()}})
    }
}

/// What a lane-stopping error kind says about the upstream, for a client.
fn stop_cause(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Auth => "the upstream refused the gateway's credentials",
        ErrorKind::QuotaExhausted => "the upstream account's quota is used up",
        ErrorKind::NotFound => "the upstream has no such model",
        ErrorKind::BudgetExhausted => "the gateway's budget is spent",
        ErrorKind::RateLimited
        | ErrorKind::Server
        | ErrorKind::Overloaded
        | ErrorKind::Timeout
        | ErrorKind::Connection
        | ErrorKind::InvalidResponse
        | ErrorKind::ContextLength
        | ErrorKind::BadRequest
        | ErrorKind::ContentFiltered
        | ErrorKind::InvalidOutput
        | ErrorKind::Config
        | ErrorKind::Expired
        | ErrorKind::Cancelled => "the upstream cannot serve it",
    }
}

impl GatewayError {
    /// The response, its body in Anthropic's error shape when `anthropic` (a Messages API
    /// client), else OpenAI's.
    pub(crate) fn respond(self, anthropic: bool) -> Response {
        if !anthropic {
            return self.into_response();
        }
        let status = self.status();
        let body = crate::translate::messages::error_body(status.as_u16(), &self.message());
        let mut response = (status, axum::Json(body)).into_response();
        self.retry_headers(&mut response);
        response
    }

    fn retry_headers(&self, response: &mut Response) {
        if let Some(wait) = self.retry_after() {
            let headers = response.headers_mut();
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            headers.insert(
                "retry-after-ms",
                HeaderValue::from(wait.as_millis().max(1) as u64),
            );
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        self.retry_headers(&mut response);
        response
    }
}
