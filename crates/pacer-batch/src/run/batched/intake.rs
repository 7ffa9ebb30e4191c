//! What a batch lane takes in and gives out: jobs from the prompts written into the batch
//! being built (or, on a resume, matched to the batch that already holds them), built
//! batches journalled, and outcomes sent to the journal writer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use pacer_core::{Request, Usage};
use pacer_engine::{Outcome, Work, WorkItem};
use serde_json::{Map, Value};

use super::build::{Builder, Built};
use super::lane::{BatchLane, Held, Reading, State, Track, Tracked};
use super::ledger::{Event, LedgerBatch, unix};
use super::{BatchProgress, batch_tag, custom_id};
use crate::JournalError;
use crate::run::feed::Job;

impl BatchLane {
    /// Takes one job from the prompts: into the batch that already holds it (a resume), or
    /// into the batch being built.
    pub(super) async fn take(
        &self,
        state: &mut State,
        item: WorkItem<Job>,
    ) -> Result<(), JournalError> {
        let Work::Prompt(request) = item.work else {
            unreachable!("the feed makes prompt items")
        };
        let job = item.context;
        let sample = job.samples.first().copied().unwrap_or(0);
        let key = (job.prompt_id, sample);
        // In a batch already, unless `--retry-failed` took its failed record out: then it
        // goes into a new batch, not back to the one that failed it.
        let earlier = state.expected.remove(&key);
        if let Some(number) = earlier.filter(|_| !self.done.was_retried(&self.label, &key.0, key.1))
        {
            let attempts = state.tries.get(&number).copied().unwrap_or(0);
            let held = self.held(
                state,
                key,
                job.metadata,
                request,
                attempts.saturating_sub(1),
            );
            state.held.insert(number, held);
            return Ok(());
        }
        let number = self.numbers.jobs.fetch_add(1, Ordering::Relaxed);
        let line = match self.api().line(&custom_id(&self.run_id, number), &request) {
            Ok(line) => line,
            Err(error) => {
                // The request cannot be written as a batch line: its record says why.
                let held = self.held(state, key, job.metadata, request, 0);
                self.emit(held, Err(error), None, Usage::default()).await;
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
        let held = self.held(state, key, job.metadata, request, 0);
        state.held.insert(number, held);
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
            read: Reading::default(),
            refused_alone: 0,
        });
        Ok(())
    }

    /// What the lane keeps of a job it holds: its parameters shared with the job before
    /// when they are the same, its messages only when failed lines may go live.
    fn held(
        &self,
        state: &mut State,
        key: (String, u32),
        metadata: Arc<Map<String, Value>>,
        request: Request,
        attempts: u32,
    ) -> Held {
        let params = match &state.params {
            Some(shared) if **shared == request.params => shared.clone(),
            _ => {
                let shared = Arc::new(request.params);
                state.params = Some(shared.clone());
                shared
            }
        };
        Held {
            prompt_id: key.0,
            sample: key.1,
            metadata,
            params,
            messages: self.settings.fallback_live.then_some(request.messages),
            attempts,
            first: Instant::now(),
        }
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
                deployment: None,
                pack: Vec::new(),
                receipt: None,
            },
            result,
            request: Some(Request {
                model: self.model.clone(),
                messages: Vec::new(),
                params: Arc::unwrap_or_clone(held.params),
                inputs: Vec::new(),
            }),
            attempts: attempts.max(1),
            usage_all_attempts: billed,
            elapsed: held.first.elapsed(),
            queued: std::time::Duration::ZERO,
            upstream: std::time::Duration::ZERO,
            latency: None,
            held: None,
            finished_at: SystemTime::now(),
        };
        // The writer outlives every lane; a closed channel means the run is failing already.
        let _ = self.outcomes.send(outcome).await;
    }
}
