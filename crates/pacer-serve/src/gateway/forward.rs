//! One request as one call on its model's lane: the OpenAI pass-through as a forwarded work
//! item (the client's body sent as it is, the reply whole or a stream), every other entry as
//! a prompt translated from OpenAI's chat format. The lane waits for capacity, sends, learns,
//! retries and budgets; nothing that reached the client is sent again, since a call returns
//! as soon as a reply has begun.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use pacer_core::{ErrorKind, Message, ProviderError, Request, Role, Usage};
use pacer_engine::{NotDone, Unfinished, WorkItem};
use pacer_limit::Cost;
use pacer_providers::openai::Forwarded;
use serde_json::{Map, Value, json};

use crate::translate;

use super::*;

/// What a forwarded call left for the client.
pub(super) enum Passed {
    /// A whole reply, as the upstream sent it.
    Whole(Bytes),
    /// A stream to pass through.
    Events(hyper::Response<hyper::body::Incoming>),
}

/// Where a forwarded call leaves the reply it passes on (the lane hands back only what it
/// needs: usage and rate limits).
type Stash = Arc<Mutex<Option<Passed>>>;

/// Waits for capacity, sends, retries, and replies; `Err` carries the failure to send.
pub(super) async fn forward(
    gateway: &Arc<Gateway>,
    route: &Arc<Route>,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
    started: Instant,
    mut done: Done,
) -> Result<Response, (Done, GatewayError)> {
    let max_wait = gateway.max_queue_wait;
    let deadline = started + max_wait;
    let slot = match tokio::time::timeout_at(deadline, route.slots.clone().acquire_owned()).await {
        Ok(Ok(slot)) => slot,
        _ => {
            done.queue_wait = Some(started.elapsed());
            let refused = GatewayError::QueueTimeout {
                wait: max_wait,
                max: max_wait,
            };
            return Err((done, refused));
        }
    };
    if let Some(client) = gateway.clients.get(&done.client) {
        let left = deadline.saturating_duration_since(Instant::now());
        let refused = match client.acquire_within(Cost::request(0, 0), left).await {
            Ok(Ok(_)) => None,
            Ok(Err(wait)) => Some(wait),
            Err(_) => Some(Duration::from_secs(1)),
        };
        if let Some(wait) = refused {
            done.queue_wait = Some(started.elapsed());
            return Err((done, GatewayError::ClientRateLimited { wait }));
        }
    }
    let before_lane = started.elapsed();
    let stash: Stash = Arc::default();
    let item = match work_item(route, endpoint, body, done.stream, &stash, &done.id) {
        Ok(item) => item,
        Err(error) => return Err((done, error)),
    };
    let outcome = match route.lane.call(item, started, max_wait).await {
        Ok(outcome) => outcome,
        Err(Unfinished {
            why,
            attempts,
            usage,
            queued,
            upstream,
        }) => {
            // The log says what the refused request did and how long it waited, as for the
            // others.
            done.attempts = attempts;
            done.usage = usage;
            done.queue_wait = Some(before_lane + queued);
            done.upstream = (attempts > 0).then_some(upstream);
            let error = match why {
                NotDone::Busy { retry_after } => GatewayError::QueueTimeout {
                    wait: retry_after,
                    max: max_wait,
                },
                NotDone::OverBudget(exhausted) => GatewayError::OverBudget(exhausted),
                NotDone::Stopped {
                    error: Some(error), ..
                } => GatewayError::Upstream(*error),
                NotDone::Stopped {
                    reason,
                    error: None,
                } => GatewayError::Stopped(reason),
            };
            return Err((done, error));
        }
    };
    done.attempts = outcome.attempts;
    done.queue_wait = Some(before_lane + outcome.queued);
    done.upstream = Some(outcome.upstream);
    done.usage = outcome.usage_all_attempts;
    let response = match outcome.result {
        Ok(response) => response,
        Err(error) => return Err((done, GatewayError::Upstream(error))),
    };
    let passed = stash.lock().unwrap_or_else(|e| e.into_inner()).take();
    let reply = match passed {
        Some(Passed::Whole(body)) => Reply::Whole {
            body,
            content_type: "application/json",
        },
        Some(Passed::Events(events)) => Reply::Events {
            events,
            held: outcome.held,
        },
        None => {
            let created = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let completion = translate::completion(
                &format!("chatcmpl-{}", done.id),
                created,
                &route.spec.name,
                &response,
            );
            if done.stream {
                let include_usage = body
                    .get("stream_options")
                    .and_then(|o| o.get("include_usage"))
                    == Some(&Value::Bool(true));
                Reply::Whole {
                    body: Bytes::from(pacer_core::chat_completion_events(
                        &completion,
                        include_usage,
                    )),
                    content_type: "text/event-stream",
                }
            } else {
                Reply::Whole {
                    body: Bytes::from(completion.to_string()),
                    content_type: "application/json",
                }
            }
        }
    };
    Ok(reply_to_client(gateway, route, reply, slot, started, done))
}

/// The lane's work item for one request: the pass-through of OpenAI-compatible entries, or
/// the translated request of the others.
fn work_item(
    route: &Route,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
    stream: bool,
    stash: &Stash,
    id: &str,
) -> Result<WorkItem<()>, GatewayError> {
    let Some(provider) = &route.pass_through else {
        if endpoint == Endpoint::Completions {
            return Err(GatewayError::CompletionsNotServed);
        }
        let mut request = translate::request(&route.spec.upstream_model, body)
            .map_err(GatewayError::InvalidRequest)?;
        // The cap the limiter reserves for, sent.
        request.params.max_tokens.get_or_insert(
            route
                .spec
                .max_tokens
                .unwrap_or_else(|| route.lane.default_max_tokens()),
        );
        return Ok(WorkItem::prompt(id, request, ()));
    };
    let stands_for = estimated_as(route, endpoint, body);
    // The upstream's name, and the final usage chunk of a stream.
    body.insert(
        "model".into(),
        Value::String(route.spec.upstream_model.clone()),
    );
    if stream {
        let options = body.entry("stream_options").or_insert_with(|| json!({}));
        if let Value::Object(options) = options {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }
    let bytes: Arc<[u8]> = serde_json::to_vec(body).unwrap_or_default().into();
    let api = match endpoint {
        Endpoint::Chat => Api::Chat,
        Endpoint::Completions => Api::Completions,
    };
    let (provider, stash) = (provider.clone(), stash.clone());
    Ok(WorkItem::forward(
        id,
        stands_for,
        stream,
        move |_attempt| {
            let (provider, stash, bytes) = (provider.clone(), stash.clone(), bytes.clone());
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
                        // A stream's usage comes in its last chunk (see `respond`).
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
                    embeddings: Vec::new(),
                })
            })
        },
        (),
    ))
}

/// The request a pass-through body is paced and budgeted as: its prompt (chat messages, or a
/// legacy prompt as one message; left out when the lane counts no prompt) and its output cap
/// (the body's, else the entry's).
fn estimated_as(route: &Route, endpoint: Endpoint, body: &Map<String, Value>) -> Request {
    let model = &route.spec.upstream_model;
    let mut request = match endpoint {
        _ if !route.lane.counts_prompt() => Request {
            model: model.clone(),
            messages: Vec::new(),
            params: Default::default(),
            inputs: Vec::new(),
        },
        Endpoint::Chat => translate::request(model, body).unwrap_or_else(|_| Request {
            model: model.clone(),
            messages: Vec::new(),
            params: Default::default(),
            inputs: Vec::new(),
        }),
        Endpoint::Completions => {
            let prompt = match body.get("prompt") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            Request {
                model: model.clone(),
                messages: vec![Message::new(Role::User, prompt)],
                params: Default::default(),
                inputs: Vec::new(),
            }
        }
    };
    request.params.max_tokens = translate::max_tokens(body).or(route.spec.max_tokens);
    request.params.n = translate::n(body);
    request
}
