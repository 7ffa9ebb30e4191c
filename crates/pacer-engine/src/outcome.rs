//! How an item ended.

use std::time::{Duration, SystemTime};

use pacer_core::{ProviderError, Request, Response, Usage};

use crate::Reservation;

/// The end of one work item: its reply or its final error, and what it took.
#[derive(Debug)]
pub struct Outcome<C> {
    /// The item's id.
    pub id: String,
    /// The caller's context, handed back.
    pub context: C,
    /// The reply, or the error that ended the item.
    pub result: Result<Response, ProviderError>,
    /// The request as last sent (absent for direct calls).
    pub request: Option<Request>,
    /// Requests sent, rate-limited ones included.
    pub attempts: u32,
    /// Usage summed over every attempt, failed ones too.
    pub usage_all_attempts: Usage,
    /// From the first try to the end, backoffs and pauses included.
    pub elapsed: Duration,
    /// Of `elapsed`, the time spent waiting for capacity (every attempt's).
    pub queued: Duration,
    /// Of `elapsed`, the time requests were out with the server (every attempt's).
    pub upstream: Duration,
    /// The successful attempt's time out with the server: the model's latency, neither the
    /// wait for capacity nor failed attempts in it. `None` when the item failed.
    pub latency: Option<Duration>,
    /// The budget's hold on a reply whose usage comes after it (a
    /// [`Work::Forward`](crate::Work::Forward) with `usage_later`: a stream), for the caller
    /// to settle once the usage is known; dropped unsettled, it is released unbilled.
    pub held: Option<Reservation>,
    /// When it ended.
    pub finished_at: SystemTime,
}

impl<C> Outcome<C> {
    /// Whether the item succeeded.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Re-sends after the first attempt.
    pub fn retry_count(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }
}
