//! One request as one call on its model's lane: a slot, the client key's own limit, then
//! the lane (which waits for capacity, sends, learns, retries and budgets), then the reply.
//! Nothing that reached the client is sent again, since a call returns as soon as a reply
//! has begun.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use pacer_core::{ErrorKind, ProviderError};
use pacer_engine::{NotDone, Unfinished};
use pacer_limit::Cost;
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
    let (item, replying) = match work_item(route, endpoint, body, done.stream, &done.id) {
        Ok(made) => made,
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
    let reply = match replying {
        Replying::Rendered(rendering) => {
            rendering.reply(&done.id, &route.spec.name, &response, done.stream)
        }
        Replying::AsSent(stash) => match stash.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(Passed::Whole(body)) => Reply::Whole {
                body,
                content_type: "application/json",
            },
            Some(Passed::Events(events)) => Reply::Events {
                events,
                held: outcome.held,
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
    Ok(reply_to_client(gateway, route, reply, slot, started, done))
}
