//! A rate-limit error judged by what it says.
//!
//! Providers refuse with 429 for two reasons: the client used up one of its limits, or the
//! provider is short of capacity. The headers tell them apart: `remaining` at zero (or below
//! what the request needs) is a limit used up; `remaining` with room to spare is a hiccup.
//! A used-up limit pauses the whole lane once, for as long as the server says; a hiccup is
//! retried for that request alone, so a run of them cannot stall the lane. Without headers,
//! a refusal that comes alone among successes is taken for a hiccup too.

use std::time::Duration;

use tokio::time::Instant;

use super::{Limiter, Permit};
use crate::{Cost, Dimension, Reading};

/// Successes since the previous rate-limit error after which one without headers is taken
/// for a hiccup rather than a limit.
const ALONE_AFTER: u32 = 8;
/// How long a hiccup's request waits when the server did not say.
const HICCUP_WAIT: Duration = Duration::from_secs(1);

/// What the lane does after a rate-limit error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A hiccup: the server's headers show room, or the refusal came alone among successes.
    /// This request alone is retried after `wait`; the lane goes on, and the request's units
    /// are given back (the server did not count it).
    Hiccup {
        /// How long this request waits before it tries again.
        wait: Duration,
    },
    /// A limit is used up: the whole lane pauses for `pause` from now, then goes on.
    Paused {
        /// The pause.
        pause: Duration,
    },
    /// Part of a pause already begun for a request sent alongside this one: it is retried
    /// when that pause ends.
    Joined,
}

impl Limiter {
    /// Reports that the request admitted under `permit` was refused with a rate-limit error
    /// that asked for `retry_after` and carried `readings`, and says what to do.
    ///
    /// A limit used up starts a cool-down, once per event: the lane pauses for what the
    /// server says (`retry_after`, else the time the exhausted limit needs to hold this
    /// request again, else the configured cool-down), doubling while refusals come one after
    /// another with no success between. When the headers explained the refusal, the lane
    /// goes on at the full rate from an empty bucket, as the server's is; otherwise it ramps
    /// back up from `slow_start_floor`. The headroom widens after a limit was used up.
    pub fn rate_limited(
        &self,
        permit: &Permit,
        retry_after: Option<Duration>,
        readings: &[(Dimension, Reading)],
    ) -> Verdict {
        let mut state = self.lock();
        // The server did not count a refused request: its own tally, so that the others on
        // the key are not credited with what this lane sent in vain.
        for dimension in Dimension::ALL {
            state.refused[dimension.index()] += permit.cost.of(dimension);
        }
        let reported: Vec<&(Dimension, Reading)> = readings
            .iter()
            .filter(|(_, r)| r.remaining.is_some())
            .collect();
        let exhausted: Vec<&(Dimension, Reading)> = reported
            .iter()
            .copied()
            .filter(|(d, r)| {
                r.remaining
                    .is_some_and(|left| left < need(&permit.cost, *d))
            })
            .collect();
        let alone = reported.is_empty() && state.since_refusal >= ALONE_AFTER;
        state.since_refusal = 0;
        if (!reported.is_empty() && exhausted.is_empty()) || alone {
            if state.epoch == permit.epoch {
                for dimension in Dimension::ALL {
                    if let Some(bucket) = state.buckets[dimension.index()].as_mut() {
                        bucket.adjust(-(permit.cost.of(dimension) as i64));
                    }
                }
            }
            drop(state);
            if let Some(booked) = permit.remote {
                let back = Dimension::ALL.map(|d| -(permit.cost.of(d) as i64));
                self.settle_remote(booked.epoch, back);
            }
            self.capacity_changed();
            return Verdict::Hiccup {
                wait: retry_after.unwrap_or(HICCUP_WAIT),
            };
        }
        if state.epoch != permit.epoch {
            return Verdict::Joined;
        }
        // Everyone on a shared key pauses once for the event, from the first refusal any of
        // them reports (a later one finds the epoch moved on and joins it).
        let share_pause = |pause: Duration, resume_full: bool, headroom: f64| {
            if let (Some(key), Some(booked)) = (self.shared.clone(), permit.remote) {
                let config = self.config.clone();
                super::shared::background("cool-down", async move {
                    key.cool(&config, headroom, booked.epoch, pause, resume_full)
                        .await
                });
            }
        };
        state.consecutive += 1;
        let doubling = 2u32.saturating_pow(state.consecutive.saturating_sub(1).min(16));
        let said = retry_after.or_else(|| {
            exhausted
                .iter()
                .filter_map(|(d, r)| refill_time(&permit.cost, *d, r))
                .max()
        });
        let explained = said.is_some() && !exhausted.is_empty();
        let pause = said
            .unwrap_or(self.config.cooldown)
            .saturating_mul(doubling)
            .min(self.config.max_cooldown);
        if !exhausted.is_empty() {
            self.widen(&mut state);
        }
        let until = Instant::now() + pause;
        state.epoch += 1;
        state.paused_until = Some(until);
        let resume_full = explained && state.consecutive == 1;
        state.ramp_from = (!resume_full).then_some(until);
        for bucket in state.buckets.iter_mut().flatten() {
            if resume_full {
                bucket.empty_at(until);
            } else {
                bucket.reset_at(until);
            }
        }
        share_pause(pause, resume_full, state.headroom);
        Verdict::Paused { pause }
    }
}

/// What a request needs of `dimension` to be admitted (at least one unit).
fn need(cost: &Cost, dimension: Dimension) -> u64 {
    cost.of(dimension).max(1)
}

/// How long the server's bucket for `dimension` takes to hold `cost` again, from what it
/// said: the shortfall at its rate when the limit is known, else its reset.
fn refill_time(cost: &Cost, dimension: Dimension, reading: &Reading) -> Option<Duration> {
    let left = reading.remaining?;
    match reading.limit.filter(|l| *l > 0) {
        Some(limit) => {
            let short = need(cost, dimension).saturating_sub(left) as f64;
            Some(Duration::from_secs_f64(short * 60.0 / limit as f64))
        }
        None => reading.reset,
    }
}
