//! A batch lane: one model's jobs built into batches, submitted, polled and collected, in
//! one task.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pacer_core::{BatchApi, BatchStatus, Price, Provider};
use pacer_engine::{Budget, Outcome, Reservation, StopReason, WorkItem};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};

use super::build::{Builder, Caps};
use super::ledger::{Ledger, LedgerBatch};
use super::submit::halt;
use super::{BatchProgress, BatchSettings};
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
    /// The request's parameters, for the record: shared by the jobs that have the same.
    pub params: Arc<pacer_core::Params>,
    /// The request's messages, kept only when failed lines go live.
    pub messages: Option<Vec<pacer_core::Message>>,
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
    /// What reading its results has found so far (a download cut short is read again).
    pub read: Reading,
    /// Refusals for the queue limit with no other batch out.
    pub refused_alone: u32,
}

/// What reading a batch's results has found so far, kept across reads cut short.
#[derive(Debug, Default)]
pub(super) struct Reading {
    /// Jobs to go into a later batch.
    pub again: std::collections::BTreeSet<u64>,
    /// Jobs left pending: lines of a batch cancelled in this session.
    pub cancelled: usize,
    /// What its answers billed.
    pub billed: pacer_core::Usage,
    /// Reads that failed in a row.
    pub failures: u32,
    /// When to read again after a failure.
    pub next: Option<Instant>,
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
    /// The jobs the journal held at opening.
    pub done: Arc<crate::Done>,
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
    /// The parameters of the last job taken, shared with the next that has the same.
    pub params: Option<Arc<pacer_core::Params>>,
    /// The budget would be passed by the next batch: nothing more is submitted; what is out
    /// is still collected.
    pub halted: Option<StopReason>,
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
        // Polls come quickly after a submission, then less often, up to `poll` apart: a
        // short batch is collected soon, a day-long one is not asked about every second.
        let first_gap = self.settings.poll.min(std::time::Duration::from_secs(1));
        let mut gap = first_gap;
        let mut next_poll = tokio::time::Instant::now();
        loop {
            // A stopped lane submits nothing more: what is out keeps running for a resume.
            if state.stopped.is_some() {
                break;
            }
            let out = out_count(&state);
            if let Err(error) = self.step(&mut state).await {
                state.stopped = Some(error);
                break;
            }
            if out_count(&state) > out {
                gap = first_gap;
                next_poll = next_poll.min(tokio::time::Instant::now() + gap);
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
                    next_poll = tokio::time::Instant::now() + gap;
                    gap = (gap * 2).min(self.settings.poll);
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
            stopped: state.stopped.or(state.halted),
        }
    }

    fn all_done(&self, state: &State) -> bool {
        let halted = state.halted.is_some();
        !state.feeding
            && state.builder.is_none()
            && state.batches.iter().all(|b| match b.track {
                Track::Finished => true,
                // Past the budget, what was not submitted stays for a resume.
                Track::Ready | Track::Waiting(_) => halted,
                Track::Out { .. } => false,
            })
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
            params: None,
            halted: None,
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
                read: Reading::default(),
                refused_alone: 0,
            });
        }
        state
    }

    pub(super) fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Batches out at the provider.
fn out_count(state: &State) -> usize {
    state
        .batches
        .iter()
        .filter(|b| matches!(b.track, Track::Out { .. }))
        .count()
}
