//! The lane's work item for one request, and how its reply reaches the client: a body
//! passed through as it is to a deployment that speaks its API (OpenAI's chat, legacy
//! completions and Responses API to an OpenAI-compatible one, Anthropic's Messages API to
//! Anthropic), its reply as the upstream sent it; or the body translated to Pacer's
//! request, the reply rendered in the endpoint's shape, a stream rendered piece by piece as
//! the upstream sends it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use pacer_core::{Deltas, ErrorKind, ProviderError, Request, Usage};
use pacer_engine::WorkItem;
use pacer_providers::Forwarded;
use pacer_providers::anthropic::Endpoint as AnthropicEndpoint;
use pacer_providers::openai::Api;
use serde_json::{Map, Value, json};

use super::estimate::{estimated_as, messages_estimated_as};
use super::render::{Renderer, Rendering};
use super::{Dep, Endpoint, GatewayError, Route};
use crate::translate;

/// What a forwarded call left for the client.
pub(super) enum Passed {
    /// A whole reply, as the upstream sent it.
    Whole(Bytes),
    /// A stream to pass through.
    Events(hyper::Response<hyper::body::Incoming>),
    /// A stream's pieces, to render in the client's API as they come.
    Deltas(Deltas),
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
    /// Its pieces, left in the stash, rendered as they come.
    Streamed(Stash, Renderer),
}

/// Posts a body as it is, streamed or not.
type Post = Arc<
    dyn Fn(Vec<u8>, bool) -> BoxFuture<'static, Result<Forwarded, ProviderError>> + Send + Sync,
>;

/// The work item for a request to `endpoint` with `body` (its `model` already routed) on
/// the deployment `dep`, and how its reply reaches the client.
pub(super) fn work_item(
    route: &Route,
    dep: &Dep,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
    stream: bool,
    id: &str,
) -> Result<(WorkItem<()>, Replying), GatewayError> {
    let model = &dep.upstream_model;
    let include_usage = || {
        body.get("stream_options")
            .and_then(|o| o.get("include_usage"))
            == Some(&Value::Bool(true))
    };
    match endpoint {
        Endpoint::Embeddings => {
            let provider = dep.lane.provider();
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
        // Answered before any work (see `count`).
        Endpoint::CountTokens => Err(GatewayError::NoRoute),
        Endpoint::Messages => match &dep.anthropic {
            Some(anthropic) => {
                let stands_for = messages_estimated_as(route, dep, body);
                let provider = anthropic.clone();
                let post: Post = Arc::new(move |bytes, stream| {
                    let provider = provider.clone();
                    Box::pin(async move {
                        provider
                            .forward(AnthropicEndpoint::Messages, bytes, stream)
                            .await
                    })
                });
                Ok(pass_through(dep, stands_for, post, body, stream, id))
            }
            None => {
                let request =
                    translate::messages::request(model, body).map_err(GatewayError::Malformed)?;
                Ok(translated(
                    route,
                    dep,
                    request,
                    stream,
                    id,
                    |input_tokens| (Renderer::Messages { input_tokens }, Rendering::Messages),
                ))
            }
        },
        Endpoint::Chat | Endpoint::Completions | Endpoint::Responses
            if dep.pass_through.is_some() =>
        {
            let api = match endpoint {
                Endpoint::Chat => Api::Chat,
                Endpoint::Completions => Api::Completions,
                _ => Api::Responses,
            };
            let stands_for = estimated_as(route, dep, api, body);
            // A chat stream's usage comes in a last chunk only when asked for; the Responses
            // API always ends its stream with it.
            if stream && api == Api::Chat {
                let options = body.entry("stream_options").or_insert_with(|| json!({}));
                if let Value::Object(options) = options {
                    options.insert("include_usage".into(), Value::Bool(true));
                }
            }
            let provider = dep.pass_through.clone().expect("checked above");
            let post: Post = Arc::new(move |bytes, stream| {
                let provider = provider.clone();
                Box::pin(async move { provider.forward(api, bytes, stream).await })
            });
            Ok(pass_through(dep, stands_for, post, body, stream, id))
        }
        Endpoint::Completions => Err(GatewayError::CompletionsNotServed),
        Endpoint::Chat => {
            let request = translate::chat::request(model, body).map_err(GatewayError::Malformed)?;
            let include_usage = include_usage();
            Ok(translated(route, dep, request, stream, id, |_| {
                (
                    Renderer::Chat { include_usage },
                    Rendering::Chat { include_usage },
                )
            }))
        }
        Endpoint::Responses => {
            // The upstream keeps earlier responses; a translated entry has none to go on from.
            for field in ["previous_response_id", "conversation"] {
                if body.get(field).is_some_and(|v| !v.is_null()) {
                    return Err(GatewayError::NeedsPassThrough { field });
                }
            }
            let request =
                translate::responses::request(model, body).map_err(GatewayError::Malformed)?;
            Ok((
                prompt(route, dep, request, id),
                Replying::Rendered(Rendering::Responses),
            ))
        }
    }
}

/// A translated request: streamed, its pieces rendered as they come; or whole, rendered
/// once answered. `shapes` gives both renderings from the prompt's estimated tokens.
fn translated(
    route: &Route,
    dep: &Dep,
    request: Request,
    stream: bool,
    id: &str,
    shapes: impl FnOnce(u64) -> (Renderer, Rendering),
) -> (WorkItem<()>, Replying) {
    let item = prompt(route, dep, request, id);
    let pacer_engine::Work::Prompt(request) = &item.work else {
        unreachable!("a prompt")
    };
    if !stream {
        return (item, Replying::Rendered(shapes(0).1));
    }
    let input_tokens = dep.lane.provider().estimate_input_tokens(request);
    let renderer = shapes(input_tokens).0;
    let request = Arc::new(request.clone());
    let provider = dep.lane.provider().clone();
    let stash: Stash = Arc::default();
    let left = stash.clone();
    let item = WorkItem::forward(
        id,
        (*request).clone(),
        true,
        move |_attempt| {
            let (provider, stash, request) = (provider.clone(), left.clone(), request.clone());
            Box::pin(async move {
                let streaming = provider.stream(&request).await?;
                *stash.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Passed::Deltas(streaming.deltas));
                Ok(empty_response(Usage::default(), streaming.rate_limits))
            })
        },
        (),
    );
    (item, Replying::Streamed(stash, renderer))
}

/// The response a forwarded call hands the lane: no choices, what it used so far.
fn empty_response(
    usage: Usage,
    rate_limits: Option<pacer_core::RateLimitInfo>,
) -> pacer_core::Response {
    pacer_core::Response {
        model_version: None,
        choices: Vec::new(),
        usage,
        rate_limits,
        first_token: None,
        embeddings: Vec::new(),
    }
}

/// A translated request, with the output cap the limiter reserves for sent as its cap.
fn prompt(route: &Route, dep: &Dep, mut request: Request, id: &str) -> WorkItem<()> {
    request.params.max_tokens.get_or_insert(
        route
            .spec
            .max_tokens
            .unwrap_or_else(|| dep.lane.default_max_tokens()),
    );
    WorkItem::prompt(id, request, ())
}

/// The pass-through of `body` by `post`, paced as `stands_for`; its reply is left in the
/// stash.
fn pass_through(
    dep: &Dep,
    stands_for: Request,
    post: Post,
    body: &mut Map<String, Value>,
    stream: bool,
    id: &str,
) -> (WorkItem<()>, Replying) {
    body.insert("model".into(), Value::String(dep.upstream_model.clone()));
    let bytes: Arc<[u8]> = serde_json::to_vec(body).unwrap_or_default().into();
    let stash: Stash = Arc::default();
    let left = stash.clone();
    let item = WorkItem::forward(
        id,
        stands_for,
        stream,
        move |_attempt| {
            let (post, stash, bytes) = (post.clone(), left.clone(), bytes.clone());
            Box::pin(async move {
                let (passed, usage, rate_limits) = match post(bytes.to_vec(), stream).await? {
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
                Ok(empty_response(usage, rate_limits))
            })
        },
        (),
    );
    (item, Replying::AsSent(stash))
}
