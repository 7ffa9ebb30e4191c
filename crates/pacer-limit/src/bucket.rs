//! One reserving bucket: the generic cell rate algorithm, weighted.
//!
//! The bucket keeps `tat`, the time at which everything reserved so far will have been paid
//! back at the limit's rate. A reservation of cost `c` moves `tat` forward by `c / rate` at
//! once (the level may go negative) and may start once no more than `burst` units of debt
//! remain ahead of it. Reservations are therefore served in order, in O(1), without polling,
//! and a large one is never starved by small ones.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    /// The per-minute limit.
    pub(crate) per_minute: u64,
    /// Units per second: the limit times the headroom.
    rate: f64,
    /// Units that may go at once after an idle spell.
    burst: f64,
    /// When all reserved units are paid back.
    tat: Instant,
}

impl Bucket {
    /// A full bucket for `per_minute`, paced at `headroom` of it (e.g. 0.98), letting `burst`
    /// units go at once.
    pub(crate) fn new(per_minute: u64, burst: f64, headroom: f64, now: Instant) -> Self {
        Self {
            per_minute,
            rate: per_minute as f64 * headroom / 60.0,
            burst: burst.max(1.0),
            tat: now,
        }
    }

    /// The debt allowed ahead of a reservation, as time at `factor` of the rate. At least one
    /// whole unit may go at once, or a 1-request burst would never start without waiting.
    fn burst_time(&self, factor: f64) -> Duration {
        Duration::from_secs_f64(self.burst * factor / self.rate)
    }

    /// Changes the limit, the headroom or the burst, keeping the units owed: the debt ahead
    /// is re-timed at the new rate.
    pub(crate) fn refit(&mut self, per_minute: u64, burst: f64, headroom: f64, now: Instant) {
        let debt = self.tat.saturating_duration_since(now).as_secs_f64() * self.rate;
        self.per_minute = per_minute;
        self.rate = per_minute as f64 * headroom / 60.0;
        self.burst = burst.max(1.0);
        self.tat = now + Duration::from_secs_f64(debt / self.rate);
    }

    /// The units that may go at once.
    pub(crate) fn burst(&self) -> f64 {
        self.burst
    }

    /// Reserves `cost` units no earlier than `base`, at `factor` of the full rate; returns
    /// when the reservation may start.
    pub(crate) fn reserve(&mut self, cost: u64, base: Instant, factor: f64) -> Instant {
        let start = self.start_for(cost, base, factor);
        self.tat = self.tat.max(base) + Duration::from_secs_f64(cost as f64 / (self.rate * factor));
        start
    }

    /// When a reservation of `cost` made now would start, without making it.
    pub(crate) fn start_for(&self, cost: u64, base: Instant, factor: f64) -> Instant {
        let tat = self.tat.max(base) + Duration::from_secs_f64(cost as f64 / (self.rate * factor));
        tat.checked_sub(self.burst_time(factor))
            .unwrap_or(base)
            .max(base)
    }

    /// When the debt ahead of a new reservation, its own cost aside, is down to the burst:
    /// the same moment for every reservation, large or small, so booking in the order
    /// requests reach it starves none.
    pub(crate) fn clear_at(&self, base: Instant, factor: f64) -> Instant {
        self.tat
            .max(base)
            .checked_sub(self.burst_time(factor))
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

    /// Nothing may be admitted before `at`, when the whole burst is there again and no debt
    /// carries over.
    pub(crate) fn reset_at(&mut self, at: Instant) {
        self.tat = at;
    }

    /// Nothing may be admitted before `at`, and the bucket is empty then: it fills at the
    /// rate from there (the server said its own bucket was empty).
    pub(crate) fn empty_at(&mut self, at: Instant) {
        self.tat = at + self.burst_time(1.0);
    }

    /// Takes units so that no more than `units` are available now.
    pub(crate) fn cap_available(&mut self, units: f64, now: Instant) {
        let excess = self.available(now) - units;
        if excess > 0.0 {
            self.tat = self.tat.max(now) + Duration::from_secs_f64(excess / self.rate);
        }
    }

    /// Units available now, out of the burst (negative while in debt beyond it).
    pub(crate) fn available(&self, now: Instant) -> f64 {
        let debt = self.tat.saturating_duration_since(now).as_secs_f64() * self.rate;
        self.burst - debt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_reservations_at_the_rate_after_the_burst() {
        let now = Instant::now();
        // 60 per minute: one a second, burst of two.
        let mut bucket = Bucket::new(60, 2.0, 1.0, now);
        assert_eq!(bucket.reserve(1, now, 1.0), now);
        assert_eq!(bucket.reserve(1, now, 1.0), now);
        assert_eq!(bucket.reserve(1, now, 1.0), now + Duration::from_secs(1));
        assert_eq!(bucket.reserve(1, now, 1.0), now + Duration::from_secs(2));
    }

    #[test]
    fn refunds_move_the_queue_forward() {
        let now = Instant::now();
        let mut bucket = Bucket::new(600, 10.0, 1.0, now);
        bucket.reserve(30, now, 1.0); // 3 s of debt
        bucket.adjust(-20);
        assert!((bucket.available(now) - 0.0).abs() < 1e-6);
    }

    #[test]
    fn headroom_slows_the_rate_and_refit_keeps_the_debt() {
        let now = Instant::now();
        let mut bucket = Bucket::new(60, 0.5, 0.5, now);
        bucket.reserve(1, now, 1.0);
        // Half of 60 a minute, a burst of one: the second request waits two seconds.
        assert_eq!(bucket.reserve(1, now, 1.0), now + Duration::from_secs(2));
        bucket.refit(240, 2.0, 0.5, now);
        // 2 units owed, 2 in the burst.
        assert!((bucket.available(now) - 0.0).abs() < 1e-6);
        bucket.cap_available(-1.0, now);
        assert!((bucket.available(now) + 1.0).abs() < 1e-6);
    }

    #[test]
    fn an_empty_bucket_fills_at_the_rate_from_the_pause_on() {
        let now = Instant::now();
        let mut bucket = Bucket::new(600, 20.0, 1.0, now);
        bucket.empty_at(now + Duration::from_secs(1));
        assert_eq!(
            bucket.start_for(1, now, 1.0),
            now + Duration::from_millis(1100)
        );
        assert!((bucket.available(now + Duration::from_secs(3)) - 20.0).abs() < 1e-6);
    }
}
