//! The steps of one attempt that `attempt.rs` strings together: admission by the limiter
//! (with a deadline for a single call), the budget's hold, the send with its timeout, and
//! what the limiter learns and settles from the reply; and the count of items waiting for
//! capacity.

use std::num::NonZeroU64;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pacer_core::{Accounting, ErrorKind, ProviderError, Response, Usage};
use pacer_limit::{Cost, Dimension, LimitError, Limits, Permit};
use tokio::time::Instant;

use super::Shared;
use super::attempt::Dispatch;
use crate::{Attempt, Exhausted, Reservation};

impl Shared {
    /// Waits for the limiter to admit `cost`, until `deadline` if there is one: `Ok(Err(wait))`
    /// when it could not start in time (about how long it would have waited).
    pub(super) async fn admit(
        &self,
        cost: Cost,
        deadline: Option<Instant>,
    ) -> Result<Result<Permit, Duration>, LimitError> {
        match deadline {
            None => self.limiter.acquire(cost).await.map(Ok),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.limiter.acquire_within(cost, left).await
            }
        }
    }

    /// Whether prompts are counted. Counting a prompt's tokens is the dearest step of an
    /// instant request: done only when a token limit (or a budget) is in force, or about to
    /// be learned.
    pub(super) fn counts_prompt(&self) -> bool {
        self.limiter.counts_tokens() || self.config.budget.is_some()
    }

    /// Holds the worst case of a request of `cost` against the run's budget, if it has one.
    pub(super) fn reserve(&self, cost: &Cost) -> Result<Option<Reservation>, Exhausted> {
        let Some(budget) = &self.config.budget else {
            return Ok(None);
        };
        budget
            .reserve_worst_case(cost, self.config.price.as_ref())
            .map(Some)
    }

    pub(super) async fn send(
        &self,
        dispatch: &Dispatch<'_>,
        attempt: Attempt,
    ) -> Result<Response, ProviderError> {
        let timeout = self.config.timeout;
        let sent = match dispatch {
            Dispatch::Request(request) => {
                tokio::time::timeout(timeout, self.provider.send(request)).await
            }
            Dispatch::Direct { call, .. } => tokio::time::timeout(timeout, call(attempt)).await,
        };
        sent.unwrap_or_else(|_| {
            Err(ProviderError::new(
                ErrorKind::Timeout,
                format!("no reply within {:.1} s", timeout.as_secs_f64()),
            ))
        })
    }

    /// Passes what the reply's headers said about the limits to the limiter.
    pub(super) fn learn(&self, permit: &Permit, result: &Result<Response, ProviderError>) {
        let (info, replied) = match result {
            Ok(response) => (response.rate_limits.as_ref(), true),
            Err(error) => (error.rate_limits.as_deref(), error.status.is_some()),
        };
        crate::learn_from(&self.limiter, permit, info, replied);
    }

    pub(super) fn settle(&self, permit: &Permit, accounting: Accounting, usage: &Usage) {
        match accounting {
            Accounting::Actual => self.limiter.settle(
                permit,
                Cost::request(usage.input_tokens, usage.output_tokens),
            ),
            Accounting::Estimate => {}
        }
    }
}

/// Keeps an item in the lane's count of those waiting for capacity while it is, so that the
/// lane takes its next item when this one is admitted.
pub(super) struct Waiting<'a> {
    pub(super) shared: &'a Shared,
    pub(super) counted: bool,
}

impl Waiting<'_> {
    pub(super) fn enter(&mut self) {
        if !self.counted {
            self.shared.waiting.fetch_add(1, Ordering::SeqCst);
            self.counted = true;
        }
    }

    pub(super) fn leave(&mut self) {
        if self.counted {
            self.shared.waiting.fetch_sub(1, Ordering::SeqCst);
            self.counted = false;
            self.shared.fed.notify_one();
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Shared {
    /// Tells the observers of every limit that differs from what they were last told:
    /// learned from the server's headers, lowered to its word, or followed as it changed.
    /// Compared under one lock, so items answered together tell each change once.
    pub(super) fn limits_changed(&self) {
        let mut told = self.limits_told.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.limiter.limits();
        if now == *told {
            return;
        }
        let before: Limits = std::mem::replace(&mut *told, now);
        for dimension in Dimension::ALL {
            let (from, to) = (before.get(dimension), now.get(dimension));
            if from != to {
                self.emit(crate::Event::LimitChanged {
                    lane: &self.config.name,
                    dimension: dimension.key(),
                    from: from.map(NonZeroU64::get),
                    to: to.map(NonZeroU64::get),
                });
            }
        }
    }
}
