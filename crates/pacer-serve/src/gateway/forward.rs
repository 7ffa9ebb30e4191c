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
    body: &Map<String, Value>,
    started: Instant,
    mut done: Done,
) -> Result<Response, (Done, GatewayError)> {
    let max_wait = gateway.max_queue_wait;
    // The key's own limits and budget, checked once for what the request stands for.
    let client = gateway.clients.get(&done.client);
    let key_budget = gateway.budgets.get(&done.client);
    let counts = client.is_some_and(Limiter::counts_tokens) || key_budget.is_some();
    // Each deployment gets the body afresh (a pass-through sets its own fields in it).
    let make = |dep: &Dep, done: &Done| {
        work_item(
            route,
            dep,
            endpoint,
            &mut body.clone(),
            done.stream,
            &done.id,
        )
    };
    // What the request stands for, by the first deployment that can take it; those that
    // cannot (an endpoint their API lacks, a field only an upstream's own state serves) are
    // never tried.
    let mut unable: Vec<usize> = Vec::new();
    let mut cost = None;
    let mut refusal = None;
    for (i, dep) in route.deployments.iter().enumerate() {
        match make(dep, &done) {
            Ok((item, _)) => {
                cost.get_or_insert_with(|| {
                    estimate_item(dep, &item, counts || dep.lane.counts_prompt())
                });
            }
            Err(error) => {
                unable.push(i);
                refusal.get_or_insert(error);
            }
        }
    }
    let Some(cost) = cost else {
        let error = refusal.unwrap_or(GatewayError::NoRoute);
        return Err((done, error));
    };
    let keyed = match Keyed::admit(client, key_budget, cost, route, started + max_wait, &done).await
    {
        Ok(keyed) => keyed,
        Err(refused) => {
            done.queue_wait = Some(started.elapsed());
            return Err((done, refused));
        }
    };
    // With several deployments, the route retries across them (each lane retries nothing
    // itself): deployments that failed this request are tried again only after every other.
    let tries = if route.several() {
        route.spec.retry.max_retries.saturating_add(1)
    } else {
        1
    };
    let mut tried: Vec<usize> = Vec::new();
    let mut sent = Sent::default();
    let mut failed: Option<GatewayError> = None;
    for attempt in 0..tries {
        let index = route.pick(cost, &unable, &tried);
        let dep = &route.deployments[index];
        let (item, replying) = match make(dep, &done) {
            Ok(made) => made,
            Err(error) => return Err(sent.fail(done, keyed, dep, failed.unwrap_or(error))),
        };
        done.deployment.clone_from(&dep.id);
        done.price = dep.price;
        // A fallback waits for capacity anew, as a re-send after a 429 does.
        let arrived = if attempt == 0 {
            started
        } else {
            Instant::now()
        };
        let slot =
            match tokio::time::timeout_at(arrived + max_wait, dep.slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(slot)) => slot,
                _ => {
                    done.queue_wait = Some(started.elapsed());
                    let busy = GatewayError::QueueTimeout {
                        wait: max_wait,
                        max: max_wait,
                    };
                    return Err(sent.fail(done, keyed, dep, failed.unwrap_or(busy)));
                }
            };
        let before_lane = started.elapsed();
        let last = attempt + 1 == tries;
        let outcome = match dep.lane.call(item, arrived, max_wait).await {
            Ok(outcome) => outcome,
            Err(unfinished) => {
                sent.add(unfinished.attempts, &unfinished.usage, unfinished.upstream);
                done.queue_wait = Some(before_lane + unfinished.queued);
                let error = match unfinished.why {
                    // A deployment that failed it before said why: that, rather than a wait.
                    NotDone::Busy { .. } if failed.is_some() => {
                        failed.take().unwrap_or(GatewayError::NoRoute)
                    }
                    NotDone::Busy { retry_after } => GatewayError::QueueTimeout {
                        wait: retry_after,
                        max: max_wait,
                    },
                    NotDone::OverBudget(exhausted) => GatewayError::OverBudget(exhausted),
                    // A stopped deployment (its key refused, its quota used up): another.
                    NotDone::Stopped { reason, error } if !last && route.several() => {
                        failed = Some(match error {
                            Some(error) => GatewayError::Upstream(*error),
                            None => GatewayError::Stopped(reason),
                        });
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
                return Err(sent.fail(done, keyed, dep, error));
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
                    // Every deployment failed it once: back off before the next round, its
                    // slot given back meanwhile.
                    if tried.is_empty() {
                        drop(slot);
                        let round = attempt / u32::try_from(route.deployments.len()).unwrap_or(1);
                        if let Some(delay) =
                            route.spec.retry.next_delay(round, &error, fastrand::f64())
                        {
                            tokio::time::sleep(delay).await;
                        }
                    }
                    failed = Some(GatewayError::Upstream(error));
                    continue;
                }
                return Err(sent.fail(done, keyed, dep, GatewayError::Upstream(error)));
            }
        };
        sent.write(&mut done);
        let mut keyed = keyed;
        let streamed = |events: Events| {
            let (key_hold, key_permit) = keyed.for_stream();
            Reply::Events {
                events,
                held: outcome.held.into_iter().chain(key_hold).collect(),
                key_permit,
            }
        };
        let taken =
            |stash: &super::work::Stash| stash.lock().unwrap_or_else(|e| e.into_inner()).take();
        let reply = match replying {
            Replying::Rendered(rendering) => {
                rendering.reply(&done.id, &route.spec.name, &response, done.stream)
            }
            Replying::AsSent(stash) => match taken(&stash) {
                Some(Passed::Whole(body)) => Reply::Whole {
                    body,
                    content_type: "application/json",
                },
                // The usage comes at the stream's end: the holds are settled then.
                Some(Passed::Events(events)) => streamed(Events::Passed(events)),
                _ => Reply::Lost,
            },
            Replying::Streamed(stash, renderer) => match taken(&stash) {
                Some(Passed::Deltas(deltas)) => {
                    let writer = renderer.writer(&done.id, &route.spec.name);
                    streamed(Events::Rendered(deltas, writer))
                }
                _ => Reply::Lost,
            },
        };
        if let Reply::Lost = reply {
            // A forwarded call that succeeded has left its reply: this is no reply at all.
            let lost = ProviderError::new(
                ErrorKind::InvalidResponse,
                "the upstream's reply was lost on its way to the client",
            );
            return Err(sent.fail(done, keyed, dep, GatewayError::Upstream(lost)));
        }
        // A whole reply's usage is known now: the key is charged it (a stream took the
        // key's holds along, settled at its end).
        keyed.settle(&sent.usage, dep);
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

    /// The failure `error` to send, recorded, the key charged what the failed attempts were
    /// billed.
    fn fail(
        &self,
        mut done: Done,
        keyed: Keyed<'_>,
        dep: &Dep,
        error: GatewayError,
    ) -> (Done, GatewayError) {
        self.write(&mut done);
        keyed.settle_failed(&self.usage, dep);
        (done, error)
    }
}

/// What a gateway key holds for a request: its limiter's permit and its budget's hold.
#[derive(Default)]
struct Keyed<'a> {
    client: Option<(&'a Limiter, Permit)>,
    hold: Option<Reservation>,
}

impl<'a> Keyed<'a> {
    /// Admits `cost` under the key's own limiter (waiting up to `deadline`) and reserves
    /// its worst case in the key's budget, at the dearest of the model's deployments (any
    /// may answer it); `Err` is the refusal to send.
    async fn admit(
        client: Option<&'a Limiter>,
        budget: Option<&Arc<pacer_engine::Budget>>,
        cost: Cost,
        route: &Route,
        deadline: Instant,
        done: &Done,
    ) -> Result<Self, GatewayError> {
        let mut keyed = Keyed::default();
        if let Some(client) = client {
            let permit = admit_client(client, cost, deadline).await?;
            keyed.client = Some((client, permit));
        }
        if let Some(budget) = budget {
            match budget.reserve_worst_case(&cost, route.dearest().as_ref()) {
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

    /// The budget's hold and the limiter's permit, for a stream to settle at its end.
    fn for_stream(&mut self) -> (Option<Reservation>, Option<Box<Permit>>) {
        (
            self.hold.take(),
            self.client.take().map(|(_, permit)| Box::new(permit)),
        )
    }

    /// Charges the key what a whole reply used, at the price of the deployment that
    /// answered.
    fn settle(self, usage: &Usage, dep: &Dep) {
        if let Some((client, permit)) = &self.client {
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
