//! How a single call ends without an outcome: [`Unfinished`], and why: [`NotDone`].

use std::time::Duration;

use pacer_core::{ProviderError, Usage};

use super::StopReason;
use crate::Exhausted;

/// A [`Lane::call`] that ended without an outcome: why, and what it had done.
#[derive(Debug)]
pub struct Unfinished {
    /// Why.
    pub why: NotDone,
    /// Requests it sent before (rate-limited ones included).
    pub attempts: u32,
    /// What those were billed.
    pub usage: Usage,
    /// How long it waited for capacity, every attempt's wait together.
    pub queued: Duration,
    /// How long its requests were out with the server.
    pub upstream: Duration,
}

/// Why a [`Lane::call`] ended without an outcome.
#[derive(Debug)]
pub enum NotDone {
    /// No capacity came within the wait allowed. Nothing was reserved for the request.
    Busy {
        /// About how long it would have waited for capacity.
        retry_after: Duration,
    },
    /// Its worst case would pass the budget (what is billed plus what requests in flight
    /// hold). The lane goes on: a smaller request may still fit.
    OverBudget(Exhausted),
    /// The lane stopped (its key was refused, its quota is used up) before the request
    /// could end, or the caller stopped it.
    Stopped {
        /// Why.
        reason: StopReason,
        /// The error of this request, when it was what stopped the lane.
        error: Option<Box<ProviderError>>,
    },
}
