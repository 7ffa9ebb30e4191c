//! The lane's work item for one request, and how its reply reaches the client: an
//! OpenAI-compatible entry's body passed through as it is (chat, legacy completions, the
//! Responses API), its reply as the upstream sent it; or, for the other entries and for
//! every entry's embeddings, the body translated to Pacer's request and the reply rendered
//! in the endpoint's shape.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use pacer_core::{ErrorKind, ProviderError, Request, Usage};
use pacer_engine::WorkItem;
use pacer_providers::openai::{Api, Forwarded, OpenAiProvider};
use serde_json::{Map, Value, json};

use super::estimate::estimated_as;
use super::render::Rendering;
use super::{Endpoint, GatewayError, Route};
use crate::translate;

/// What a forwarded call left for the client.
pub(super) enum Passed {
    /// A whole reply, as the upstream sent it.
    Whole(Bytes),
    /// A stream to pass through.
    Events(hyper::Response<hyper::body::Incoming>),
}

/// Where a forwarded call leaves the reply it passes on (the lane hands back only what it
/// needs: usage and rate limits).
pub(super) type Stash = Arc<Mutex<Option<Passed>>>;

/// How a request's reply reaches the client.
pub(super) enum Replying {
    /// As the upstream sent it, left in the stash by the forwarded call.
    AsSent(Stash),
    /// Rendered from Pacer's response.
    Rendered(Rendering),
}

/// The work item for a request to `endpoint` with `body` (its `model` already routed), and
/// how its reply reaches the client.
pub(super) fn work_item(
    route: &Route,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
    stream: bool,
    id: &str,
) -> Result<(WorkItem<()>, Replying), GatewayError> {
    let model = &route.spec.upstream_model;
    match (endpoint, &route.pass_through) {
        (Endpoint::Embeddings, _) => {
            let provider = route.lane.provider();
            if provider.embedding_limits().is_none() {
                return Err(GatewayError::EmbeddingsNotServed {
                    provider: provider.kind(),
                });
            }
            let read =
                translate::embeddings::request(model, body).map_err(GatewayError::Malformed)?;
            let rendering = Rendering::Embeddings(read.encoding);
            Ok((
                WorkItem::prompt(id, read.request, ()),
                Replying::Rendered(rendering),
            ))
        }
        (Endpoint::Chat, Some(provider)) => {
            Ok(pass_through(route, provider, Api::Chat, body, stream, id))
        }
        (Endpoint::Completions, Some(provider)) => Ok(pass_through(
            route,
            provider,
            Api::Completions,
            body,
            stream,
            id,
        )),
        (Endpoint::Responses, Some(provider)) => Ok(pass_through(
            route,
            provider,
            Api::Responses,
            body,
            stream,
            id,
        )),
        (Endpoint::Completions, None) => Err(GatewayError::CompletionsNotServed),
        (Endpoint::Chat, None) => {
            let request = translate::chat::request(model, body).map_err(GatewayError::Malformed)?;
            let include_usage = body
                .get("stream_options")
                .and_then(|o| o.get("include_usage"))
                == Some(&Value::Bool(true));
            let rendering = Rendering::Chat { include_usage };
            Ok((prompt(route, request, id), Replying::Rendered(rendering)))
        }
        (Endpoint::Responses, None) => {
            // The upstream keeps earlier responses; a translated entry has none to go on from.
            for field in ["previous_response_id", "conversation"] {
                if body.get(field).is_some_and(|v| !v.is_null()) {
                    return Err(GatewayError::NeedsPassThrough { field });
                }
            }
            let request =
                translate::responses::request(model, body).map_err(GatewayError::Malformed)?;
            Ok((
                prompt(route, request, id),
                Replying::Rendered(Rendering::Responses),
            ))
        }
    }
}

/// A translated request, with the output cap the limiter reserves for sent as its cap.
fn prompt(route: &Route, mut request: Request, id: &str) -> WorkItem<()> {
    request.params.max_tokens.get_or_insert(
        route
            .spec
            .max_tokens
            .unwrap_or_else(|| route.lane.default_max_tokens()),
    );
    WorkItem::prompt(id, request, ())
}

/// The pass-through of `body` to `api` on an OpenAI-compatible entry, paced as what it
/// estimates to; its reply is left in the stash.
fn pass_through(
    route: &Route,
    provider: &Arc<OpenAiProvider>,
    api: Api,
    body: &mut Map<String, Value>,
    stream: bool,
    id: &str,
) -> (WorkItem<()>, Replying) {
    let stands_for = estimated_as(route, api, body);
    body.insert(
        "model".into(),
        Value::String(route.spec.upstream_model.clone()),
    );
    // A chat stream's usage comes in a last chunk only when asked for; the Responses API
    // always ends its stream with it.
    if stream && api == Api::Chat {
        let options = body.entry("stream_options").or_insert_with(|| json!({}));
        if let Value::Object(options) = options {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }
    let bytes: Arc<[u8]> = serde_json::to_vec(body).unwrap_or_default().into();
    let stash: Stash = Arc::default();
    let (provider, left) = (provider.clone(), stash.clone());
    let item = WorkItem::forward(
        id,
        stands_for,
        stream,
        move |_attempt| {
            let (provider, stash, bytes) = (provider.clone(), left.clone(), bytes.clone());
            Box::pin(async move {
                let (passed, usage, rate_limits) =
                    match provider.forward(api, bytes.to_vec(), stream).await? {
                        Forwarded::Whole {
                            status,
                            body,
                            rate_limits,
                        } => {
                            let Ok(value) = serde_json::from_slice::<Value>(&body) else {
                                return Err(ProviderError::new(
                                    ErrorKind::InvalidResponse,
                                    "the upstream's reply is not JSON",
                                )
                                .with_status(status)
                                .with_rate_limits(rate_limits));
                            };
                            let usage = translate::usage(&value).unwrap_or_default();
                            (Passed::Whole(body), usage, rate_limits)
                        }
                        // A stream's usage comes in its last event (see `respond`).
                        Forwarded::Stream { reply, rate_limits } => {
                            (Passed::Events(reply), Usage::default(), rate_limits)
                        }
                    };
                *stash.lock().unwrap_or_else(|e| e.into_inner()) = Some(passed);
                Ok(pacer_core::Response {
                    model_version: None,
                    choices: Vec::new(),
                    usage,
                    rate_limits,
                    first_token: None,
                    embeddings: Vec::new(),
                })
            })
        },
        (),
    );
    (item, Replying::AsSent(stash))
}
