//! Watching the batches out: those of earlier sessions sorted out once the prompts are read,
//! and every batch out polled and shown as it moves on.

use std::time::{Duration, Instant, SystemTime};

use pacer_core::{BatchPhase, BatchStatus};

use super::BatchProgress;
use super::lane::{BatchLane, State, Track};
use super::submit::{Stop, crash_point, halt};

impl BatchLane {
    /// Once the prompts are read, sorts out the batches of earlier sessions: those whose jobs
    /// all have their records are finished; the rest are polled (created) or submitted.
    pub(super) fn check_earlier(&self, state: &mut State) {
        if state.feeding {
            return;
        }
        for index in 0..state.batches.len() {
            if state.batches[index].checked {
                continue;
            }
            let pending = state.batches[index].entry.jobs.iter().any(|(number, ..)| {
                state.current.get(number) == Some(&index) && state.held.contains_key(number)
            });
            let batch = &mut state.batches[index];
            batch.checked = true;
            batch.track = match (&batch.entry.id, pending) {
                (_, false) => Track::Finished,
                (Some(id), true) => {
                    let since = batch
                        .entry
                        .submitting
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .and_then(|ago| Instant::now().checked_sub(ago))
                        .unwrap_or_else(Instant::now);
                    Track::Out {
                        status: placeholder(id),
                        since,
                    }
                }
                (None, true) => Track::Ready,
            };
            if matches!(batch.track, Track::Out { .. }) {
                // Out already: what it costs counts against the budget all the same.
                match self.reserve(&batch.entry) {
                    Ok(hold) => batch.hold = hold,
                    Err(stop) => state.halted = Some(stop),
                }
            }
        }
    }

    /// Polls every batch out; the ended ones are collected at the next step.
    pub(super) async fn poll(&self, state: &mut State) -> Result<(), Stop> {
        for batch in &mut state.batches {
            let Track::Out { status, since } = &mut batch.track else {
                continue;
            };
            if status.is_ended() {
                continue;
            }
            match self.api().status(&status.id).await {
                Ok(now) => {
                    crash_point("polling");
                    if now != *status {
                        self.show(
                            batch.entry.tag.clone(),
                            batch.entry.jobs.len(),
                            &now,
                            Some(since.elapsed()),
                        );
                    }
                    *status = now;
                }
                Err(error) if error.kind.stops_lane() => {
                    return Err(halt(
                        Some(error.kind),
                        format!("{}: polling a batch failed: {error}", self.label),
                    ));
                }
                Err(error) => {
                    tracing::warn!(label = %self.label, %error, "polling a batch failed; trying again");
                }
            }
        }
        Ok(())
    }

    /// Shows a batch's progress.
    pub(super) fn show(
        &self,
        tag: String,
        jobs: usize,
        status: &BatchStatus,
        since: Option<Duration>,
    ) {
        (self.progress)(&BatchProgress {
            label: self.label.clone(),
            tag,
            id: Some(status.id.clone()),
            state: status.state.clone(),
            succeeded: status.succeeded,
            failed: status.failed,
            // Some providers count no requests while they validate the file.
            total: status.total.max(jobs as u64),
            since_submit: since,
        });
    }
}

/// The status of a batch known only by its id, until it is polled.
fn placeholder(id: &str) -> BatchStatus {
    BatchStatus {
        id: id.to_owned(),
        state: "submitted".into(),
        phase: BatchPhase::Queued,
        total: 0,
        succeeded: 0,
        failed: 0,
    }
}
