//! One item's attempts: pacing, sending, learning from the reply, retrying or giving up.

use std::future::Future;
use std::time::{Duration, SystemTime};

use pacer_core::{Accounting, ErrorKind, ProviderError, Request, Usage};
use pacer_limit::{Cost, Verdict};
use tokio::time::Instant;

use super::steps::Waiting;
use super::{NotDone, Shared, StopReason, Unfinished};
use crate::work::DirectCall;
use crate::{Attempt, Event, Outcome, Work, WorkItem};

/// What one attempt sends. It lives on the stack for one attempt, so the size difference
/// between the variants costs nothing worth a heap allocation per attempt.
#[allow(clippy::large_enum_variant)]
pub(super) enum Dispatch<'a> {
    Request(Request),
    /// A call that sends itself; `stands_for` is the request it is paced, budgeted and
    /// accounted as, if any.
    Direct {
        call: &'a DirectCall,
        stands_for: Option<&'a Request>,
        usage_later: bool,
    },
}

/// How long an item may wait for capacity: `first` is the deadline of its first wait, and
/// each wait after the server refused it (not the caller's fault) may last `renewed`.
#[derive(Clone, Copy)]
pub(super) struct WaitBound {
    pub(super) first: Instant,
    pub(super) renewed: Duration,
}

impl Shared {
    /// Runs `fut` unless the lane stops first.
    async fn or_stop<T>(&self, fut: impl Future<Output = T>) -> Option<T> {
        let mut stop = self.stop.subscribe();
        if stop.borrow().is_some() {
            return None;
        }
        tokio::select! {
            value = fut => Some(value),
            _ = stop.wait_for(Option::is_some) => None,
        }
    }

    /// The item ends unfinished because the lane stopped (or closed).
    pub(super) fn stopped_here(&self, error: Option<ProviderError>) -> NotDone {
        let reason = self.stop.borrow().clone();
        let reason = reason
            .or_else(|| self.closed.get().cloned())
            .unwrap_or_else(|| StopReason {
                kind: None,
                message: format!("lane {} stopped", self.config.name),
            });
        NotDone::Stopped {
            reason,
            error: error.map(Box::new),
        }
    }

    fn draw(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).f64()
    }

    /// One item from first try to its end. `Err` when it could not end: the lane stopped
    /// first, or (with a `bound`) no capacity came in time.
    pub(super) async fn process<C>(
        &self,
        item: WorkItem<C>,
        started: Instant,
        bound: Option<WaitBound>,
    ) -> Result<Outcome<C>, Unfinished> {
        let lane = self.config.name.as_str();
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut rate_limited = 0u32;
        let mut usage = Usage::default();
        let mut last_request = None;
        let (mut queued, mut upstream) = (Duration::ZERO, Duration::ZERO);
        let mut last_send = Duration::ZERO;
        let mut held = None;
        // Ends the item without an outcome, with what it had done so far.
        macro_rules! give_up {
            ($why:expr) => {
                return Err(Unfinished {
                    why: $why,
                    attempts,
                    usage,
                    queued,
                    upstream,
                })
            };
        }
        let mut deadline = bound.map(|b| b.first);
        // Taken by the lane's loop as waiting for capacity.
        let mut waiting = Waiting {
            shared: self,
            counted: true,
        };
        let result = loop {
            waiting.enter();
            let attempt = Attempt {
                number: attempts + 1,
                retry: retries,
                timeout: self.config.timeout,
            };
            let mut dispatch = match &item.work {
                Work::Prompt(request) => {
                    Dispatch::Request(self.config.schedule.apply(request.clone(), retries))
                }
                Work::Factory(factory) => Dispatch::Request(factory(attempt)),
                Work::Direct(call) => Dispatch::Direct {
                    call,
                    stands_for: None,
                    usage_later: false,
                },
                Work::Forward {
                    call,
                    stands_for,
                    usage_later,
                } => Dispatch::Direct {
                    call,
                    stands_for: Some(stands_for),
                    usage_later: *usage_later,
                },
            };
            let count_prompt = self.counts_prompt();
            let cost = match &dispatch {
                Dispatch::Request(request) => {
                    crate::estimate(self.provider.as_ref(), request, count_prompt)
                }
                Dispatch::Direct {
                    stands_for: Some(request),
                    ..
                } => crate::estimate(self.provider.as_ref(), request, count_prompt),
                Dispatch::Direct {
                    stands_for: None, ..
                } => Cost::request(0, 0),
            };
            let reservation = match self.reserve(&cost) {
                Ok(reservation) => reservation,
                // A single call is refused alone: a smaller request may still fit.
                Err(exhausted) if bound.is_some() => {
                    let why = NotDone::OverBudget(exhausted);
                    give_up!(why);
                }
                Err(exhausted) => {
                    let kind = ErrorKind::BudgetExhausted;
                    let message = format!(
                        "lane {lane} stopped: {kind}: {exhausted}; {advice}",
                        advice = kind.advice()
                    );
                    self.close(kind, message);
                    give_up!(self.stopped_here(None));
                }
            };
            let waiting_since = Instant::now();
            let acquired = self.or_stop(self.admit(cost, deadline)).await;
            waiting.leave();
            queued += waiting_since.elapsed();
            let permit = match acquired {
                None => {
                    give_up!(self.stopped_here(None));
                }
                Some(Err(too_big)) => {
                    break Err(ProviderError::new(ErrorKind::Config, too_big.to_string()));
                }
                Some(Ok(Err(retry_after))) => {
                    let why = NotDone::Busy { retry_after };
                    give_up!(why);
                }
                Some(Ok(Ok(permit))) => permit,
            };
            if let Dispatch::Request(request) = &mut dispatch {
                for middleware in &self.middleware {
                    middleware.before(&item.id, request).await;
                }
            }
            if attempts == 0 {
                self.emit(Event::Started {
                    lane,
                    item: &item.id,
                });
            }
            attempts += 1;
            let sending = Instant::now();
            let sent = self.or_stop(self.send(&dispatch, attempt)).await;
            last_send = sending.elapsed();
            upstream += last_send;
            let Some(result) = sent else {
                give_up!(self.stopped_here(None));
            };
            for middleware in &self.middleware {
                middleware.after(&item.id, &result).await;
            }
            self.learn(&permit, &result);
            self.limits_changed();
            let usage_later = matches!(
                dispatch,
                Dispatch::Direct {
                    usage_later: true,
                    ..
                }
            );
            if let Some(reservation) = reservation {
                match &result {
                    // The reply's usage comes after the call (a stream): its worst case stays
                    // held, and the caller settles it.
                    Ok(_) if usage_later => held = Some(reservation),
                    Ok(response) => reservation.settle(&response.usage, self.config.price.as_ref()),
                    Err(error) => reservation
                        .settle(&error.usage.unwrap_or_default(), self.config.price.as_ref()),
                }
            }
            let accounting = match &dispatch {
                Dispatch::Request(_)
                | Dispatch::Direct {
                    stands_for: Some(_),
                    ..
                } => self.provider.accounting(),
                Dispatch::Direct {
                    stands_for: None, ..
                } => Accounting::Actual,
            };
            // The server answered: the limiter settles what it billed, whether or not the
            // output then passes its schema. A reply whose usage comes after the call (a
            // stream) keeps its estimate: nothing billed is known yet.
            if let Ok(response) = &result {
                if !usage_later {
                    self.settle(&permit, accounting, &response.usage);
                }
                self.limiter.succeeded();
            }
            let result = self.check_output(result);
            if let Dispatch::Request(request) = dispatch {
                last_request = Some(request);
            }
            let error = match result {
                Ok(response) => {
                    usage.add(&response.usage);
                    break Ok(response);
                }
                Err(error) => error,
            };
            if let Some(billed) = &error.usage {
                usage.add(billed);
            }
            if error.kind.is_rate_limit() {
                rate_limited += 1;
                let verdict = crate::judge_refusal(&self.limiter, &permit, &error);
                self.limits_changed();
                let cooldown = match verdict {
                    Verdict::Paused { pause } => Some(pause),
                    Verdict::Hiccup { .. } | Verdict::Joined => None,
                };
                {
                    let mut stats = self.lock_stats();
                    stats.rate_limited_requests += 1;
                    stats.rate_limit_events += u64::from(cooldown.is_some());
                }
                self.emit(Event::RateLimited {
                    lane,
                    item: &item.id,
                    cooldown,
                    status: error.status,
                    message: &error.message,
                });
                if rate_limited > self.config.retry.max_rate_limit_retries {
                    break Err(error);
                }
                // A hiccup waits for this request alone; the lane goes on.
                // Its wait is time waiting for capacity, as the lane's pause is.
                if let Verdict::Hiccup { wait } = verdict {
                    let waiting_since = Instant::now();
                    let slept = self.or_stop(tokio::time::sleep(wait)).await;
                    queued += waiting_since.elapsed();
                    if slept.is_none() {
                        give_up!(self.stopped_here(None));
                    }
                }
                // A fresh wait: the server's refusal is not the caller's fault.
                deadline = bound.map(|b| Instant::now() + b.renewed);
                continue;
            }
            // A single call's 404 fails it alone: a client's body may name an endpoint or a
            // model the upstream lacks, which says nothing of the others' requests.
            let alone = bound.is_some() && error.kind == ErrorKind::NotFound;
            if error.kind.stops_lane() && !alone {
                let message = format!(
                    "lane {lane} stopped: {error}; {advice}",
                    advice = error.kind.advice()
                );
                self.stop_with(Some(error.kind), message);
                give_up!(self.stopped_here(Some(error)));
            }
            match self.config.retry.next_delay(retries, &error, self.draw()) {
                Some(delay) => {
                    retries += 1;
                    self.lock_stats().retries += 1;
                    self.emit(Event::Retried {
                        lane,
                        item: &item.id,
                        kind: error.kind,
                        retry: retries,
                        delay,
                    });
                    if self.or_stop(tokio::time::sleep(delay)).await.is_none() {
                        give_up!(self.stopped_here(None));
                    }
                }
                None => break Err(error),
            }
        };
        let elapsed = started.elapsed();
        let latency = result.is_ok().then_some(last_send);
        self.emit(Event::Finished {
            lane,
            item: &item.id,
            error: result.as_ref().err().map(|e| e.kind),
            usage,
            elapsed,
        });
        Ok(Outcome {
            id: item.id,
            context: item.context,
            result,
            request: last_request,
            attempts,
            usage_all_attempts: usage,
            elapsed,
            queued,
            upstream,
            latency,
            held,
            finished_at: SystemTime::now(),
        })
    }
}
