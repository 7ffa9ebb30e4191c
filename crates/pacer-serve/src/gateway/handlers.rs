//! The routes: authentication, body limits, routing by model, and errors in OpenAI's shape.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use pacer_core::{ErrorKind, ProviderError};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::*;

/// An error reply in OpenAI's shape.
pub(super) struct Failure {
    pub(super) status: StatusCode,
    pub(super) message: String,
    pub(super) kind: &'static str,
    pub(super) code: String,
    pub(super) error_kind: String,
    pub(super) retry_after: Option<Duration>,
}

impl Failure {
    pub(super) fn new(
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
    pub(super) fn upstream(error: &ProviderError) -> Self {
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

    pub(super) fn queue_timeout(wait: Duration, max: Duration) -> Self {
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

    pub(super) fn response(&self) -> Response {
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

pub(super) async fn chat(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gateway, Endpoint::Chat, headers, body).await
}

pub(super) async fn completions(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gateway, Endpoint::Completions, headers, body).await
}

pub(super) async fn models(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
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

pub(super) async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

pub(super) async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gateway.metrics.render(),
    )
        .into_response()
}

pub(super) async fn not_found() -> Response {
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
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, Failure> {
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

pub(super) async fn handle(
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
