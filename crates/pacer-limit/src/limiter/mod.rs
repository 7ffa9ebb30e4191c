//! The lane's limiter: every bucket at once, the cool-down and the slow start.

mod booking;
mod headroom;
mod learn;
mod refusal;
mod shared;
mod shared_key;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::bucket::Bucket;
use crate::{Cost, Dimension, LimiterConfig, Limits};

pub use refusal::Verdict;

/// A request the limiter can never admit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    /// One request costs more than the whole per-minute limit, so it would wait forever.
    #[error(
        "one request needs {cost} against a limit of {limit} {dimension}: it can never be sent; lower max_tokens or shorten the prompt, or raise `{key}`",
        key = dimension.key()
    )]
    InsufficientCapacity {
        /// The limit it exceeds.
        dimension: Dimension,
        /// What the request costs.
        cost: u64,
        /// The per-minute limit.
        limit: u64,
    },
}

/// An admitted request's reservation, to be settled when its reply is in.
#[derive(Clone, Copy, Debug)]
pub struct Permit {
    cost: Cost,
    epoch: u64,
    /// Units reserved in each dimension up to and including this permit, to tell which
    /// requests were sent after it.
    marks: [u64; 4],
    /// Whether this is the request that finds out the limits.
    probe: bool,
    /// When it was let go: a reply's `remaining` describes the server's buckets at about this
    /// time, and they have refilled since.
    sent: Instant,
    /// Its booking in the shared buckets, for a shared limiter.
    remote: Option<crate::remote::Booked>,
}

/// What a server reported about one of its limits (see `pacer_core::LimitReading`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// The per-minute limit.
    pub limit: Option<u64>,
    /// Units the server would still admit when it took the request.
    pub remaining: Option<u64>,
    /// Time until the server's bucket is full again.
    pub reset: Option<Duration>,
}

impl Permit {
    /// What was reserved.
    pub fn cost(&self) -> Cost {
        self.cost
    }
}

#[derive(Debug)]
struct State {
    buckets: [Option<Bucket>; 4],
    /// Nothing is admitted before this instant.
    paused_until: Option<Instant>,
    /// When the last pause ended, for the slow-start ramp.
    ramp_from: Option<Instant>,
    /// Counts cool-downs; a permit admitted before the current one began is part of the same
    /// rate-limit event.
    epoch: u64,
    /// Rate-limit events since the last success.
    consecutive: u32,
    /// Which buckets were learned from the server rather than configured.
    learned: [bool; 4],
    /// Units reserved so far in each dimension, limited or not.
    reserved: [u64; 4],
    /// Waiting for the first reply to tell the limits.
    probing: bool,
    /// The probe request is out.
    probe_in_flight: bool,
    /// The share of each limit paced at now (see [`LimiterConfig::headroom`]).
    headroom: f64,
    /// Successes since the headroom last changed.
    clean: u32,
    /// The most units the server has said remain, per dimension: its bucket holds at least
    /// this much, so the burst may be this large.
    seen: [f64; 4],
    /// Successes since the last rate-limit error, to tell one that comes alone.
    since_refusal: u32,
    /// Units of the requests waiting in line, not booked yet, per dimension.
    queued: [u64; 4],
    /// What others on the same key spend, per dimension.
    others: [shared_key::Others; 4],
    /// Units of the requests refused with a rate-limit error so far, per dimension: sent,
    /// but not counted by the server.
    refused: [u64; 4],
    /// Since when the shared buckets' Redis has not answered, if it has not.
    outage: Option<Instant>,
    /// When the lane last said so.
    outage_said: Option<Instant>,
}

/// Paces one lane under its limits. Share it as `Arc<Limiter>` between the lane's workers.
///
/// # Example
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::num::NonZeroU64;
/// use pacer_limit::{Cost, Limiter, LimiterConfig, Limits};
///
/// let limits = Limits { rpm: NonZeroU64::new(600), tpm: NonZeroU64::new(60_000), ..Limits::default() };
/// let limiter = Limiter::new(LimiterConfig::new(limits));
/// let permit = limiter.acquire(Cost::request(120, 256)).await.unwrap();
/// // ... send the request, then settle with what it really used:
/// limiter.settle(&permit, Cost::request(118, 40));
/// # });
/// ```
#[derive(Debug)]
pub struct Limiter {
    config: LimiterConfig,
    state: Mutex<State>,
    /// Wakes requests waiting for the probe's reply.
    probe_done: Notify,
    /// Wakes requests waiting to book when tokens are given back or the limits change.
    capacity: Notify,
    /// Requests waiting on `capacity`, so that a lane nobody waits in never touches it.
    waiting: AtomicUsize,
    /// The line: requests book their slots one at a time, in the order they arrived (tokio's
    /// mutex is fair), so a request's wait is what the requests ahead of it explain.
    line: tokio::sync::Mutex<()>,
    /// Where the buckets live when they are shared (see [`Limiter::shared`]).
    shared: Option<crate::remote::SharedKey>,
}

impl Limiter {
    /// A limiter with `config`, its buckets full.
    pub fn new(config: LimiterConfig) -> Self {
        let now = Instant::now();
        let headroom = config.headroom.clamp(0.01, 1.0);
        let buckets = Dimension::ALL.map(|d| {
            config.limits.get(d).map(|limit| {
                let burst = burst_units(&config, default_burst(&config, limit.get()), limit.get());
                Bucket::new(limit.get(), burst, headroom, now)
            })
        });
        let probing = config.probe && config.limits.is_unlimited();
        Self {
            state: Mutex::new(State {
                buckets,
                paused_until: None,
                ramp_from: None,
                epoch: 0,
                consecutive: 0,
                learned: [false; 4],
                reserved: [0; 4],
                probing,
                probe_in_flight: false,
                headroom,
                clean: 0,
                seen: [0.0; 4],
                since_refusal: 0,
                queued: [0; 4],
                others: Default::default(),
                refused: [0; 4],
                outage: None,
                outage_said: None,
            }),
            probe_done: Notify::new(),
            capacity: Notify::new(),
            waiting: AtomicUsize::new(0),
            line: tokio::sync::Mutex::new(()),
            shared: None,
            config,
        }
    }

    /// The units bucket `index` lets go at once: the configured burst, or the most the server
    /// has said remains, up to a whole minute.
    fn burst_units(&self, state: &State, index: usize, per_minute: u64) -> f64 {
        burst_units(
            &self.config,
            default_burst(&self.config, per_minute).max(state.seen[index]),
            per_minute,
        )
    }

    /// Re-sizes bucket `index` for `per_minute`, the burst and the headroom in force.
    fn refit(&self, state: &mut State, index: usize, per_minute: u64, now: Instant) {
        let burst = self.burst_units(state, index, per_minute);
        let headroom = self.pace(state, index, per_minute);
        // During a pause the debt counts from its end, so a new rate leaves the pause as it is.
        let from = state.paused_until.map_or(now, |p| p.max(now));
        if let Some(bucket) = state.buckets[index].as_mut() {
            bucket.refit(per_minute, burst, headroom, from);
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        let state = self.lock();
        let get = |d: Dimension| {
            state.buckets[d.index()]
                .as_ref()
                .and_then(|b| std::num::NonZeroU64::new(b.per_minute))
        };
        Limits {
            rpm: get(Dimension::Requests),
            tpm: get(Dimension::Tokens),
            itpm: get(Dimension::InputTokens),
            otpm: get(Dimension::OutputTokens),
        }
    }

    /// Checks that `cost` fits the limits at all, without reserving anything.
    pub fn check(&self, cost: Cost) -> Result<(), LimitError> {
        let state = self.lock();
        for dimension in Dimension::ALL {
            if let Some(bucket) = &state.buckets[dimension.index()] {
                let need = cost.of(dimension);
                if need > bucket.per_minute {
                    return Err(LimitError::InsufficientCapacity {
                        dimension,
                        cost: need,
                        limit: bucket.per_minute,
                    });
                }
            }
        }
        Ok(())
    }

    /// The share of the full rate allowed at `at`, climbing linearly after a pause.
    fn ramp_factor(&self, state: &State, at: Instant) -> f64 {
        let Some(from) = state.ramp_from else {
            return 1.0;
        };
        let ramp = self.config.slow_start.as_secs_f64();
        if ramp <= 0.0 {
            return 1.0;
        }
        let progress = at.saturating_duration_since(from).as_secs_f64() / ramp;
        let floor = self.config.slow_start_floor.clamp(0.01, 1.0);
        (floor + (1.0 - floor) * progress).min(1.0)
    }

    /// Settles `permit` with what the request really cost: the difference is given back to
    /// (or taken from) the token buckets. A permit from before a cool-down is not settled,
    /// since the pause already cleared the debt.
    pub fn settle(&self, permit: &Permit, actual: Cost) {
        let mut state = self.lock();
        if state.epoch != permit.epoch {
            return;
        }
        for dimension in [
            Dimension::Tokens,
            Dimension::InputTokens,
            Dimension::OutputTokens,
        ] {
            if let Some(bucket) = state.buckets[dimension.index()].as_mut() {
                let delta = actual.of(dimension) as i64 - permit.cost.of(dimension) as i64;
                bucket.adjust(delta);
            }
        }
        drop(state);
        if let Some(booked) = permit.remote {
            let mut delta = [0i64; 4];
            for dimension in [
                Dimension::Tokens,
                Dimension::InputTokens,
                Dimension::OutputTokens,
            ] {
                delta[dimension.index()] =
                    actual.of(dimension) as i64 - permit.cost.of(dimension) as i64;
            }
            self.settle_remote(booked.epoch, delta);
        }
        self.capacity_changed();
    }

    /// Wakes the requests waiting to book, if any.
    fn capacity_changed(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.capacity.notify_waiters();
        }
    }

    /// Whether a request's tokens matter to the limiter: a token limit is in force. (While
    /// the limits are being learned only the probe is out, and its tokens matter to none.)
    pub fn counts_tokens(&self) -> bool {
        let state = self.lock();
        [
            Dimension::Tokens,
            Dimension::InputTokens,
            Dimension::OutputTokens,
        ]
        .iter()
        .any(|d| state.buckets[d.index()].is_some())
    }

    /// Whether the lane is still waiting to learn its limits.
    pub fn probing(&self) -> bool {
        self.lock().probing
    }

    /// Reports a successful request: the run of consecutive rate-limit events is over, and
    /// the headroom may narrow.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.consecutive = 0;
        state.since_refusal = state.since_refusal.saturating_add(1);
        self.narrow(&mut state);
    }

    /// The share of each limit paced at now.
    pub fn headroom(&self) -> f64 {
        self.lock().headroom
    }

    /// When the current pause ends, if the lane is paused.
    pub fn paused_until(&self) -> Option<Instant> {
        let state = self.lock();
        state.paused_until.filter(|p| *p > Instant::now())
    }

    /// How many cool-downs have begun.
    pub fn cooldowns(&self) -> u64 {
        self.lock().epoch
    }

    /// Units available now in the bucket for `dimension`, if it is limited.
    pub fn available(&self, dimension: Dimension) -> Option<f64> {
        let state = self.lock();
        let now = Instant::now();
        state.buckets[dimension.index()]
            .as_ref()
            .map(|b| b.available(now))
    }

    /// The units bucket `dimension` lets go at once, if it is limited.
    pub fn burst(&self, dimension: Dimension) -> Option<f64> {
        self.lock().buckets[dimension.index()]
            .as_ref()
            .map(Bucket::burst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent under every panic point, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The configured burst of a limit of `per_minute`, in units.
fn default_burst(config: &LimiterConfig, per_minute: u64) -> f64 {
    config.burst.as_secs_f64() * per_minute as f64 / 60.0
}

/// A burst of `units` of a limit of `per_minute`, at most a minute's worth, less what the
/// server refills in the configured clock skew.
fn burst_units(config: &LimiterConfig, units: f64, per_minute: u64) -> f64 {
    let rate = per_minute as f64 / 60.0;
    (units.min(per_minute as f64) - rate * config.clock_skew.as_secs_f64()).max(1.0)
}
