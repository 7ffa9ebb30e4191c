//! How a lane is set up ([`LaneConfig`]) and how it is stopped ([`StopHandle`], [`StopReason`]).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use pacer_core::{ErrorKind, Price};
use pacer_limit::Limits;
use tokio::sync::watch;

use crate::{AttemptSchedule, Budget, RetryPolicy, Validator};

/// Items in flight in a lane with neither a `concurrency` nor any limit, configured or
/// reported: nothing says how much the server takes, so it is not flooded.
pub const UNPACED_IN_FLIGHT: usize = 8;

/// Items a lane following its limit keeps waiting for capacity, so that the limiter always
/// has the next request at hand; the rest of its items in flight are sent.
pub(crate) const WAITING_FOR_CAPACITY: usize = 16;

/// How a lane works its items.
#[derive(Clone, Debug)]
pub struct LaneConfig {
    /// The lane's name (the model's label), used in events and messages.
    pub name: String,
    /// The model's per-minute limits; those not given are learned from the replies' headers
    /// when the provider sends them. The lane builds its limiter from these.
    pub limits: Limits,
    /// An explicit cap on the items in flight, for servers that need one (local models keep
    /// theirs at 1). `None`: as many as the limiter admits, so that in flight follows the
    /// admitted rate times the latency the server shows, up to `max_in_flight`; a lane whose
    /// server states no limit at all keeps [`UNPACED_IN_FLIGHT`].
    pub concurrency: Option<NonZeroUsize>,
    /// The most items in flight when `concurrency` is not set, waiting for capacity or sent:
    /// what bounds the lane's memory.
    pub max_in_flight: NonZeroUsize,
    /// How long one request may take.
    pub timeout: Duration,
    /// When to retry.
    pub retry: RetryPolicy,
    /// Parameters per error retry.
    pub schedule: AttemptSchedule,
    /// Seeds the backoff jitter, for reproducible tests.
    pub jitter_seed: Option<u64>,
    /// The model's prices, for the budget's dollar cap.
    pub price: Option<Price>,
    /// The run's spending cap, shared with the other lanes.
    pub budget: Option<Arc<Budget>>,
    /// Checks every completion of every successful reply (structured output); a reply with
    /// one that fails is an `InvalidOutput` error. See [`crate::validate`].
    pub validator: Option<Arc<dyn Validator>>,
}

impl LaneConfig {
    /// Defaults for a lane called `name`: in flight follows the limit (up to 1,024), 120 s
    /// timeout, 3 error retries.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            limits: Limits::default(),
            concurrency: None,
            max_in_flight: NonZeroUsize::new(1024).unwrap_or(NonZeroUsize::MIN),
            timeout: Duration::from_secs(120),
            retry: RetryPolicy::default(),
            schedule: AttemptSchedule::default(),
            jitter_seed: None,
            price: None,
            budget: None,
            validator: None,
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
pub struct StopHandle(pub(super) Arc<watch::Sender<Option<StopReason>>>);

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
