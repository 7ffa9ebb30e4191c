//! The routes: authentication, body limits, routing by model, and errors in OpenAI's shape.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Done, Endpoint, Gateway, GatewayError, forward};

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

pub(super) async fn embeddings(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gateway, Endpoint::Embeddings, headers, body).await
}

pub(super) async fn responses(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gateway, Endpoint::Responses, headers, body).await
}

pub(super) async fn messages(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gateway, Endpoint::Messages, headers, body).await
}

pub(super) async fn count_tokens(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(gateway, Endpoint::CountTokens, headers, body).await
}

pub(super) async fn models(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let client = match gateway.authenticate(&headers) {
        Ok(client) => client,
        Err(error) => return error.into_response(),
    };
    // The models this key may use.
    let data: Vec<Value> = gateway
        .order
        .iter()
        .filter(|name| gateway.allows(&client, name).is_ok())
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
    GatewayError::NoRoute.into_response()
}

/// The body, up to `max` bytes.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(GatewayError::BodyTooLarge { max });
    }
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(GatewayError::BodyTooLarge { max })
        }
        Err(e) => Err(GatewayError::UnreadableBody(e.to_string())),
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
        endpoint: endpoint.as_str(),
        ..Done::default()
    };
    let fail = |done: &mut Done, error: GatewayError| {
        done.status = error.status().as_u16();
        done.error_kind = Some(error.kind());
        if gateway.log_bodies && matches!(error, GatewayError::Upstream(_)) {
            done.reply = Some(json!({"error": error.body()["error"]["message"]}));
        }
        gateway.record(started, done);
        error.respond(endpoint.anthropic())
    };
    match gateway.authenticate(&headers) {
        Ok(client) => done.client = client,
        Err(error) => return fail(&mut done, error),
    }
    let bytes = match read_body(&headers, body, gateway.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => return fail(&mut done, error),
    };
    let bad = GatewayError::InvalidRequest;
    let mut body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(body)) => body,
        Ok(_) => return fail(&mut done, bad("the body must be a JSON object".into())),
        Err(e) => return fail(&mut done, bad(format!("the body is not valid JSON: {e}"))),
    };
    let Some(model) = body.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return fail(&mut done, bad("`model` is required".into()));
    };
    let Some(route) = gateway.routes.get(&model).cloned() else {
        let available = gateway.order.join(", ");
        return fail(&mut done, GatewayError::ModelNotServed { model, available });
    };
    done.model = route.spec.name.clone();
    if let Err(error) = gateway.allows(&done.client, &route.spec.name) {
        return fail(&mut done, error);
    }
    // Embeddings and token counts are never streamed, whatever the body says.
    done.stream = !matches!(endpoint, Endpoint::Embeddings | Endpoint::CountTokens)
        && body.get("stream") == Some(&Value::Bool(true));
    if gateway.log_bodies {
        done.request = Some(Value::Object(body.clone()));
    }
    if endpoint == Endpoint::CountTokens {
        return match super::count::count_tokens(&route, &mut body).await {
            Ok(response) => {
                done.status = 200;
                gateway.record(started, &done);
                response
            }
            Err(error) => fail(&mut done, error),
        };
    }
    match forward(&gateway, &route, endpoint, &body, started, done).await {
        Ok(response) => response,
        Err((mut done, error)) => fail(&mut done, error),
    }
}
