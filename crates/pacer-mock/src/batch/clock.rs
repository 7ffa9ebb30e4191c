//! A batch's life on the clock. Nothing runs in the background: a batch's state is worked
//! out from its creation instant whenever it is read, on tokio's clock, so that a test on a
//! paused clock moves batches along by advancing it.
//!
//! A batch is validating for the first tenth of `processing`, in progress, finalizing for
//! the last tenth, then ended. A cancel ends it after a grace (OpenAI's and Anthropic's
//! `cancelling` is a tenth of `processing`; Gemini's is none), all its lines cancelled.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Where a batch is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Just created: OpenAI's `validating`, Gemini's `BATCH_STATE_PENDING`.
    Validating,
    /// Processing.
    InProgress,
    /// Writing its results: OpenAI's `finalizing`.
    Finalizing,
    /// Cancelled, not yet ended.
    Cancelling,
    /// Ended, and how.
    Ended(End),
}

/// How a batch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Its lines were processed (or expired).
    Processed,
    /// It was cancelled first: no line was processed.
    Cancelled,
    /// It was refused at creation (OpenAI's failed validation or queue limit).
    Failed,
}

/// When a batch was created, how long it takes, and any cancel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeline {
    created: Instant,
    created_at: SystemTime,
    processing: Duration,
    /// When the cancel came, and the grace until the batch ends.
    cancel: Option<(Instant, Duration)>,
    failed: bool,
}

impl Timeline {
    /// A batch created `now` that ends after `processing`.
    pub(crate) fn new(now: Instant, processing: Duration) -> Self {
        Self {
            created: now,
            created_at: SystemTime::now(),
            processing,
            cancel: None,
            failed: false,
        }
    }

    /// A batch that failed at its creation, `now`.
    pub(crate) fn failed(now: Instant) -> Self {
        Self {
            failed: true,
            ..Self::new(now, Duration::ZERO)
        }
    }

    fn moment(&self) -> Duration {
        self.processing / 10
    }

    /// Where the batch is at `now`.
    pub(crate) fn phase(&self, now: Instant) -> Phase {
        if self.failed {
            return Phase::Ended(End::Failed);
        }
        if let Some((at, grace)) = self.cancel {
            return if now >= at + grace {
                Phase::Ended(End::Cancelled)
            } else {
                Phase::Cancelling
            };
        }
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed >= self.processing {
            Phase::Ended(End::Processed)
        } else if elapsed >= self.processing - self.moment() {
            Phase::Finalizing
        } else if elapsed >= self.moment() {
            Phase::InProgress
        } else {
            Phase::Validating
        }
    }

    /// Whether the batch has ended at `now`.
    pub(crate) fn ended(&self, now: Instant) -> bool {
        matches!(self.phase(now), Phase::Ended(_))
    }

    /// Cancels the batch at `now`, to end after `grace`; false (and nothing done) when it
    /// has ended or is being cancelled already.
    pub(crate) fn cancel(&mut self, now: Instant, grace: Duration) -> bool {
        if matches!(self.phase(now), Phase::Ended(_) | Phase::Cancelling) {
            return false;
        }
        self.cancel = Some((now, grace));
        true
    }

    /// When processing starts (the end of validating).
    pub(crate) fn started(&self) -> Instant {
        self.created + self.moment()
    }

    /// When finalizing starts.
    pub(crate) fn finalizing(&self) -> Instant {
        self.created + (self.processing - self.moment())
    }

    /// When the batch ends, or would.
    pub(crate) fn ends(&self) -> Instant {
        match self.cancel {
            Some((at, grace)) => at + grace,
            None if self.failed => self.created,
            None => self.created + self.processing,
        }
    }

    /// When the cancel came, if one did.
    pub(crate) fn cancelled(&self) -> Option<Instant> {
        self.cancel.map(|(at, _)| at)
    }

    /// Whether the batch went through `t` by `now`: `t` has passed, before any cancel.
    pub(crate) fn reached(&self, t: Instant, now: Instant) -> bool {
        !self.failed && t <= now && self.cancel.is_none_or(|(at, _)| t <= at)
    }

    /// The wall-clock time of `t`, for the timestamps the APIs report.
    pub(crate) fn wall(&self, t: Instant) -> SystemTime {
        self.created_at + t.saturating_duration_since(self.created)
    }

    /// The wall-clock time of the creation.
    pub(crate) fn created_at(&self) -> SystemTime {
        self.created_at
    }
}

/// Seconds since the Unix epoch of `t`.
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{End, Phase, Timeline};

    #[test]
    fn phases_follow_the_processing_time() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let timeline = Timeline::new(t0, Duration::from_secs(1));
        assert_eq!(timeline.phase(t0), Phase::Validating);
        assert_eq!(timeline.phase(at(100)), Phase::InProgress);
        assert_eq!(timeline.phase(at(900)), Phase::Finalizing);
        assert_eq!(timeline.phase(at(1000)), Phase::Ended(End::Processed));
        assert!(timeline.reached(timeline.started(), at(100)));
        assert!(!timeline.reached(timeline.finalizing(), at(100)));
        assert_eq!(Timeline::failed(t0).phase(t0), Phase::Ended(End::Failed));
    }

    #[test]
    fn a_cancel_ends_the_batch_after_its_grace() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut timeline = Timeline::new(t0, Duration::from_secs(1));
        assert!(timeline.cancel(at(50), Duration::from_millis(100)));
        assert!(!timeline.cancel(at(60), Duration::ZERO), "once only");
        assert_eq!(timeline.phase(at(100)), Phase::Cancelling);
        assert_eq!(timeline.phase(at(150)), Phase::Ended(End::Cancelled));
        assert_eq!(timeline.ends(), at(150));
        assert!(
            !timeline.reached(timeline.started(), at(500)),
            "cancelled before"
        );
        let mut done = Timeline::new(t0, Duration::ZERO);
        assert!(!done.cancel(t0, Duration::ZERO), "ended already");
    }
}
