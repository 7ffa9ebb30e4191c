//! One token bucket: `limit × window / 60` units, refilling continuously at `limit / 60`
//! per second, and what it reads like after a decision.

use std::time::Duration;

/// What one bucket looked like after a decision, for the rate-limit headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reading {
    /// The per-minute limit.
    pub(crate) limit: u64,
    /// Whole units left in the bucket.
    pub(crate) remaining: u64,
    /// Time until the bucket is full again.
    pub(crate) reset: Duration,
}

/// A bucket of one limited dimension.
#[derive(Debug)]
pub(super) struct Bucket {
    pub(super) limit: u64,
    capacity: f64,
    /// Units per second.
    rate: f64,
    pub(super) level: f64,
}

impl Bucket {
    /// A full bucket for `limit` per minute, holding `window`'s worth.
    pub(super) fn new(limit: u64, window: Duration) -> Self {
        let capacity = limit as f64 * window.as_secs_f64() / 60.0;
        Self {
            limit,
            capacity,
            rate: limit as f64 / 60.0,
            level: capacity,
        }
    }

    /// Refills for `seconds` gone by.
    pub(super) fn refill(&mut self, seconds: f64) {
        self.level = (self.level + self.rate * seconds).min(self.capacity);
    }

    /// Gives back `units` charged earlier, up to a full bucket.
    pub(super) fn give_back(&mut self, units: f64) {
        self.level = (self.level + units).min(self.capacity);
    }

    /// Full buckets admit anything, so a request bigger than the bucket passes once.
    pub(super) fn admits(&self, cost: f64) -> bool {
        self.level >= cost || self.level >= self.capacity
    }

    /// Time until the bucket admits `cost`.
    pub(super) fn wait_for(&self, cost: f64) -> Duration {
        let needed = cost.min(self.capacity) - self.level;
        Duration::from_secs_f64((needed / self.rate).max(0.0))
    }

    /// What it reads like now.
    pub(super) fn reading(&self) -> Reading {
        Reading {
            limit: self.limit,
            remaining: self.level.max(0.0).floor() as u64,
            reset: Duration::from_secs_f64(((self.capacity - self.level) / self.rate).max(0.0)),
        }
    }

    /// Its use, scaled to the per-minute limit.
    pub(super) fn used(&self) -> u64 {
        let share = 1.0 - self.level / self.capacity.max(f64::MIN_POSITIVE);
        (self.limit as f64 * share).round().max(0.0) as u64
    }
}
