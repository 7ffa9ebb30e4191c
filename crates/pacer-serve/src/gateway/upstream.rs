//! Waiting for capacity, sending upstream and retrying while nothing has reached the client.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use pacer_core::{Accounting, ErrorKind, ProviderError, RateLimitInfo, Usage};
use pacer_engine::{judge_refusal, learn_from};
use pacer_limit::{Cost, Verdict};
use pacer_providers::http::http_client;
use pacer_providers::openai;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::translate;

use super::*;

/// What came back from upstream.
pub(super) enum Upstreamed {
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
    pub(super) fn cost(&self, endpoint: Endpoint, body: &Map<String, Value>) -> Cost {
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

    pub(super) async fn send(
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

    pub(super) fn accounting(&self) -> Accounting {
        match &self.target {
            // OpenAI counts a request's prompt plus max_tokens × n against its limits,
            // whatever it uses, so the reservation stands.
            Target::OpenAi { .. } => Accounting::Estimate,
            Target::Provider(provider) => provider.accounting(),
        }
    }
}

pub(super) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Waits for capacity, sends, retries, and replies; `Err` carries the failure to send.
pub(super) async fn forward(
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
        _ => {
            done.queue_wait = Some(started.elapsed());
            return Err((done, Failure::queue_timeout(max_wait, max_wait)));
        }
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
            done.queue_wait = Some(started.elapsed());
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
                // The log says how long the refused request waited, as for the others.
                done.queue_wait = Some(queue_wait + waiting.elapsed());
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
                learn_from(&route.limiter, &permit, limits.as_ref(), true);
                route.limiter.succeeded();
                return Ok(reply(
                    gateway, route, &permit, upstreamed, slot, started, done,
                ));
            }
            Err(error) => {
                learn_from(
                    &route.limiter,
                    &permit,
                    error.rate_limits.as_deref(),
                    error.status.is_some(),
                );
                if let Some(usage) = &error.usage {
                    done.usage.add(usage);
                }
                if error.kind.is_rate_limit() {
                    rate_limited += 1;
                    let verdict = judge_refusal(&route.limiter, &permit, &error);
                    if rate_limited > policy.max_rate_limit_retries {
                        break error;
                    }
                    // A hiccup waits for this request alone; the route goes on.
                    if let Verdict::Hiccup { wait } = verdict {
                        tokio::time::sleep(wait).await;
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
