//! Admission: waiting for a slot and booking it when its turn is near, with or without a
//! deadline, and the probe that finds unknown limits.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::{Limiter, Permit, State};
use crate::remote::Booked;
use crate::{Cost, Dimension, LimitError};

/// How far ahead of its start a request books its slot.
pub(super) const BOOKING_HORIZON: Duration = Duration::from_millis(50);
/// A shared booking that starts later than this asks Redis again before it goes, whether a
/// cool-down began meanwhile.
const RECHECK_AFTER: Duration = Duration::from_millis(200);

/// The outcome of trying to book a request.
pub(super) enum Booking {
    /// Booked: it may go at `start`, unless a cool-down of a later epoch intervenes; with
    /// its booking in the shared buckets, for a shared limiter.
    Booked {
        start: Instant,
        epoch: u64,
        remote: Option<Booked>,
    },
    /// Not its turn yet: look again at this instant, or when capacity comes back.
    NotBefore(Instant),
    /// It could not start before its deadline; it would have waited this long.
    TooLate(Duration),
}

impl Limiter {
    /// Reserves `cost` in every bucket and waits until it may be sent. A request books its
    /// slot once its turn is near, so tokens given back meanwhile by requests in flight
    /// serve it; booked slots are served in order, and a cool-down that begins while one
    /// waits sends it back in the queue behind the pause.
    pub async fn acquire(&self, cost: Cost) -> Result<Permit, LimitError> {
        let permit = self.acquire_until(cost, None).await?;
        // Without a deadline nothing is refused for waiting.
        Ok(permit.unwrap_or_else(|_| unreachable!("no deadline, no refusal")))
    }

    /// Like [`acquire`](Self::acquire), but gives up when the request could not start within
    /// `max_wait`: `Ok(Err(wait))` says roughly how long it would have waited. A request that
    /// would start too late reserves nothing, so a refused request costs the others no
    /// capacity (a gateway refusing with `retry-after` instead of queueing without end).
    pub async fn acquire_within(
        &self,
        cost: Cost,
        max_wait: Duration,
    ) -> Result<Result<Permit, Duration>, LimitError> {
        self.acquire_until(cost, Some(Instant::now() + max_wait))
            .await
    }

    async fn acquire_until(
        &self,
        cost: Cost,
        deadline: Option<Instant>,
    ) -> Result<Result<Permit, Duration>, LimitError> {
        let probe = self.wait_for_probe(cost);
        let probe = match deadline {
            None => probe.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, probe).await {
                Ok(probe) => probe,
                Err(_) => return Ok(Err(deadline.saturating_duration_since(Instant::now()))),
            },
        };
        if let Some(permit) = probe {
            return Ok(Ok(permit));
        }
        self.check(cost)?;
        if let Some(deadline) = deadline {
            // The requests ahead decide the wait: one they would keep past its deadline is
            // refused now, saying how long they would keep it.
            let wait = self.wait_behind_line(cost);
            if Instant::now() + wait > deadline {
                return Ok(Err(wait));
            }
        }
        let mut queued = Queued::join(self, cost);
        let line = match deadline {
            None => self.line.lock().await,
            Some(deadline) => match tokio::time::timeout_at(deadline, self.line.lock()).await {
                Ok(line) => line,
                Err(_) => {
                    drop(queued);
                    return Ok(Err(self.wait_behind_line(cost)));
                }
            },
        };
        loop {
            let capacity = self.capacity.notified();
            tokio::pin!(capacity);
            capacity.as_mut().enable();
            // Counted before looking, so a refund that lands in between still wakes it.
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let booking = match &self.shared {
                None => self.reserve(cost, deadline, &mut queued),
                Some(key) => self.reserve_shared(key, cost, deadline, &mut queued).await,
            };
            if let Booking::NotBefore(at) = booking {
                tokio::select! {
                    () = sleep_until(at) => {}
                    () = capacity => {}
                }
            }
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let (start, epoch, remote) = match booking {
                Booking::Booked {
                    start,
                    epoch,
                    remote,
                } => (start, epoch, remote),
                Booking::NotBefore(_) => continue,
                Booking::TooLate(wait) => return Ok(Err(wait)),
            };
            // The head of the line keeps its place until it starts, so a cool-down that
            // begins meanwhile sends it back to book first after the pause.
            let mut slot = Slot {
                limiter: self,
                cost,
                epoch,
                remote,
                kept: false,
            };
            if start > Instant::now() {
                sleep_until(start).await;
            }
            // A pause another process began while this one waited for a late start sends it
            // back behind the pause, as a local one does.
            if let (Some(key), Some(booked)) = (&self.shared, remote)
                && booked.start_in > RECHECK_AFTER
                && key.epoch().await.is_ok_and(|now| now != booked.epoch)
            {
                queued.rejoin();
                continue;
            }
            let state = self.lock();
            if state.epoch == epoch {
                slot.kept = true;
                drop(line);
                return Ok(Ok(Permit {
                    cost,
                    epoch,
                    marks: state.reserved,
                    probe: false,
                    sent: Instant::now(),
                    remote,
                }));
            }
            drop(state);
            queued.rejoin();
        }
    }

    /// How long a request of `cost` joining the line now would wait: the requests in line
    /// ahead of it, then itself, at the current pace (a gateway sends a request to whichever
    /// of its deployments would admit it soonest).
    pub fn expected_wait(&self, cost: Cost) -> Duration {
        self.wait_behind_line(cost)
    }

    fn wait_behind_line(&self, cost: Cost) -> Duration {
        let state = self.lock();
        let now = Instant::now();
        let base = state.paused_until.map_or(now, |p| p.max(now));
        let factor = self.ramp_factor(&state, base);
        Dimension::ALL
            .iter()
            .filter(|d| cost.of(**d) > 0)
            .filter_map(|d| {
                let bucket = state.buckets[d.index()].as_ref()?;
                let units = state.queued[d.index()] + cost.of(*d);
                Some(bucket.start_for(units, base, factor))
            })
            .max()
            .unwrap_or(base)
            .saturating_duration_since(now)
    }

    /// While the limits are unknown, lets one request out to find them and holds the rest
    /// until its reply is in. Returns the probe's permit when this request is the probe.
    async fn wait_for_probe(&self, cost: Cost) -> Option<Permit> {
        loop {
            let notified = self.probe_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if !state.probing {
                    return None;
                }
                if !state.probe_in_flight {
                    state.probe_in_flight = true;
                    for dimension in Dimension::ALL {
                        state.reserved[dimension.index()] += cost.of(dimension);
                    }
                    return Some(Permit {
                        cost,
                        epoch: state.epoch,
                        marks: state.reserved,
                        probe: true,
                        sent: Instant::now(),
                        remote: None,
                    });
                }
            }
            notified.await;
        }
    }

    /// Books `cost` in every bucket when its turn is within [`BOOKING_HORIZON`]; otherwise
    /// says when to look again. A slot booked far ahead keeps its time even when requests in
    /// flight give tokens back (Anthropic's output tokens are held at `max_tokens` and settled
    /// to what was written), so waiting requests book late and take those refunds.
    /// With a `deadline`, a request that could not start by then is refused (`TooLate`, with
    /// the wait it would have had) and reserves nothing.
    fn reserve(&self, cost: Cost, deadline: Option<Instant>, queued: &mut Queued<'_>) -> Booking {
        let mut state = self.lock();
        let now = Instant::now();
        let base = state.paused_until.map_or(now, |p| p.max(now));
        let factor = self.ramp_factor(&state, base);
        let limited = || {
            Dimension::ALL
                .iter()
                .filter(|d| cost.of(**d) > 0)
                .filter_map(|d| state.buckets[d.index()].as_ref().map(|b| (b, cost.of(*d))))
        };
        let clear = limited()
            .map(|(bucket, _)| bucket.clear_at(base, factor))
            .max()
            .unwrap_or(base);
        if let Some(deadline) = deadline {
            let start = limited()
                .map(|(bucket, units)| bucket.start_for(units, base, factor))
                .max()
                .unwrap_or(base);
            if start > deadline {
                return Booking::TooLate(start.saturating_duration_since(now));
            }
        }
        if clear > now + BOOKING_HORIZON {
            return Booking::NotBefore(clear - BOOKING_HORIZON);
        }
        for dimension in Dimension::ALL {
            state.reserved[dimension.index()] += cost.of(dimension);
        }
        queued.leave(&mut state);
        let mut start = base;
        for dimension in Dimension::ALL {
            let units = cost.of(dimension);
            if let Some(bucket) = state.buckets[dimension.index()].as_mut()
                && units > 0
            {
                start = start.max(bucket.reserve(units, base, factor));
            }
        }
        Booking::Booked {
            start,
            epoch: state.epoch,
            remote: None,
        }
    }
}

/// A request's place in the line's count of waiting units: added when it joins, taken off
/// when it books or gives up (the guard is dropped with its future).
pub(super) struct Queued<'a> {
    limiter: &'a Limiter,
    cost: Cost,
    waiting: bool,
}

impl<'a> Queued<'a> {
    fn join(limiter: &'a Limiter, cost: Cost) -> Self {
        let mut queued = Self {
            limiter,
            cost,
            waiting: false,
        };
        queued.rejoin();
        queued
    }

    /// Counts the request as waiting again (its booking was undone by a cool-down).
    fn rejoin(&mut self) {
        if !self.waiting {
            let mut state = self.limiter.lock();
            for dimension in Dimension::ALL {
                state.queued[dimension.index()] += self.cost.of(dimension);
            }
            self.waiting = true;
        }
    }

    /// Takes the request off the count, under the lock already held.
    pub(super) fn leave(&mut self, state: &mut State) {
        if self.waiting {
            for dimension in Dimension::ALL {
                let queued = &mut state.queued[dimension.index()];
                *queued = queued.saturating_sub(self.cost.of(dimension));
            }
            self.waiting = false;
        }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if self.waiting {
            let limiter = self.limiter;
            self.leave(&mut limiter.lock());
        }
    }
}

/// A booked slot not yet started: given back if the request gives up before it starts (its
/// future dropped), so a request that leaves costs those behind it nothing, or if a
/// cool-down undid it (the pause already cleared the buckets; the tally of what was sent
/// still counts it).
struct Slot<'a> {
    limiter: &'a Limiter,
    cost: Cost,
    epoch: u64,
    remote: Option<Booked>,
    kept: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Some(booked) = self.remote {
            let back = Dimension::ALL.map(|d| -(self.cost.of(d) as i64));
            self.limiter.settle_remote(booked.epoch, back);
        }
        let mut state = self.limiter.lock();
        let undone = state.epoch != self.epoch;
        for dimension in Dimension::ALL {
            let units = self.cost.of(dimension);
            let sent = &mut state.reserved[dimension.index()];
            *sent = sent.saturating_sub(units);
            if let Some(bucket) = state.buckets[dimension.index()].as_mut()
                && !undone
            {
                bucket.adjust(-(units as i64));
            }
        }
    }
}
