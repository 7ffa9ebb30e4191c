//! Anthropic's `POST /v1/messages/count_tokens`: an Anthropic deployment's own count (the
//! body forwarded as it is, not paced: Anthropic limits counting apart from messages), else
//! the count the deployment's provider paces its requests by.

use axum::response::{IntoResponse, Response};
use pacer_providers::Forwarded;
use pacer_providers::anthropic::Endpoint as AnthropicEndpoint;
use serde_json::{Map, Value};

use super::{GatewayError, Route};
use crate::translate;

/// The input tokens of the Messages body `body` on `route`, in Anthropic's reply shape.
pub(super) async fn count_tokens(
    route: &Route,
    body: &mut Map<String, Value>,
) -> Result<Response, GatewayError> {
    let dep = route.first_open();
    if let Some(anthropic) = &dep.anthropic {
        body.insert("model".into(), Value::String(dep.upstream_model.clone()));
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        return match anthropic
            .forward(AnthropicEndpoint::CountTokens, bytes, false)
            .await
        {
            Ok(Forwarded::Whole { body, .. }) => {
                Ok(([("content-type", "application/json")], body).into_response())
            }
            Ok(Forwarded::Stream { .. }) => Err(GatewayError::InvalidRequest(
                "the upstream streamed a token count".into(),
            )),
            Err(error) => Err(GatewayError::Upstream(error)),
        };
    }
    let request = translate::messages::count_request(&dep.upstream_model, body)
        .map_err(GatewayError::Malformed)?;
    let tokens = dep.lane.provider().estimate_input_tokens(&request);
    Ok(axum::Json(translate::messages::count(tokens)).into_response())
}
