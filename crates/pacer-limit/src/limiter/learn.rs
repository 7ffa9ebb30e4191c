//! Learning from the server: limits nobody configured, limits the server lowers, how much its
//! buckets hold, and what the server says remains.

use tokio::time::Instant;

use super::{Limiter, Permit};
use crate::bucket::Bucket;
use crate::{Dimension, Reading};

impl Limiter {
    /// Learns from what the server said in the reply to `permit`'s request.
    ///
    /// - A limit the lane had no value for is taken as the server gives it (learned limits
    ///   follow later changes); a configured limit is lowered when the server's is lower.
    /// - The most the server has said remains is what its bucket holds at least: the burst
    ///   grows to it, so a server that counts over a whole minute is spent as it allows,
    ///   while the rate stays under the limit in the long run.
    /// - `remaining` pulls the local level down when the server has less left than the
    ///   limiter thinks, as happens when other clients share the key. The server counted it
    ///   when it took the request, about when it was sent: what its bucket refilled since is
    ///   added, and requests sent after this one, not in the server's count yet, taken off
    ///   (down to nothing left, never into debt: see below).
    /// - `replied` says whether the server answered at all (any HTTP status). The probe's
    ///   answer ends the probe: the limits it carried, or none, are what the lane paces by.
    pub fn learn(&self, permit: &Permit, readings: &[(Dimension, Reading)], replied: bool) {
        let mut state = self.lock();
        let now = Instant::now();
        for (dimension, reading) in readings {
            let i = dimension.index();
            if let Some(limit) = reading.limit.filter(|l| *l > 0) {
                let learned = state.learned[i];
                match state.buckets[i].as_ref().map(|b| b.per_minute) {
                    None => {
                        let burst = self.burst_units(&state, i, limit);
                        state.buckets[i] = Some(Bucket::new(limit, burst, state.headroom, now));
                        state.learned[i] = true;
                    }
                    Some(current) if current != limit && (learned || limit < current) => {
                        self.refit(&mut state, i, limit, now);
                    }
                    Some(_) => {}
                }
            }
            let Some(remaining) = reading.remaining else {
                continue;
            };
            let Some(per_minute) = state.buckets[i].as_ref().map(|b| b.per_minute) else {
                continue;
            };
            let held = (remaining as f64).min(per_minute as f64);
            if held > state.seen[i] {
                state.seen[i] = held;
                let burst = self.burst_units(&state, i, per_minute);
                if state.buckets[i].as_ref().is_some_and(|b| b.burst() < burst) {
                    self.refit(&mut state, i, per_minute, now);
                }
            }
            self.watch_others(&mut state, permit, *dimension, remaining, per_minute);
            // What refilled since, less what others on the key took of it meanwhile.
            let net_rate = (per_minute as f64 / 60.0 - state.others[i].rate()).max(0.0);
            let refilled = now.saturating_duration_since(permit.sent).as_secs_f64() * net_rate;
            let sent_since = state.reserved[i].saturating_sub(permit.marks[i]);
            // Requests sent together reach the server in any order: some sent after this one
            // may already be in its count. So a reading can say less is left than there is,
            // never that more than nothing is owed: at worst the lane waits for the refill,
            // and a real shortfall shows in the next refusal.
            let left = (remaining as f64 + refilled - sent_since as f64).max(0.0);
            if let Some(bucket) = state.buckets[i].as_mut() {
                bucket.cap_available(left, now);
            }
        }
        if permit.probe && state.probing && (replied || !readings.is_empty()) {
            state.probing = false;
        }
        if let Some(key) = self.shared.clone() {
            let mut said = [(None, None); 4];
            for (dimension, reading) in readings {
                said[dimension.index()] = (reading.limit, reading.remaining);
            }
            // The probe was booked nowhere: its limits are shared, not what remained.
            let (marks, at) = match permit.remote {
                Some(booked) => (booked.marks, booked.at),
                None => {
                    said = said.map(|(limit, _)| (limit, None));
                    ([0; 4], 0)
                }
            };
            let config = self.config.clone();
            let headroom = state.headroom;
            if said.iter().any(|(l, r)| l.is_some() || r.is_some()) {
                super::shared::background("learn", async move {
                    key.learn(&config, headroom, said, marks, at).await
                });
            }
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
