//! One request as one call on its model's lane: a slot, the client key's own limit, then
//! the lane (which waits for capacity, sends, learns, retries and budgets), then the reply.
//! Nothing that reached the client is sent again, since a call returns as soon as a reply
//! has begun.

use std::sync::Arc;

use axum::response::Response;
use pacer_core::{ErrorKind, ProviderError};
use pacer_engine::{NotDone, Unfinished, Work, WorkItem};
use pacer_limit::{Cost, Dimension, Limiter, Permit};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::respond::{Reply, reply_to_client};
use super::work::{Passed, Replying, work_item};
use super::{Done, Endpoint, Gateway, GatewayError, Route};

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
    let (item, replying) = match work_item(route, endpoint, body, done.stream, &done.id) {
        Ok(made) => made,
        Err(error) => return Err((done, error)),
    };
    // The key's own limits and budget, for what the request stands for.
    let client = gateway.clients.get(&done.client);
    let key_budget = gateway.budgets.get(&done.client);
    let counts = client.is_some_and(Limiter::counts_tokens) || key_budget.is_some();
    let cost = estimate_item(route, &item, counts);
    let mut client_permit = None;
    if let Some(client) = client {
        match admit_client(client, cost, deadline).await {
            Ok(permit) => client_permit = Some(permit),
            Err(refused) => {
                done.queue_wait = Some(started.elapsed());
                return Err((done, refused));
            }
        }
    }
    let mut key_hold = None;
    if let Some(budget) = key_budget {
        match budget.reserve_worst_case(&cost, route.spec.price.as_ref()) {
            Ok(hold) => key_hold = Some(hold),
            Err(exhausted) => {
                let refused = GatewayError::KeyOverBudget {
                    key: done.client.clone(),
                    exhausted,
                };
                return Err((done, refused));
            }
        }
    }
    let before_lane = started.elapsed();
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
            // Attempts that were billed before the request gave up go against the key.
            if let Some(hold) = key_hold.take().filter(|_| usage.total() > 0) {
                hold.settle(&usage, route.spec.price.as_ref());
            }
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
    let price = route.spec.price;
    let response = match outcome.result {
        Ok(response) => response,
        Err(error) => {
            // What the failed attempts were billed goes against the key too.
            if let Some(hold) = key_hold {
                hold.settle(&outcome.usage_all_attempts, price.as_ref());
            }
            return Err((done, GatewayError::Upstream(error)));
        }
    };
    let reply = match replying {
        Replying::Rendered(rendering) => {
            rendering.reply(&done.id, &route.spec.name, &response, done.stream)
        }
        Replying::AsSent(stash) => match stash.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(Passed::Whole(body)) => Reply::Whole {
                body,
                content_type: "application/json",
            },
            // The usage comes at the stream's end: the holds are settled then.
            Some(Passed::Events(events)) => Reply::Events {
                events,
                held: outcome.held.into_iter().chain(key_hold.take()).collect(),
            },
            // A forwarded call that succeeded has left its reply: this is no reply at all.
            None => {
                let lost = ProviderError::new(
                    ErrorKind::InvalidResponse,
                    "the upstream's reply was lost on its way to the client",
                );
                return Err((done, GatewayError::Upstream(lost)));
            }
        },
    };
    // A whole reply's usage is known now: the key is charged it (a stream keeps its worst
    // case in the key's limiter, and its budget hold goes with the stream).
    let usage = outcome.usage_all_attempts;
    if !matches!(reply, Reply::Events { .. })
        && let (Some(client), Some(permit)) = (client, &client_permit)
    {
        client.settle(
            permit,
            Cost::request(usage.input_tokens, usage.output_tokens),
        );
    }
    if let Some(hold) = key_hold {
        hold.settle(&usage, price.as_ref());
    }
    Ok(reply_to_client(gateway, route, reply, slot, started, done))
}

/// What `item` stands for, as the lane estimates it (its prompt counted when `count`).
fn estimate_item(route: &Route, item: &WorkItem<()>, count: bool) -> Cost {
    let provider = route.lane.provider().as_ref();
    match &item.work {
        Work::Prompt(request) => pacer_engine::estimate(provider, request, count),
        Work::Forward { stands_for, .. } => pacer_engine::estimate(provider, stands_for, count),
        Work::Factory(_) | Work::Direct(_) => Cost::request(0, 0),
    }
}

/// Waits, up to `deadline`, for the key's own limiter to admit `cost`; `Err` names the
/// limit that refused it.
async fn admit_client(
    client: &Limiter,
    cost: Cost,
    deadline: Instant,
) -> Result<Permit, GatewayError> {
    let limits = client.limits();
    let left = deadline.saturating_duration_since(Instant::now());
    let wait = match client.acquire_within(cost, left).await {
        Ok(Ok(permit)) => return Ok(permit),
        Ok(Err(wait)) => wait,
        Err(too_big) => {
            return Err(GatewayError::InvalidRequest(format!(
                "this request is larger than what the gateway key may send in a minute: {too_big}"
            )));
        }
    };
    // The limit that holds it back: the first with less room than the request needs.
    let binding = Dimension::ALL
        .into_iter()
        .filter_map(|d| limits.get(d).map(|per_minute| (d, per_minute.get())))
        .find(|(d, _)| {
            client
                .available(*d)
                .is_some_and(|room| room < cost.of(*d) as f64)
        })
        .or_else(|| limits.rpm.map(|rpm| (Dimension::Requests, rpm.get())))
        .unwrap_or((Dimension::Requests, 0));
    Err(GatewayError::ClientRateLimited {
        wait,
        limit: binding.0.key(),
        per_minute: binding.1,
    })
}
