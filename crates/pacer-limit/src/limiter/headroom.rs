//! Headroom that earns its keep: the share of each limit paced at narrows while no rate-limit
//! error comes and widens after one that shows a limit used up.

use tokio::time::Instant;

use super::{Limiter, State};

/// Successes between two narrowing steps.
const NARROW_EVERY: u32 = 100;
/// Each narrowing step keeps this share of the margin.
const NARROW_BY: f64 = 0.75;
/// The widest margin: a tenth of the limit.
const WIDEST_MARGIN: f64 = 0.1;

impl Limiter {
    /// One more success: every [`NARROW_EVERY`] of them the margin shrinks by a quarter, down
    /// to `max_headroom`.
    pub(super) fn narrow(&self, state: &mut State) {
        state.clean = state.clean.saturating_add(1);
        let ceiling = self.config.max_headroom.clamp(0.01, 1.0);
        if state.clean < NARROW_EVERY || state.headroom >= ceiling {
            return;
        }
        let margin = (1.0 - state.headroom) * NARROW_BY;
        self.set_headroom(state, (1.0 - margin).min(ceiling));
    }

    /// A limit was used up: the margin doubles (to at most a tenth), never narrower than it
    /// started.
    pub(super) fn widen(&self, state: &mut State) {
        let start = self.config.headroom.clamp(0.01, 1.0);
        let margin =
            ((1.0 - state.headroom) * 2.0).clamp(1.0 - start, WIDEST_MARGIN.max(1.0 - start));
        self.set_headroom(state, 1.0 - margin);
    }

    fn set_headroom(&self, state: &mut State, headroom: f64) {
        state.clean = 0;
        if headroom == state.headroom {
            return;
        }
        state.headroom = headroom;
        let now = Instant::now();
        for index in 0..state.buckets.len() {
            if let Some(per_minute) = state.buckets[index].as_ref().map(|b| b.per_minute) {
                self.refit(state, index, per_minute, now);
            }
        }
    }
}
