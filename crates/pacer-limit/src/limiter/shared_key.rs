//! Others on the same key: when `remaining` falls faster than this limiter's own spending
//! explains, someone else spends from the key, and the lane paces at what they leave.
//!
//! Two readings a quarter of a second or more apart tell how much the server admitted between them: what
//! `remaining` fell by plus what the bucket refilled meanwhile. Take away what this limiter
//! sent between the two requests, and what is left is the others' spending. Readings taken
//! while the server's bucket was full say nothing (its refill overflowed), and are skipped.

use std::time::Duration;

use tokio::time::Instant;

use super::{Limiter, Permit, State};
use crate::Dimension;

/// The least time between two readings compared.
const SPAN: Duration = Duration::from_millis(250);
/// Estimates taken together: their median is believed, so that one thrown off (requests sent
/// together reach the server in any order, which can make one comparison see others where
/// there are none) moves nothing.
const ESTIMATES: usize = 3;
/// Others spending less than this share of the limit are taken for noise.
const NOISE: f64 = 0.05;
/// The share of the limit always left to the lane, however much the others spend.
const FLOOR: f64 = 0.1;

/// One reading, kept to compare the next ones with.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    sent: Instant,
    remaining: u64,
    /// Units this lane had sent, and had had refused, by then.
    mark: u64,
    refused: u64,
}

/// What the others on the key spend in one dimension.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Others {
    last: Option<Sample>,
    /// The latest estimates, units per second, the newest at `next - 1`.
    estimates: [f64; ESTIMATES],
    /// How many estimates were taken.
    taken: usize,
    /// Units per second, as believed.
    rate: f64,
}

impl Others {
    /// Units per second the others spend, as far as can be told.
    pub(super) fn rate(&self) -> f64 {
        self.rate
    }

    /// Takes one more estimate; the believed rate is the median of the latest ones, or
    /// nothing until there are enough of them or while it is within the noise.
    fn estimate(&mut self, rate: f64, limit_rate: f64) {
        self.estimates[self.taken % ESTIMATES] = rate;
        self.taken += 1;
        if self.taken < ESTIMATES {
            return;
        }
        let mut sorted = self.estimates;
        sorted.sort_by(f64::total_cmp);
        let median = sorted[ESTIMATES / 2];
        self.rate = if median > NOISE * limit_rate {
            median
        } else {
            0.0
        };
    }
}

impl Limiter {
    /// Compares the server's `remaining` in the reply to `permit` with the last reading kept,
    /// and re-paces bucket `dimension` when the others' spending changed.
    pub(super) fn watch_others(
        &self,
        state: &mut State,
        permit: &Permit,
        dimension: Dimension,
        remaining: u64,
        per_minute: u64,
    ) {
        let i = dimension.index();
        let sample = Sample {
            sent: permit.sent,
            remaining,
            mark: permit.marks[i],
            refused: state.refused[i],
        };
        let others = &mut state.others[i];
        let Some(last) = others.last else {
            others.last = Some(sample);
            return;
        };
        if sample.sent < last.sent + SPAN {
            return;
        }
        others.last = Some(sample);
        // The server's bucket may have been full between the readings (it was at the first,
        // or could have refilled to the top since): how much of its refill it kept is unknown.
        let span = sample.sent.duration_since(last.sent).as_secs_f64();
        let refilled = span * per_minute as f64 / 60.0;
        if last.remaining as f64 + refilled + 1.0 >= state.seen[i] {
            return;
        }
        let admitted = last.remaining as f64 - remaining as f64 + refilled;
        let sent = sample.mark.saturating_sub(last.mark);
        let ours = sent.saturating_sub(sample.refused.saturating_sub(last.refused)) as f64;
        let before = others.rate();
        others.estimate((admitted - ours) / span, per_minute as f64 / 60.0);
        let moved = (others.rate() - before).abs() / (per_minute as f64 / 60.0);
        if moved > 0.01 {
            self.refit(state, i, per_minute, Instant::now());
        }
    }

    /// The share of bucket `index`'s limit this lane paces at: the headroom, less what the
    /// others on the key spend.
    pub(super) fn pace(&self, state: &State, index: usize, per_minute: u64) -> f64 {
        let others = state.others[index].rate() / (per_minute as f64 / 60.0);
        (state.headroom - others).clamp(FLOOR.min(state.headroom), state.headroom)
    }
}
