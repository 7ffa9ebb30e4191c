//! A batch lane: one model's jobs built into batches, submitted, polled and collected, in
//! one task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use pacer_core::{BatchApi, BatchStatus, Price, Provider, Request, Usage};
use pacer_engine::{Budget, Outcome, Reservation, StopReason, Work, WorkItem};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};

use super::build::{Builder, Built, Caps};
use super::ledger::{Event, Ledger, LedgerBatch, unix};
use super::submit::halt;
use super::{BatchProgress, BatchSettings, batch_tag, custom_id};
use crate::JournalError;
use crate::run::feed::Job;

/// The run's counters of batches and jobs, shared by its batch lanes so that tags and
/// custom ids are unique in the run.
#[derive(Debug, Default)]
pub(crate) struct Numbers {
    pub batches: AtomicU64,
    pub jobs: AtomicU64,
}

impl Numbers {
    /// Counters that continue after what the ledger holds.
    pub(crate) fn after(batches: &[LedgerBatch], run_id: &str) -> Numbers {
        let prefix = format!("pacer-{run_id}-");
        let next_batch = batches
            .iter()
            .filter_map(|b| b.tag.strip_prefix(&prefix)?.parse::<u64>().ok())
            .max()
            .map_or(0, |n| n + 1);
        let next_job = batches
            .iter()
            .flat_map(|b| b.jobs.iter().map(|j| j.0))
            .max()
            .map_or(0, |n| n + 1);
        Numbers {
            batches: AtomicU64::new(next_batch),
            jobs: AtomicU64::new(next_job),
        }
    }
}

/// What a lane knows of a job it holds.
#[derive(Debug)]
pub(super) struct Held {
    pub prompt_id: String,
    pub sample: u32,
    pub metadata: Arc<Map<String, Value>>,
    /// The request: its parameters for the record, and its messages too when failed lines
    /// go live.
    pub request: Request,
    /// Batches it went into in earlier sessions.
    pub attempts: u32,
    pub first: Instant,
}

/// Where a batch stands in this session.
#[derive(Debug)]
pub(super) enum Track {
    /// Journalled, to be uploaded or created.
    Ready,
    /// Refused for the queue limit: submit again after this.
    Waiting(Instant),
    /// Created: polled until it ends.
    Out { status: BatchStatus, since: Instant },
    /// Its results are in.
    Finished,
}

/// A batch of this lane.
#[derive(Debug)]
pub(super) struct Tracked {
    pub entry: LedgerBatch,
    pub track: Track,
    /// Found in the ledger, from an earlier session: its cancelled lines are submitted again.
    pub adopted: bool,
    /// Whether it is known to hold jobs still pending (an earlier session's batch is known
    /// once the prompts are read).
    pub checked: bool,
    /// The budget's hold on its worst case, until its results are in.
    pub hold: Option<Reservation>,
}

/// Everything a batch lane needs.
pub(crate) struct BatchLane {
    pub label: String,
    pub model: String,
    pub lane: usize,
    pub provider: Arc<dyn Provider>,
    pub settings: BatchSettings,
    pub max_retries: u32,
    pub price: Option<Price>,
    pub budget: Option<Arc<Budget>>,
    pub run_id: String,
    pub dir: PathBuf,
    pub ledger: Arc<Mutex<Ledger>>,
    pub numbers: Arc<Numbers>,
    pub outcomes: mpsc::Sender<Outcome<Job>>,
    /// The live lane failed lines go to, with `fallback_live`.
    pub live: Option<mpsc::Sender<WorkItem<Job>>>,
    pub progress: Arc<dyn Fn(&BatchProgress) + Send + Sync>,
    pub stop: watch::Receiver<Option<String>>,
    /// This model's batches in the ledger.
    pub earlier: Vec<LedgerBatch>,
}

/// How a batch lane ended.
#[derive(Debug, Default)]
pub(crate) struct LaneEnd {
    /// Batches still running at the provider (stopped before their results were in).
    pub in_flight: Vec<String>,
    /// Why the lane stopped early, if it did.
    pub stopped: Option<StopReason>,
}

/// The lane's working state.
pub(super) struct State {
    pub batches: Vec<Tracked>,
    /// Jobs held, by number.
    pub held: HashMap<u64, Held>,
    /// The batch each job is in now, by number.
    pub current: HashMap<u64, usize>,
    /// Jobs of earlier batches not met in the prompts yet: (prompt id, sample) → number.
    pub expected: HashMap<(String, u32), u64>,
    /// Batches each job went into.
    pub tries: HashMap<u64, u32>,
    pub builder: Option<Builder>,
    pub feeding: bool,
    pub stopped: Option<StopReason>,
}

impl BatchLane {
    pub(super) fn api(&self) -> &dyn BatchApi {
        self.provider
            .batch_api()
            .expect("batch lanes are built for providers with a batch API")
    }

    pub(super) fn caps(&self) -> Caps {
        let limits = self.api().limits();
        Caps {
            requests: self.settings.size.clamp(1, limits.max_requests),
            bytes: limits.max_bytes,
            tokens: self.settings.queue_tokens,
        }
    }

    /// Runs until every job has its record, or the run stops (batches then keep running
    /// at the provider, and a resume collects them).
    pub(crate) async fn run(mut self, mut items: mpsc::Receiver<WorkItem<Job>>) -> LaneEnd {
        let mut state = self.resume_state();
        let mut stop = self.stop.clone();
        let mut next_poll = tokio::time::Instant::now();
        loop {
            if let Err(error) = self.step(&mut state).await {
                state.stopped = Some(error);
                break;
            }
            if state.stopped.is_some() || self.all_done(&state) {
                break;
            }
            tokio::select! {
                item = items.recv(), if state.feeding => match item {
                    Some(item) => {
                        if let Err(error) = self.take(&mut state, item).await {
                            state.stopped = Some(halt(None, format!("{}: {error}", self.label)));
                        }
                    }
                    None => {
                        state.feeding = false;
                        if let Err(error) = self.seal(&mut state) {
                            state.stopped = Some(halt(None, format!("{}: {error}", self.label)));
                        }
                        next_poll = tokio::time::Instant::now();
                    }
                },
                () = tokio::time::sleep_until(next_poll) => {
                    next_poll = tokio::time::Instant::now() + self.settings.poll;
                    if let Err(error) = self.poll(&mut state).await {
                        state.stopped = Some(error);
                    }
                }
                message = async {
                    let message = stop.wait_for(Option::is_some).await.map(|m| m.clone());
                    match message {
                        Ok(message) => message,
                        // No one can stop the run any more: wait for the work instead.
                        Err(_) => std::future::pending().await,
                    }
                } => {
                    state.stopped = Some(halt(None, message.unwrap_or_default()));
                }
            }
        }
        self.end(state)
    }

    fn end(&mut self, state: State) -> LaneEnd {
        let in_flight = state
            .batches
            .iter()
            .filter(|b| matches!(b.track, Track::Out { .. }))
            .filter_map(|b| b.entry.id.clone())
            .collect();
        LaneEnd {
            in_flight,
            stopped: state.stopped,
        }
    }

    fn all_done(&self, state: &State) -> bool {
        !state.feeding
            && state.builder.is_none()
            && state
                .batches
                .iter()
                .all(|b| matches!(b.track, Track::Finished))
    }

    /// The state a session starts from: this model's batches in the ledger, each job in the
    /// last batch that holds it.
    fn resume_state(&mut self) -> State {
        let mut state = State {
            batches: Vec::new(),
            held: HashMap::new(),
            current: HashMap::new(),
            expected: HashMap::new(),
            tries: HashMap::new(),
            builder: None,
            feeding: true,
            stopped: None,
        };
        for entry in std::mem::take(&mut self.earlier) {
            let index = state.batches.len();
            for (number, prompt_id, sample) in &entry.jobs {
                state.current.insert(*number, index);
                *state.tries.entry(*number).or_default() += 1;
                state.expected.insert((prompt_id.clone(), *sample), *number);
            }
            state.batches.push(Tracked {
                entry,
                track: Track::Ready,
                adopted: true,
                checked: false,
                hold: None,
            });
        }
        state
    }

    /// Takes one job from the prompts: into the batch that already holds it (a resume), or
    /// into the batch being built.
    async fn take(&self, state: &mut State, item: WorkItem<Job>) -> Result<(), JournalError> {
        let Work::Prompt(mut request) = item.work else {
            unreachable!("the feed makes prompt items")
        };
        let job = item.context;
        let sample = job.samples.first().copied().unwrap_or(0);
        let key = (job.prompt_id, sample);
        if let Some(number) = state.expected.remove(&key) {
            if !self.settings.fallback_live {
                request.messages.clear();
            }
            let attempts = state.tries.get(&number).copied().unwrap_or(0);
            state.held.insert(
                number,
                held(key, job.metadata, request, attempts.saturating_sub(1)),
            );
            return Ok(());
        }
        let number = self.numbers.jobs.fetch_add(1, Ordering::Relaxed);
        let line = match self.api().line(&custom_id(&self.run_id, number), &request) {
            Ok(line) => line,
            Err(error) => {
                // The request cannot be written as a batch line: its record says why.
                let held = held(key, job.metadata, request, 0);
                self.record_failure(number, held, error, None).await;
                return Ok(());
            }
        };
        let cost = pacer_engine::estimate(&*self.provider, &request, true);
        let tokens = cost.input_tokens + cost.output_tokens;
        let caps = self.caps();
        if state
            .builder
            .as_ref()
            .is_some_and(|b| !b.fits(&caps, line.len(), tokens))
        {
            self.seal(state)?;
        }
        if state.builder.is_none() {
            let tag = batch_tag(
                &self.run_id,
                self.numbers.batches.fetch_add(1, Ordering::Relaxed),
            );
            state.builder = Some(Builder::start(&self.dir, tag)?);
        }
        let builder = state.builder.as_mut().expect("started above");
        builder.push(
            (number, key.0.clone(), key.1),
            &line,
            tokens,
            cost.input_tokens,
        )?;
        if !self.settings.fallback_live {
            request.messages.clear();
        }
        state
            .held
            .insert(number, held(key, job.metadata, request, 0));
        Ok(())
    }

    /// Ends the batch being built: its lines synced, it is journalled and ready to submit.
    pub(super) fn seal(&self, state: &mut State) -> Result<(), JournalError> {
        let Some(builder) = state.builder.take() else {
            return Ok(());
        };
        if builder.is_empty() {
            let _ = std::fs::remove_file(&builder.path);
            return Ok(());
        }
        let built = builder.finish()?;
        self.journal_built(state, built)
    }

    /// Journals a built batch as intended and tracks it.
    pub(super) fn journal_built(
        &self,
        state: &mut State,
        built: Built,
    ) -> Result<(), JournalError> {
        let at = SystemTime::now();
        self.ledger().append(&Event::Intended {
            tag: built.tag.clone(),
            label: self.label.clone(),
            at: unix(at),
            jobs: built.jobs.clone(),
            tokens: built.tokens,
            input_tokens: built.input_tokens,
        })?;
        let index = state.batches.len();
        for (number, ..) in &built.jobs {
            state.current.insert(*number, index);
            *state.tries.entry(*number).or_default() += 1;
        }
        let total = built.jobs.len() as u64;
        (self.progress)(&BatchProgress {
            label: self.label.clone(),
            tag: built.tag.clone(),
            id: None,
            state: "built".into(),
            succeeded: 0,
            failed: 0,
            total,
            since_submit: None,
        });
        state.batches.push(Tracked {
            entry: LedgerBatch {
                tag: built.tag,
                label: self.label.clone(),
                at,
                jobs: built.jobs,
                tokens: built.tokens,
                input_tokens: built.input_tokens,
                file: None,
                submitting: None,
                id: None,
                state: None,
            },
            track: Track::Ready,
            adopted: false,
            checked: true,
            hold: None,
        });
        Ok(())
    }

    pub(super) fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A failed job's record, written now.
    pub(super) async fn record_failure(
        &self,
        number: u64,
        held: Held,
        error: pacer_core::ProviderError,
        batch: Option<&str>,
    ) {
        let _ = number;
        self.emit(held, Err(error), batch, Usage::default()).await;
    }

    /// Sends a job's outcome to the journal writer.
    pub(super) async fn emit(
        &self,
        held: Held,
        result: Result<pacer_core::Response, pacer_core::ProviderError>,
        batch: Option<&str>,
        billed: Usage,
    ) {
        let attempts = held.attempts + u32::from(batch.is_some());
        let outcome = Outcome {
            id: held.prompt_id.clone(),
            context: Job {
                lane: self.lane,
                prompt_id: held.prompt_id,
                samples: vec![held.sample],
                metadata: held.metadata,
                batch_id: batch.map(str::to_owned),
            },
            result,
            request: Some(held.request),
            attempts: attempts.max(1),
            usage_all_attempts: billed,
            elapsed: held.first.elapsed(),
            queued: std::time::Duration::ZERO,
            upstream: std::time::Duration::ZERO,
            held: None,
            finished_at: SystemTime::now(),
        };
        // The writer outlives every lane; a closed channel means the run is failing already.
        let _ = self.outcomes.send(outcome).await;
    }
}

fn held(
    key: (String, u32),
    metadata: Arc<Map<String, Value>>,
    request: Request,
    attempts: u32,
) -> Held {
    Held {
        prompt_id: key.0,
        sample: key.1,
        metadata,
        request,
        attempts,
        first: Instant::now(),
    }
}
