//! The lane: one model's queue, worked with bounded concurrency under one limiter.

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::stream::{Stream, StreamExt};
use pacer_core::{
    Accounting, ErrorKind, LimitDimension, Provider, ProviderError, Request, Response, Usage,
};
use pacer_limit::{Cost, Dimension, Limiter, LimiterConfig, Permit, Reading};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::work::DirectCall;
use crate::{
    Attempt, AttemptSchedule, Event, Middleware, Observer, Outcome, RetryPolicy, Stats, Work,
    WorkItem,
};

/// How a lane works its items.
#[derive(Clone, Debug)]
pub struct LaneConfig {
    /// The lane's name (the model's label), used in events and messages.
    pub name: String,
    /// Items in flight at once.
    pub concurrency: NonZeroUsize,
    /// How long one request may take.
    pub timeout: Duration,
    /// When to retry.
    pub retry: RetryPolicy,
    /// Parameters per error retry.
    pub schedule: AttemptSchedule,
    /// The output tokens assumed for the limiter's estimate when a request sets no
    /// `max_tokens`.
    pub default_max_tokens: u32,
    /// Seeds the backoff jitter, for reproducible tests.
    pub jitter_seed: Option<u64>,
}

impl LaneConfig {
    /// Defaults for a lane called `name`: 8 in flight, 120 s timeout, 3 error retries.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            concurrency: NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN),
            timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            schedule: AttemptSchedule::default(),
            default_max_tokens: 1024,
            jitter_seed: None,
        }
    }
}

/// Why a lane stopped before its input ran out.
#[derive(Clone, Debug, PartialEq)]
pub struct StopReason {
    /// The error kind that stopped it, or `None` when the caller stopped it.
    pub kind: Option<ErrorKind>,
    /// What happened and what to do, in words.
    pub message: String,
}

/// Stops a lane from outside (e.g. on Ctrl-C): nothing new is taken, and what is in flight
/// is abandoned and stays pending.
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<watch::Sender<Option<StopReason>>>);

impl StopHandle {
    /// Stops the lane with `message`, unless it has stopped already.
    pub fn stop(&self, message: impl Into<String>) {
        let reason = StopReason {
            kind: None,
            message: message.into(),
        };
        self.0.send_if_modified(|current| {
            current.is_none() && {
                *current = Some(reason);
                true
            }
        });
    }
}

/// Builds a [`Lane`].
pub struct LaneBuilder {
    config: LaneConfig,
    provider: Arc<dyn Provider>,
    limiter: Option<Arc<Limiter>>,
    middleware: Vec<Arc<dyn Middleware>>,
    observers: Vec<Arc<dyn Observer>>,
}

impl LaneBuilder {
    /// Paces the lane with `limiter` (by default, one without limits).
    pub fn limiter(mut self, limiter: Arc<Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Adds a middleware; they run in the order added.
    pub fn middleware(mut self, middleware: Arc<dyn Middleware>) -> Self {
        self.middleware.push(middleware);
        self
    }

    /// Adds an observer.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observers.push(observer);
        self
    }

    /// The lane.
    pub fn build(self) -> Lane {
        let seed = self.config.jitter_seed.unwrap_or_else(|| fastrand::u64(..));
        let shared = Shared {
            limiter: self
                .limiter
                .unwrap_or_else(|| Arc::new(Limiter::new(LimiterConfig::default()))),
            provider: self.provider,
            middleware: self.middleware,
            observers: self.observers,
            stats: Mutex::new(Stats::default()),
            stop: Arc::new(watch::channel(None).0),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            config: self.config,
        };
        Lane {
            shared: Arc::new(shared),
        }
    }
}

/// One model's lane. See the crate docs for the flow.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use pacer_core::Request;
/// use pacer_engine::{Lane, LaneConfig, WorkItem};
/// use pacer_providers::MockProvider;
///
/// let lane = Lane::builder(LaneConfig::new("mock"), Arc::new(MockProvider::default())).build();
/// let items = (0..10).map(|i| WorkItem::prompt(format!("q{i}"), Request::text("m", None, "hi"), ()));
/// let mut ok = 0;
/// let stats = lane.process_all(items, |outcome| ok += usize::from(outcome.is_ok())).await;
/// assert_eq!((stats.total, ok), (10, 10));
/// # });
/// ```
pub struct Lane {
    /// Shared with the tasks working its items, which run on every thread of the runtime.
    shared: Arc<Shared>,
}

/// The lane's state, shared by its item tasks.
struct Shared {
    config: LaneConfig,
    provider: Arc<dyn Provider>,
    limiter: Arc<Limiter>,
    middleware: Vec<Arc<dyn Middleware>>,
    observers: Vec<Arc<dyn Observer>>,
    stats: Mutex<Stats>,
    stop: Arc<watch::Sender<Option<StopReason>>>,
    rng: Mutex<fastrand::Rng>,
}

/// What one attempt sends. It lives on the stack for one attempt, so the size difference
/// between the variants costs nothing worth a heap allocation per attempt.
#[allow(clippy::large_enum_variant)]
enum Dispatch<'a> {
    Request(Request),
    Direct(&'a DirectCall),
}

impl Lane {
    /// A builder for a lane sending through `provider`.
    pub fn builder(config: LaneConfig, provider: Arc<dyn Provider>) -> LaneBuilder {
        LaneBuilder {
            config,
            provider,
            limiter: None,
            middleware: Vec::new(),
            observers: Vec::new(),
        }
    }

    /// The lane's name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The lane's limiter.
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.shared.limiter
    }

    /// A handle that stops the lane.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.shared.stop.clone())
    }

    /// Why the lane stopped, if it did.
    pub fn stopped(&self) -> Option<StopReason> {
        self.shared.stop.borrow().clone()
    }

    /// A snapshot of the lane's totals.
    pub fn stats(&self) -> Stats {
        self.shared.lock_stats().clone()
    }

    /// Works every item of `items`, with at most `concurrency` in flight, and sends each
    /// outcome to `sink` as it ends. Returns when the input is exhausted and everything in
    /// flight has ended, or when the lane stops (items not taken yet stay in `items`;
    /// those in flight are abandoned and counted as pending).
    pub async fn run<C, S>(&self, items: S, sink: mpsc::Sender<Outcome<C>>) -> Stats
    where
        C: Send + 'static,
        S: Stream<Item = WorkItem<C>> + Send,
    {
        let shared = &self.shared;
        let mut items = pin!(items);
        // Each item is a task of its own, so a busy lane uses every thread of the runtime;
        // dropping the set (a lane abandoned mid-run) aborts them all.
        let mut in_flight = JoinSet::new();
        let mut exhausted = false;
        loop {
            let can_take = !exhausted
                && in_flight.len() < shared.config.concurrency.get()
                && shared.stop.borrow().is_none();
            tokio::select! {
                biased;
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    let done = match done {
                        Ok(done) => done,
                        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                        Err(_) => None,
                    };
                    if let Some(outcome) = done {
                        shared.count(&outcome);
                        if sink.send(outcome).await.is_err() {
                            shared.stop_with(None, "the receiver of outcomes went away".into());
                        }
                    }
                }
                next = items.next(), if can_take => match next {
                    Some(item) => {
                        let shared = shared.clone();
                        in_flight.spawn(async move { shared.process(item).await });
                    }
                    None => exhausted = true,
                },
                else => break,
            }
        }
        self.stats()
    }

    /// Works every item and hands each outcome to `post_process` (seed 002's
    /// post-processor); returns the totals.
    pub async fn process_all<C, I, F>(&self, items: I, mut post_process: F) -> Stats
    where
        C: Send + 'static,
        I: IntoIterator<Item = WorkItem<C>>,
        I::IntoIter: Send,
        F: FnMut(Outcome<C>),
    {
        let (tx, mut rx) = mpsc::channel(64);
        let run = self.run(futures_util::stream::iter(items), tx);
        let consume = async {
            while let Some(outcome) = rx.recv().await {
                post_process(outcome);
            }
        };
        tokio::join!(run, consume).0
    }
}

impl Shared {
    fn count<C>(&self, outcome: &Outcome<C>) {
        let mut stats = self.lock_stats();
        stats.total += 1;
        stats.usage.add(&outcome.usage_all_attempts);
        match &outcome.result {
            Ok(_) => stats.succeeded += 1,
            Err(error) => {
                stats.failed += 1;
                *stats.error_counts.entry(error.kind).or_default() += 1;
            }
        }
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emit(&self, event: Event<'_>) {
        for observer in &self.observers {
            observer.on_event(&event);
        }
    }

    fn stop_with(&self, kind: Option<ErrorKind>, message: String) {
        let reason = StopReason { kind, message };
        let stopped = self.stop.send_if_modified(|current| {
            current.is_none() && {
                *current = Some(reason.clone());
                true
            }
        });
        if stopped {
            self.emit(Event::LaneStopped {
                lane: &self.config.name,
                reason: &reason.message,
            });
        }
    }

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

    fn pending<C>(&self) -> Option<Outcome<C>> {
        self.lock_stats().pending += 1;
        None
    }

    fn draw(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).f64()
    }

    /// One item from first try to its end; `None` when the lane stopped first.
    async fn process<C>(&self, item: WorkItem<C>) -> Option<Outcome<C>> {
        let started = Instant::now();
        let lane = self.config.name.as_str();
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut rate_limited = 0u32;
        let mut usage = Usage::default();
        let mut last_request = None;
        let result = loop {
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
                Work::Direct(call) => Dispatch::Direct(call),
            };
            let cost = match &dispatch {
                Dispatch::Request(request) => Cost::request(
                    // Counting a prompt's tokens is the dearest step of an instant request:
                    // done only when a token limit is in force (or about to be learned).
                    if self.limiter.counts_tokens() {
                        self.provider.estimate_input_tokens(request)
                    } else {
                        0
                    },
                    request
                        .params
                        .max_output_tokens(self.config.default_max_tokens),
                ),
                Dispatch::Direct(_) => Cost::request(0, 0),
            };
            let permit = match self.or_stop(self.limiter.acquire(cost)).await {
                None => return self.pending(),
                Some(Err(too_big)) => {
                    break Err(ProviderError::new(
                        ErrorKind::BadRequest,
                        too_big.to_string(),
                    ));
                }
                Some(Ok(permit)) => permit,
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
            let Some(result) = self.or_stop(self.send(&dispatch, attempt)).await else {
                return self.pending();
            };
            for middleware in &self.middleware {
                middleware.after(&item.id, &result).await;
            }
            self.learn(&permit, &result);
            let accounting = match &dispatch {
                Dispatch::Request(_) => self.provider.accounting(),
                Dispatch::Direct(_) => Accounting::Actual,
            };
            if let Dispatch::Request(request) = dispatch {
                last_request = Some(request);
            }
            let error = match result {
                Ok(response) => {
                    usage.add(&response.usage);
                    self.settle(&permit, accounting, &response.usage);
                    self.limiter.succeeded();
                    break Ok(response);
                }
                Err(error) => error,
            };
            if let Some(billed) = &error.usage {
                usage.add(billed);
            }
            if error.kind.is_rate_limit() {
                rate_limited += 1;
                // Without retry-after, the reset of the limit the server says is used up.
                let wait = error.retry_after.or_else(|| {
                    error
                        .rate_limits
                        .as_ref()
                        .and_then(|limits| limits.exhausted_reset())
                });
                let cooldown = self.limiter.rate_limited(&permit, wait);
                {
                    let mut stats = self.lock_stats();
                    stats.rate_limited_requests += 1;
                    stats.rate_limit_events += u64::from(cooldown.is_some());
                }
                self.emit(Event::RateLimited {
                    lane,
                    item: &item.id,
                    cooldown,
                });
                if rate_limited > self.config.retry.max_rate_limit_retries {
                    break Err(error);
                }
                continue;
            }
            if error.kind.stops_lane() {
                let message = format!(
                    "lane {lane} stopped: {error}; {advice}",
                    advice = error.kind.advice()
                );
                self.stop_with(Some(error.kind), message);
                return self.pending();
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
                    self.or_stop(tokio::time::sleep(delay)).await?;
                }
                None => break Err(error),
            }
        };
        let elapsed = started.elapsed();
        self.emit(Event::Finished {
            lane,
            item: &item.id,
            error: result.as_ref().err().map(|e| e.kind),
            usage,
            elapsed,
        });
        Some(Outcome {
            id: item.id,
            context: item.context,
            result,
            request: last_request,
            attempts,
            usage_all_attempts: usage,
            elapsed,
            finished_at: SystemTime::now(),
        })
    }

    async fn send(
        &self,
        dispatch: &Dispatch<'_>,
        attempt: Attempt,
    ) -> Result<Response, ProviderError> {
        let timeout = self.config.timeout;
        let sent = match dispatch {
            Dispatch::Request(request) => {
                tokio::time::timeout(timeout, self.provider.send(request)).await
            }
            Dispatch::Direct(call) => tokio::time::timeout(timeout, call(attempt)).await,
        };
        sent.unwrap_or_else(|_| {
            Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("no reply within {:.1} s", timeout.as_secs_f64()),
            ))
        })
    }

    /// Passes what the reply's headers said about the limits to the limiter.
    fn learn(&self, permit: &Permit, result: &Result<Response, ProviderError>) {
        let (info, replied) = match result {
            Ok(response) => (response.rate_limits, true),
            Err(error) => (
                error.rate_limits.as_deref().copied(),
                error.status.is_some(),
            ),
        };
        let readings: Vec<(Dimension, Reading)> = info
            .map(|info| {
                info.readings()
                    .into_iter()
                    .filter(|(_, r)| r.limit.is_some() || r.remaining.is_some())
                    .map(|(d, r)| {
                        let dimension = match d {
                            LimitDimension::Requests => Dimension::Requests,
                            LimitDimension::Tokens => Dimension::Tokens,
                            LimitDimension::InputTokens => Dimension::InputTokens,
                            LimitDimension::OutputTokens => Dimension::OutputTokens,
                        };
                        let reading = Reading {
                            limit: r.limit,
                            remaining: r.remaining,
                        };
                        (dimension, reading)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.limiter.learn(permit, &readings, replied);
    }

    fn settle(&self, permit: &Permit, accounting: Accounting, usage: &Usage) {
        match accounting {
            Accounting::Actual => self.limiter.settle(
                permit,
                Cost::request(usage.input_tokens, usage.output_tokens),
            ),
            Accounting::Estimate => {}
        }
    }
}
