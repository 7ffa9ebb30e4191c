//! A limiter whose buckets live in Redis ([`Limiter::shared`]): booking there, and the
//! writes (settle, cool-down, learning) that go there in the background.

use std::time::Duration;

use tokio::time::Instant;

use super::Limiter;
use super::booking::{BOOKING_HORIZON, Booking, Queued};
use crate::LimiterConfig;
use crate::remote::{Answer, SharedKey};
use crate::{Cost, Dimension};

/// The longest a request waits before it asks the shared buckets again: others may have
/// given units back meanwhile.
const LOOK_AGAIN: Duration = Duration::from_secs(1);
/// How often a lane asks again while Redis cannot be reached.
const OUTAGE_RETRY: Duration = Duration::from_millis(500);
/// How often a lane says again that Redis cannot be reached.
const OUTAGE_REMINDER: Duration = Duration::from_secs(15);

impl Limiter {
    /// A limiter whose buckets live in Redis under `key`, shared by every process on any
    /// host that books through the same key: each request is booked there by one atomic
    /// script on Redis's clock, settled, learned from and cooled down for everyone. The
    /// process keeps its own line (first come, first served within it), headroom and probe.
    ///
    /// It fails closed: while Redis cannot be reached nothing is admitted; the lane waits,
    /// says what is wrong, and goes on when Redis is back.
    pub fn shared(config: LimiterConfig, key: crate::remote::SharedKey) -> Self {
        Self {
            shared: Some(key),
            ..Self::new(config)
        }
    }

    /// The shared key, for a shared limiter.
    pub fn shared_key(&self) -> Option<&crate::remote::SharedKey> {
        self.shared.as_ref()
    }

    /// [`reserve`](Self::reserve) in the shared buckets: one script run in Redis books the
    /// request when its turn there is near. While Redis cannot be reached nothing is booked
    /// (the lane fails closed): it says so once, and looks again every half second.
    pub(super) async fn reserve_shared(
        &self,
        key: &SharedKey,
        cost: Cost,
        deadline: Option<Instant>,
        queued: &mut Queued<'_>,
    ) -> Booking {
        let now = Instant::now();
        let headroom = {
            let state = self.lock();
            // This process's own pause (its 429) holds it even before Redis has heard.
            if let Some(until) = state.paused_until.filter(|p| *p > now) {
                return Booking::NotBefore(until);
            }
            state.headroom
        };
        let max_wait = deadline.map(|d| d.saturating_duration_since(now));
        let answer = key
            .acquire(&self.config, headroom, cost, BOOKING_HORIZON, max_wait)
            .await;
        let now = Instant::now();
        let mut state = self.lock();
        match answer {
            Err(error) => {
                let since = *state.outage.get_or_insert(now);
                let said = state
                    .outage_said
                    .is_some_and(|at| now < at + OUTAGE_REMINDER);
                if !said {
                    state.outage_said = Some(now);
                    tracing::warn!(
                        "{error}: holding every request of this model until Redis answers (unreachable for {:.0} s)",
                        now.duration_since(since).as_secs_f64()
                    );
                }
                match deadline {
                    // Nothing can be admitted before Redis answers.
                    Some(deadline) if now + OUTAGE_RETRY > deadline => {
                        Booking::TooLate(OUTAGE_RETRY)
                    }
                    _ => Booking::NotBefore(now + OUTAGE_RETRY),
                }
            }
            Ok(answer) => {
                if let Some(since) = state.outage.take() {
                    state.outage_said = None;
                    tracing::warn!(
                        "Redis at {} answers again after {:.1} s: requests go on",
                        key.redis.shown(),
                        now.duration_since(since).as_secs_f64()
                    );
                }
                match answer {
                    Answer::NotYet(wait) => Booking::NotBefore(now + wait.min(LOOK_AGAIN)),
                    Answer::TooLate(wait) => Booking::TooLate(wait),
                    Answer::Booked(mut booked) => {
                        // A reply's `remaining` describes the server when it was sent.
                        booked.at += i64::try_from(booked.start_in.as_micros()).unwrap_or(0);
                        for dimension in Dimension::ALL {
                            state.reserved[dimension.index()] += cost.of(dimension);
                        }
                        queued.leave(&mut state);
                        Booking::Booked {
                            start: now + booked.start_in,
                            epoch: state.epoch,
                            remote: Some(booked),
                        }
                    }
                }
            }
        }
    }

    /// Moves a shared booking of `epoch` by `delta` units, in the background.
    pub(super) fn settle_remote(&self, epoch: u64, delta: [i64; 4]) {
        if delta.iter().all(|d| *d == 0) {
            return;
        }
        let Some(key) = self.shared.clone() else {
            return;
        };
        let headroom = self.headroom();
        background(
            "settle",
            async move { key.settle(epoch, delta, headroom).await },
        );
    }
}

/// Runs a write to the shared buckets without waiting for it. If Redis cannot take it, it is
/// lost: a refund not given back or a reading not shared leaves the shared pace slower,
/// never faster, except a lost cool-down, which the next refusal begins again.
pub(super) fn background(
    what: &'static str,
    write: impl std::future::Future<Output = Result<(), crate::remote::RedisError>> + Send + 'static,
) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(error) = write.await {
                tracing::debug!("shared limiter: {what} not written: {error}");
            }
        });
    }
}
