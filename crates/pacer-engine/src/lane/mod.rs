//! The lane: one model's queue, worked with bounded concurrency under one limiter.

pub(crate) mod attempt;
mod config;
mod output;
mod steps;
mod unfinished;

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{Stream, StreamExt};
use pacer_core::{ErrorKind, Provider, Usage};
use pacer_limit::{Limiter, LimiterConfig};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{Event, Middleware, Observer, Outcome, Stats, WorkItem};

pub use config::{LaneConfig, StopHandle, StopReason, UNPACED_IN_FLIGHT};
pub use unfinished::{NotDone, Unfinished};

/// Builds a [`Lane`].
pub struct LaneBuilder {
    config: LaneConfig,
    provider: Arc<dyn Provider>,
    limiter: Option<Arc<Limiter>>,
    middleware: Vec<Arc<dyn Middleware>>,
    observers: Vec<Arc<dyn Observer>>,
}

impl LaneBuilder {
    /// Paces the lane with `limiter` instead of the one it would build from its config's
    /// limits and its provider (to share one limiter between lanes, or to tune it).
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
        let provider = &self.provider;
        let limits = self.config.limits;
        let limiter = self.limiter.unwrap_or_else(|| {
            Arc::new(Limiter::new(LimiterConfig {
                // Limits nobody gave are learned from the first reply's headers, where the
                // provider sends them.
                probe: provider.reports_rate_limits(),
                ..LimiterConfig::new(limits)
            }))
        });
        let shared = Shared {
            limits_told: Mutex::new(limiter.limits()),
            limiter,
            provider: self.provider,
            middleware: self.middleware,
            observers: self.observers,
            stats: Mutex::new(Stats::default()),
            stop: Arc::new(watch::channel(None).0),
            closed: std::sync::OnceLock::new(),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            waiting: AtomicUsize::new(0),
            fed: Notify::new(),
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
    /// Set when the lane takes no new item but lets those in flight finish (the budget is
    /// spent): unlike a stop, nothing already sent is abandoned.
    closed: std::sync::OnceLock<StopReason>,
    rng: Mutex<fastrand::Rng>,
    /// Items waiting for capacity (taken but not yet admitted by the limiter).
    waiting: AtomicUsize,
    /// Signalled when an item is admitted, so the lane takes the next.
    fed: Notify,
    /// The limits the observers were last told of (see `limits_changed`).
    limits_told: Mutex<pacer_limit::Limits>,
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

    /// The lane's provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.shared.provider
    }

    /// Works one item now, beside whatever else the lane is doing, and returns its outcome:
    /// the single call of a gateway. It waits for capacity at most `max_wait` from `arrived`
    /// (and, after the server refused it with a 429, `max_wait` again); it is paced, sent,
    /// learned from, retried and budgeted as an item of [`run`](Self::run) is, with two
    /// differences that suit requests from many clients: one whose worst case would pass the
    /// budget is refused alone ([`NotDone::OverBudget`]) rather than closing the lane, and a
    /// 404 fails the request alone (a client's body may name an endpoint the model lacks),
    /// while a refused key or a used-up quota stops the lane as in a batch.
    ///
    /// A [`Work::Forward`](crate::Work::Forward) item whose call hands a stream to someone
    /// else returns once the stream has begun; nothing that has reached a client is ever
    /// sent again, since the call returns success as soon as it has.
    pub async fn call<C>(
        &self,
        item: WorkItem<C>,
        arrived: Instant,
        max_wait: Duration,
    ) -> Result<Outcome<C>, Unfinished> {
        let shared = &self.shared;
        if shared.stop.borrow().is_some() || shared.closed.get().is_some() {
            return Err(Unfinished {
                why: shared.stopped_here(None),
                attempts: 0,
                usage: Usage::default(),
                queued: Duration::ZERO,
                upstream: Duration::ZERO,
            });
        }
        let bound = attempt::WaitBound {
            first: arrived + max_wait,
            renewed: max_wait,
        };
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        let outcome = shared.process(item, arrived, Some(bound)).await?;
        shared.count(&outcome);
        Ok(outcome)
    }

    /// Whether the lane counts a request's prompt tokens (a token limit, or a budget, is in
    /// force or about to be learned): a caller that builds requests only to be estimated may
    /// leave their messages out otherwise.
    pub fn counts_prompt(&self) -> bool {
        self.shared.counts_prompt()
    }

    /// The output tokens assumed for a request that sets no `max_tokens`: its provider's cap
    /// (see [`Provider::default_max_tokens`]).
    pub fn default_max_tokens(&self) -> u32 {
        self.shared.provider.default_max_tokens()
    }

    /// Counts `usage`, billed for a streamed reply of this lane once its stream has ended,
    /// in the lane's totals (its budget is settled through [`Outcome::held`]).
    pub fn count_late(&self, usage: &Usage) {
        self.shared.lock_stats().usage.add(usage);
    }

    /// A handle that stops the lane.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.shared.stop.clone())
    }

    /// Why the lane stopped (or closed to new items), if it did.
    pub fn stopped(&self) -> Option<StopReason> {
        let stopped = self.shared.stop.borrow().clone();
        stopped.or_else(|| self.shared.closed.get().cloned())
    }

    /// A snapshot of the lane's totals.
    pub fn stats(&self) -> Stats {
        self.shared.lock_stats().clone()
    }

    /// Works every item of `items` and sends each outcome to `sink` as it ends. In flight
    /// are at most `concurrency` items when set; otherwise as many as the limiter admits
    /// (rate × latency) plus a short line waiting for capacity, up to `max_in_flight`.
    /// Returns when the input is exhausted and everything in flight has ended, or when the
    /// lane stops (items not taken yet stay in `items`; those in flight are abandoned and
    /// counted as pending).
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
            let open =
                !exhausted && shared.stop.borrow().is_none() && shared.closed.get().is_none();
            let can_take = open && shared.has_room(in_flight.len());
            let fed = shared.fed.notified();
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
                        // Counted as waiting until the limiter admits it (see `process`).
                        shared.waiting.fetch_add(1, Ordering::SeqCst);
                        let shared = shared.clone();
                        in_flight.spawn(async move {
                            match shared.process(item, Instant::now(), None).await {
                                Ok(outcome) => Some(outcome),
                                Err(_) => {
                                    shared.lock_stats().pending += 1;
                                    None
                                }
                            }
                        });
                    }
                    None => exhausted = true,
                },
                // Full for now: look again when an item is admitted.
                () = fed, if open && !can_take => {}
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
    /// Whether the lane may take another item with `in_flight` items out.
    fn has_room(&self, in_flight: usize) -> bool {
        if let Some(cap) = self.config.concurrency {
            return in_flight < cap.get();
        }
        if in_flight >= self.config.max_in_flight.get() {
            return false;
        }
        if !self.limiter.probing() && self.limiter.limits().is_unlimited() {
            return in_flight < UNPACED_IN_FLIGHT;
        }
        self.waiting.load(Ordering::SeqCst) < config::WAITING_FOR_CAPACITY
    }

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

    /// Takes no new item, but lets those in flight end and be recorded.
    fn close(&self, kind: ErrorKind, message: String) {
        let reason = StopReason {
            kind: Some(kind),
            message,
        };
        if self.closed.set(reason.clone()).is_ok() {
            self.emit(Event::LaneStopped {
                lane: &self.config.name,
                kind: reason.kind,
                reason: &reason.message,
            });
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
                kind: reason.kind,
                reason: &reason.message,
            });
        }
    }
}
