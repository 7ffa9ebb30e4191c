//! One reserving bucket: the generic cell rate algorithm, weighted.
//!
//! The bucket keeps `tat`, the time at which everything reserved so far will have been paid
//! back at the limit's rate. A reservation of cost `c` moves `tat` forward by `c / rate` at
//! once (the level may go negative) and may start once no more than `burst` of debt remains
//! ahead of it. Reservations are therefore served in order, in O(1), without polling, and a
//! large one is never starved by small ones.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Bucket {
    /// The per-minute limit.
    pub(crate) per_minute: u64,
    /// Units per second.
    rate: f64,
    /// Debt allowed ahead of a reservation, as time.
    burst: Duration,
    /// When all reserved units are paid back.
    tat: Instant,
}

impl Bucket {
    pub(crate) fn new(per_minute: u64, burst: Duration, now: Instant) -> Self {
        let rate = per_minute as f64 / 60.0;
        // At least one whole unit may go at once, or a 1-request burst at a low rate would
        // never start without waiting.
        let burst = burst.max(Duration::from_secs_f64(1.0 / rate));
        Self {
            per_minute,
            rate,
            burst,
            tat: now,
        }
    }

    /// Reserves `cost` units no earlier than `base`, at `factor` of the full rate; returns
    /// when the reservation may start.
    pub(crate) fn reserve(&mut self, cost: u64, base: Instant, factor: f64) -> Instant {
        let rate = self.rate * factor;
        let tat = self.tat.max(base) + Duration::from_secs_f64(cost as f64 / rate);
        self.tat = tat;
        tat.checked_sub(self.burst.mul_f64(factor))
            .unwrap_or(base)
            .max(base)
    }

    /// Gives back (`delta < 0`) or takes more (`delta > 0`) units after the fact.
    pub(crate) fn adjust(&mut self, delta: i64) {
        let shift = Duration::from_secs_f64(delta.unsigned_abs() as f64 / self.rate);
        if delta >= 0 {
            self.tat += shift;
        } else {
            self.tat = self.tat.checked_sub(shift).unwrap_or(self.tat);
        }
    }

    /// Nothing may be admitted before `at`, and no debt carries over past it.
    pub(crate) fn reset_at(&mut self, at: Instant) {
        self.tat = at;
    }

    /// Units available now, out of the burst (negative while in debt beyond it).
    pub(crate) fn available(&self, now: Instant) -> f64 {
        let debt = self.tat.saturating_duration_since(now).as_secs_f64() * self.rate;
        self.burst.as_secs_f64() * self.rate - debt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_reservations_at_the_rate_after_the_burst() {
        let now = Instant::now();
        // 60 per minute: one a second, burst of two seconds.
        let mut bucket = Bucket::new(60, Duration::from_secs(2), now);
        assert_eq!(bucket.reserve(1, now, 1.0), now);
        assert_eq!(bucket.reserve(1, now, 1.0), now);
        assert_eq!(bucket.reserve(1, now, 1.0), now + Duration::from_secs(1));
        assert_eq!(bucket.reserve(1, now, 1.0), now + Duration::from_secs(2));
    }

    #[test]
    fn refunds_move_the_queue_forward() {
        let now = Instant::now();
        let mut bucket = Bucket::new(600, Duration::from_secs(1), now);
        bucket.reserve(30, now, 1.0); // 3 s of debt
        bucket.adjust(-20);
        assert!((bucket.available(now) - 0.0).abs() < 1e-6);
    }
}
