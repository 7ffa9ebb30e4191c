//! Learning from the server: limits nobody configured, limits the server lowers, and what
//! the server says remains.

use tokio::time::Instant;

use super::{Limiter, Permit};
use crate::bucket::Bucket;
use crate::{Dimension, Reading};

impl Limiter {
    /// Learns from what the server said in the reply to `permit`'s request.
    ///
    /// - A limit the lane had no value for is taken as the server gives it (learned limits
    ///   follow later changes); a configured limit is lowered when the server's is lower.
    /// - `remaining` pulls the local level down when the server has less left than the
    ///   limiter thinks, as happens when other clients share the key. Requests sent after
    ///   this one are not in the server's count yet, so they are taken off it first.
    /// - `replied` says whether the server answered at all (any HTTP status). The probe's
    ///   answer ends the probe: the limits it carried, or none, are what the lane paces by.
    pub fn learn(&self, permit: &Permit, readings: &[(Dimension, Reading)], replied: bool) {
        let mut state = self.lock();
        let now = Instant::now();
        for (dimension, reading) in readings {
            let i = dimension.index();
            if let Some(limit) = reading.limit.filter(|l| *l > 0) {
                let (burst, headroom) = (self.config.burst, self.config.headroom);
                let learned = state.learned[i];
                match state.buckets[i].as_mut() {
                    None => {
                        state.buckets[i] = Some(Bucket::new(limit, burst, headroom, now));
                        state.learned[i] = true;
                    }
                    Some(bucket)
                        if bucket.per_minute != limit && (learned || limit < bucket.per_minute) =>
                    {
                        bucket.set_limit(limit, burst, headroom, now);
                    }
                    Some(_) => {}
                }
            }
            let sent_since = state.reserved[i].saturating_sub(permit.marks[i]);
            if let Some(remaining) = reading.remaining
                && let Some(bucket) = state.buckets[i].as_mut()
            {
                bucket.cap_available(remaining as f64 - sent_since as f64, now);
            }
        }
        if permit.probe && state.probing && (replied || !readings.is_empty()) {
            state.probing = false;
        }
        let probe = permit.probe;
        if probe {
            state.probe_in_flight = false;
        }
        drop(state);
        if probe {
            self.probe_done.notify_waiters();
        }
        // The remaining counts may have moved the buckets either way.
        self.capacity_changed();
    }
}
