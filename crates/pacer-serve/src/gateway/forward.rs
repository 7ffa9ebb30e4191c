//! One request as one call on its model's lane: a slot, the client key's own limit, then
//! the lane (which waits for capacity, sends, learns, retries and budgets), then the reply.
//! Nothing that reached the client is sent again, since a call returns as soon as a reply
//! has begun.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;

use pacer_core::{ErrorKind, ProviderError, Usage};
use pacer_engine::{NotDone, Reservation, Work, WorkItem};
use pacer_limit::{Cost, Dimension, Limiter, Permit};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::respond::{Events, Reply, reply_to_client};
use super::work::{Passed, Replying, work_item};
use super::{Dep, Done, Endpoint, Gateway, GatewayError, Route};

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
    // The key's own limits and budget, checked once for what the request stands for.
    let client = gateway.clients.get(&done.client);
    let key_budget = gateway.budgets.get(&done.client);
    let counts = client.is_some_and(Limiter::counts_tokens) || key_budget.is_some();
    let mut keyed: Option<Keyed> = None;
    // Deployments that failed this request, in order; with several, the route retries
    // across them (each lane retries nothing itself).
    let mut tried: Vec<usize> = Vec::new();
    let tries = if route.several() {
        route.spec.retry.max_retries.saturating_add(1)
    } else {
        1
    };
    let mut sent = Sent::default();
    let mut index = 0;
    let mut first = true;
    for attempt in 0..tries {
        let made = match work_item(
            route,
            &route.deployments[index],
            endpoint,
            body,
            done.stream,
            &done.id,
        ) {
            Ok(made) => made,
            Err(error) => return Err((done, error)),
        };
        let cost = estimate_item(&route.deployments[index], &made.0, counts);
        // The deployment that would admit it soonest; its own item where it is another.
        let pick = route.pick(cost, &tried);
        let (item, replying) = if pick == index {
            made
        } else {
            index = pick;
            match work_item(
                route,
                &route.deployments[index],
                endpoint,
                body,
                done.stream,
                &done.id,
            ) {
                Ok(made) => made,
                Err(error) => return Err((done, error)),
            }
        };
        let dep = &route.deployments[index];
        done.deployment.clone_from(&dep.id);
        done.price = dep.price;
        if first {
            first = false;
            match Keyed::admit(client, key_budget, cost, dep, deadline, &done).await {
                Ok(admitted) => keyed = Some(admitted),
                Err(refused) => {
                    done.queue_wait = Some(started.elapsed());
                    return Err((done, refused));
                }
            }
        }
        let slot = match tokio::time::timeout_at(deadline, dep.slots.clone().acquire_owned()).await
        {
            Ok(Ok(slot)) => slot,
            _ => {
                done.queue_wait = Some(started.elapsed());
                let refused = GatewayError::QueueTimeout {
                    wait: max_wait,
                    max: max_wait,
                };
                return Err((done, sent.charged(keyed, dep, refused)));
            }
        };
        let before_lane = started.elapsed();
        let last = attempt + 1 == tries;
        let outcome = match dep.lane.call(item, started, max_wait).await {
            Ok(outcome) => outcome,
            Err(unfinished) => {
                sent.add(unfinished.attempts, &unfinished.usage, unfinished.upstream);
                done.queue_wait = Some(before_lane + unfinished.queued);
                let error = match unfinished.why {
                    NotDone::Busy { retry_after } => GatewayError::QueueTimeout {
                        wait: retry_after,
                        max: max_wait,
                    },
                    NotDone::OverBudget(exhausted) => GatewayError::OverBudget(exhausted),
                    // A stopped deployment (its key refused, its quota used up): another.
                    NotDone::Stopped { .. } if !last && route.several() => {
                        fell_over(route, index, &mut tried, &mut done);
                        continue;
                    }
                    NotDone::Stopped {
                        error: Some(error), ..
                    } => GatewayError::Upstream(*error),
                    NotDone::Stopped {
                        reason,
                        error: None,
                    } => GatewayError::Stopped(reason),
                };
                sent.write(&mut done);
                return Err((done, sent.charged(keyed, dep, error)));
            }
        };
        sent.add(
            outcome.attempts,
            &outcome.usage_all_attempts,
            outcome.upstream,
        );
        done.queue_wait = Some(before_lane + outcome.queued);
        let response = match outcome.result {
            Ok(response) => response,
            Err(error) => {
                if !last && route.several() && falls_over(&error) {
                    fell_over(route, index, &mut tried, &mut done);
                    // Every deployment failed it once: back off before the next round.
                    if tried.is_empty() {
                        let round = attempt / u32::try_from(route.deployments.len()).unwrap_or(1);
                        if let Some(delay) =
                            route.spec.retry.next_delay(round, &error, fastrand::f64())
                        {
                            tokio::time::sleep(delay).await;
                        }
                    }
                    continue;
                }
                sent.write(&mut done);
                return Err((
                    done,
                    sent.charged(keyed, dep, GatewayError::Upstream(error)),
                ));
            }
        };
        sent.write(&mut done);
        // A forwarded call that succeeded has left its reply: this is no reply at all.
        let lost = || Reply::Lost;
        let reply = match replying {
            Replying::Rendered(rendering) => {
                rendering.reply(&done.id, &route.spec.name, &response, done.stream)
            }
            Replying::AsSent(stash) => match stash.lock().unwrap_or_else(|e| e.into_inner()).take()
            {
                Some(Passed::Whole(body)) => Reply::Whole {
                    body,
                    content_type: "application/json",
                },
                // The usage comes at the stream's end: the holds are settled then.
                Some(Passed::Events(events)) => {
                    let key_hold = keyed.as_mut().and_then(|k| k.hold.take());
                    Reply::Events {
                        events: Events::Passed(events),
                        held: outcome.held.into_iter().chain(key_hold).collect(),
                    }
                }
                Some(Passed::Deltas(_)) | None => lost(),
            },
            Replying::Streamed(stash, renderer) => {
                match stash.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    Some(Passed::Deltas(deltas)) => {
                        let key_hold = keyed.as_mut().and_then(|k| k.hold.take());
                        let writer = renderer.writer(&done.id, &route.spec.name);
                        Reply::Events {
                            events: Events::Rendered(deltas, writer),
                            held: outcome.held.into_iter().chain(key_hold).collect(),
                        }
                    }
                    _ => lost(),
                }
            }
        };
        if let Reply::Lost = reply {
            let lost = ProviderError::new(
                ErrorKind::InvalidResponse,
                "the upstream's reply was lost on its way to the client",
            );
            return Err((done, sent.charged(keyed, dep, GatewayError::Upstream(lost))));
        }
        // A whole reply's usage is known now: the key is charged it (a stream keeps its
        // worst case in the key's limiter, and its budget hold goes with the stream).
        if let Some(keyed) = keyed {
            keyed.settle(&sent.usage, dep, matches!(reply, Reply::Events { .. }));
        }
        return Ok(reply_to_client(
            gateway, route, index, reply, slot, started, done,
        ));
    }
    unreachable!("the last try returns")
}

/// Whether a failed attempt goes on to another deployment: a server error, an overload, a
/// timeout or a broken connection (not the request's own fault, not a rate limit, which the
/// lane has waited out already).
fn falls_over(error: &ProviderError) -> bool {
    error.kind.is_retryable() && !error.kind.is_rate_limit()
}

/// Notes that deployment `index` failed the request; when every one has, a new round begins.
fn fell_over(route: &Route, index: usize, tried: &mut Vec<usize>, done: &mut Done) {
    done.fell_from.push(route.deployments[index].id.clone());
    tried.push(index);
    if tried.len() >= route.deployments.len() {
        tried.clear();
    }
}

/// What a request's attempts on every deployment added up to.
#[derive(Default)]
struct Sent {
    attempts: u32,
    usage: Usage,
    upstream: Duration,
}

impl Sent {
    fn add(&mut self, attempts: u32, usage: &Usage, upstream: Duration) {
        self.attempts += attempts;
        self.usage.add(usage);
        self.upstream += upstream;
    }

    /// Into the request's record.
    fn write(&self, done: &mut Done) {
        done.attempts = self.attempts;
        done.usage = self.usage;
        done.upstream = (self.attempts > 0).then_some(self.upstream);
    }

    /// `error`, after charging the key what the failed attempts were billed.
    fn charged(&self, keyed: Option<Keyed<'_>>, dep: &Dep, error: GatewayError) -> GatewayError {
        if let Some(keyed) = keyed {
            keyed.settle_failed(&self.usage, dep);
        }
        error
    }
}

/// What a gateway key holds for a request: its limiter's permit and its budget's hold.
struct Keyed<'a> {
    client: Option<(&'a Limiter, Permit)>,
    hold: Option<Reservation>,
}

impl<'a> Keyed<'a> {
    /// Admits `cost` under the key's own limiter (waiting up to `deadline`) and reserves
    /// its worst case in the key's budget; `Err` is the refusal to send.
    async fn admit(
        client: Option<&'a Limiter>,
        budget: Option<&Arc<pacer_engine::Budget>>,
        cost: Cost,
        dep: &Dep,
        deadline: Instant,
        done: &Done,
    ) -> Result<Self, GatewayError> {
        let mut keyed = Keyed {
            client: None,
            hold: None,
        };
        if let Some(client) = client {
            let permit = admit_client(client, cost, deadline).await?;
            keyed.client = Some((client, permit));
        }
        if let Some(budget) = budget {
            match budget.reserve_worst_case(&cost, dep.price.as_ref()) {
                Ok(hold) => keyed.hold = Some(hold),
                Err(exhausted) => {
                    return Err(GatewayError::KeyOverBudget {
                        key: done.client.clone(),
                        exhausted,
                    });
                }
            }
        }
        Ok(keyed)
    }

    /// Charges the key what a reply used; a stream's charge comes at its end.
    fn settle(self, usage: &Usage, dep: &Dep, streamed: bool) {
        if !streamed && let Some((client, permit)) = &self.client {
            client.settle(
                permit,
                Cost::request(usage.input_tokens, usage.output_tokens),
            );
        }
        if let Some(hold) = self.hold {
            hold.settle(usage, dep.price.as_ref());
        }
    }

    /// Charges the key's budget what failed attempts were billed (nothing: released).
    fn settle_failed(self, usage: &Usage, dep: &Dep) {
        if let Some(hold) = self.hold.filter(|_| usage.total() > 0) {
            hold.settle(usage, dep.price.as_ref());
        }
    }
}

/// What `item` stands for, as the lane estimates it (its prompt counted when `count`).
fn estimate_item(dep: &Dep, item: &WorkItem<()>, count: bool) -> Cost {
    let provider = dep.lane.provider().as_ref();
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
