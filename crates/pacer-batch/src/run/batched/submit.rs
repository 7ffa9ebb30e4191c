//! Submitting a batch, each step journalled before the next may cost money: upload, the
//! intent to create, the creation (or, after a crash, finding the batch again), polling.

use std::time::{Duration, Instant, SystemTime};

use pacer_core::{BatchEnd, BatchInput, BatchPhase, BatchStatus, ErrorKind, ProviderError};
use pacer_engine::StopReason;

use super::BatchProgress;
use super::build::lines_path;
use super::lane::{BatchLane, State, Track};
use super::ledger::{Event, unix};

/// The longest wait before a batch refused for the queue limit is submitted again, when no
/// earlier batch ends first.
const MAX_REFUSED_WAIT: Duration = Duration::from_secs(600);

/// Refusals of a batch with nothing else out after which the lane gives up: the batch is
/// larger than the provider's queue.
const MAX_REFUSED_ALONE: u32 = 3;

/// Test hook: `PACER_TEST_KILL_AT=<step>` makes the process `kill -9` itself at that step
/// (`before-upload`, `after-upload`, `after-create`, `polling`, `downloading`), so that tests
/// can check that a crash at any step neither loses a job nor pays for one twice.
pub(super) fn crash_point(step: &str) {
    if std::env::var("PACER_TEST_KILL_AT").is_ok_and(|at| at == step) {
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
        // The signal is on its way; nothing more happens here.
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// What went wrong that stops the lane: said to the user.
pub(super) type Stop = StopReason;

/// A reason to stop, in words.
pub(super) fn halt(kind: Option<ErrorKind>, message: String) -> Stop {
    StopReason { kind, message }
}

impl BatchLane {
    /// Holds a batch's worst case against the budget, if there is one; the reason to submit
    /// nothing more when it does not fit.
    pub(super) fn reserve(
        &self,
        entry: &super::ledger::LedgerBatch,
    ) -> Result<Option<pacer_engine::Reservation>, Stop> {
        let Some(budget) = &self.budget else {
            return Ok(None);
        };
        let output = entry.tokens.saturating_sub(entry.input_tokens);
        let usd = self
            .price
            .map_or(0.0, |p| p.worst_case(entry.input_tokens, output));
        budget.reserve(usd, entry.tokens).map(Some).map_err(|_| {
            halt(
                Some(ErrorKind::BudgetExhausted),
                format!(
                    "{}: the budget would be passed by the next batch ({} requests at most ${usd:.4}); raise the budget and run again with --resume",
                    self.label,
                    entry.jobs.len()
                ),
            )
        })
    }

    /// Does what can be done now: submits the batches the queue has room for, collects the
    /// ended ones.
    pub(super) async fn step(&self, state: &mut State) -> Result<(), Stop> {
        self.check_earlier(state);
        let now = Instant::now();
        for index in 0..state.batches.len() {
            let batch = &state.batches[index];
            let due = match batch.track {
                Track::Ready => batch.checked,
                Track::Waiting(until) => until <= now,
                _ => false,
            };
            if due && state.halted.is_none() && self.queue_has_room(state, index) {
                self.submit(state, index).await?;
            }
        }
        for index in 0..state.batches.len() {
            if matches!(&state.batches[index].track, Track::Out { status, .. } if status.is_ended())
            {
                self.collect(state, index).await?;
            }
        }
        Ok(())
    }

    /// Whether the batch at `index` fits the enqueued-token limit beside the batches out.
    fn queue_has_room(&self, state: &State, index: usize) -> bool {
        let Some(cap) = self.settings.queue_tokens else {
            return true;
        };
        let out: u64 = state
            .batches
            .iter()
            .filter(|b| matches!(&b.track, Track::Out { status, .. } if !status.is_ended()))
            .map(|b| b.entry.tokens)
            .sum();
        out == 0 || out + state.batches[index].entry.tokens <= cap
    }

    /// Submits the batch at `index`: uploads its lines unless they are, finds it again if
    /// its creation's outcome is unknown, else creates it.
    async fn submit(&self, state: &mut State, index: usize) -> Result<(), Stop> {
        if state.batches[index].hold.is_none() {
            match self.reserve(&state.batches[index].entry) {
                Ok(hold) => state.batches[index].hold = hold,
                Err(stop) => {
                    // Like a live lane: nothing new goes out, what is out is collected.
                    state.halted = Some(stop);
                    return Ok(());
                }
            }
        }
        let api = self.api();
        let tag = state.batches[index].entry.tag.clone();
        let path = lines_path(&self.dir, &tag);
        if state.batches[index].entry.file.is_none() {
            crash_point("before-upload");
            match api.upload(&path, &format!("{tag}.jsonl")).await {
                Ok(Some(file)) => {
                    crash_point("after-upload");
                    self.journal(Event::Uploaded {
                        tag: tag.clone(),
                        file: file.clone(),
                    })?;
                    state.batches[index].entry.file = Some(file);
                }
                Ok(None) => {}
                Err(error) => return self.submit_failed(state, index, error),
            }
        }
        let entry = &state.batches[index].entry;
        if let Some(since) = entry.submitting {
            // A creation was asked for and its reply never journalled: the batch may exist.
            match api.find(&tag, since, entry.jobs.len()).await {
                Ok(found) => {
                    // Not a refused one, nor one the ledger gives another batch, of any
                    // model (a provider without tags is searched by shape).
                    let known = self.known_ids();
                    let found = found.into_iter().find(|found| {
                        !matches!(found.phase, BatchPhase::Ended(BatchEnd::Refused(_)))
                            && !known.contains(&found.id)
                    });
                    if let Some(found) = found {
                        return self.created(state, index, found);
                    }
                }
                // Whether the batch exists is still unknown: nothing is created until the
                // listing answers.
                Err(error) if error.kind.stops_lane() => {
                    return Err(halt(
                        Some(error.kind),
                        format!("{}: listing the batches failed: {error}", self.label),
                    ));
                }
                Err(error) => {
                    tracing::warn!(label = %self.label, %error, "listing the batches failed; trying again");
                    state.batches[index].track =
                        Track::Waiting(Instant::now() + self.settings.poll);
                    return Ok(());
                }
            }
        }
        let at = SystemTime::now();
        self.journal(Event::Submitting {
            tag: tag.clone(),
            at: unix(at),
        })?;
        state.batches[index].entry.submitting = Some(at);
        let entry = &state.batches[index].entry;
        let input = BatchInput {
            model: &self.model,
            tag: &tag,
            lines: &path,
            count: entry.jobs.len(),
            uploaded: entry.file.as_deref(),
        };
        match api.create(input).await {
            Ok(status) => {
                crash_point("after-create");
                if let BatchPhase::Ended(BatchEnd::Refused(message)) = &status.phase {
                    self.journal(Event::Created {
                        tag: tag.clone(),
                        id: status.id.clone(),
                    })?;
                    self.refused(state, index, message.clone())
                } else {
                    self.created(state, index, status)
                }
            }
            Err(error) => self.submit_failed(state, index, error),
        }
    }

    /// The batch exists at the provider: journal its id and poll it.
    fn created(&self, state: &mut State, index: usize, status: BatchStatus) -> Result<(), Stop> {
        let batch = &mut state.batches[index];
        self.journal(Event::Created {
            tag: batch.entry.tag.clone(),
            id: status.id.clone(),
        })?;
        batch.entry.id = Some(status.id.clone());
        self.show(
            batch.entry.tag.clone(),
            batch.entry.jobs.len(),
            &status,
            Some(Duration::ZERO),
        );
        batch.track = Track::Out {
            status,
            since: Instant::now(),
        };
        Ok(())
    }

    /// Refused for the queue limit: nothing ran; wait for an earlier batch to end.
    pub(super) fn refused(
        &self,
        state: &mut State,
        index: usize,
        message: String,
    ) -> Result<(), Stop> {
        let batch = &mut state.batches[index];
        self.journal(Event::Refused {
            tag: batch.entry.tag.clone(),
            message: message.clone(),
        })?;
        batch.entry.id = None;
        batch.entry.submitting = None;
        (self.progress)(&BatchProgress {
            label: self.label.clone(),
            tag: batch.entry.tag.clone(),
            id: None,
            state: format!("refused, waiting for the queue: {message}"),
            succeeded: 0,
            failed: 0,
            total: batch.entry.jobs.len() as u64,
            since_submit: None,
        });
        let wait = (self.settings.poll * 4).min(MAX_REFUSED_WAIT);
        batch.track = Track::Waiting(Instant::now() + wait);
        let alone = !state
            .batches
            .iter()
            .any(|b| matches!(&b.track, Track::Out { status, .. } if !status.is_ended()));
        let batch = &mut state.batches[index];
        batch.refused_alone = if alone { batch.refused_alone + 1 } else { 0 };
        if batch.refused_alone >= MAX_REFUSED_ALONE {
            return Err(halt(
                Some(ErrorKind::Config),
                format!(
                    "{}: a batch of {} requests (~{} tokens) is refused by the provider's queue limit even with no other batch out: set batch_queue_tokens below the provider's enqueued-token limit, or a smaller batch_size, then run again with --resume",
                    self.label,
                    batch.entry.jobs.len(),
                    batch.entry.tokens
                ),
            ));
        }
        Ok(())
    }

    /// An upload or creation failed: a refusal waits, a passing failure tries again at the
    /// next poll, anything else stops the lane (its jobs stay pending).
    fn submit_failed(
        &self,
        state: &mut State,
        index: usize,
        error: ProviderError,
    ) -> Result<(), Stop> {
        if error.kind == ErrorKind::RateLimited {
            return self.refused(state, index, error.message);
        }
        if error.kind.is_retryable() {
            tracing::warn!(label = %self.label, %error, "submitting a batch failed; trying again");
            state.batches[index].track = Track::Waiting(Instant::now() + self.settings.poll);
            return Ok(());
        }
        Err(halt(
            Some(error.kind),
            format!(
                "{}: submitting a batch failed: {error} ({})",
                self.label,
                error.kind.advice()
            ),
        ))
    }

    /// Every batch id the run's ledger holds, of every model.
    fn known_ids(&self) -> std::collections::HashSet<String> {
        super::ledger::read_ledger(&self.dir)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| b.id)
            .collect()
    }

    pub(super) fn journal(&self, event: Event) -> Result<(), Stop> {
        self.ledger()
            .append(&event)
            .map_err(|e| halt(None, format!("{}: {e}", self.label)))
    }
}
