//! Collecting an ended batch: its result lines matched to their jobs by custom id (in any
//! order), each answered job recorded, each line that failed for a passing reason put in a
//! later batch (or sent live), and the jobs the batch never answered dealt with by how it
//! ended.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pacer_core::{BatchEnd, BatchPhase, ErrorKind, ProviderError, Usage};
use pacer_engine::WorkItem;

use super::build::{Builder, lines_path};
use super::lane::{BatchLane, Held, State, Track};
use super::ledger::Event;
use super::submit::{Stop, crash_point, halt};
use super::{batch_tag, job_number};
use crate::run::feed::Job;

/// Reads of one batch's results that may fail in a row before the lane stops.
const MAX_READ_FAILURES: u32 = 10;

impl BatchLane {
    /// Reads the results of the ended batch at `index` and ends every job it held. A read
    /// cut short keeps what it found and is tried again later; the jobs it answered have
    /// their records already.
    pub(super) async fn collect(&self, state: &mut State, index: usize) -> Result<(), Stop> {
        let Track::Out { status, .. } = &state.batches[index].track else {
            return Ok(());
        };
        let (id, end) = match &status.phase {
            BatchPhase::Ended(end) => (status.id.clone(), end.clone()),
            _ => return Ok(()),
        };
        if let BatchEnd::Refused(message) = end {
            return self.requeue_refused(state, index, message);
        }
        if state.batches[index]
            .read
            .next
            .is_some_and(|next| next > Instant::now())
        {
            return Ok(());
        }
        let mut results = match self.api().results(&id).await {
            Ok(results) => results,
            Err(error) => return self.read_failed(state, index, error),
        };
        let mut read = 0_usize;
        while let Some(line) = results.next().await {
            let line = match line {
                Ok(line) => line,
                Err(error) => return self.read_failed(state, index, error),
            };
            let jobs = &state.batches[index].entry.jobs;
            let number = line
                .custom_id
                .as_deref()
                .and_then(|custom| job_number(&self.run_id, custom))
                .or_else(|| line.position.and_then(|p| jobs.get(p)).map(|j| j.0));
            let Some(number) = number else { continue };
            if state.current.get(&number) != Some(&index)
                || state.batches[index].read.again.contains(&number)
            {
                continue;
            }
            let Some(held) = state.held.remove(&number) else {
                continue;
            };
            match line.result {
                Ok(response) => {
                    state.batches[index].read.billed.add(&response.usage);
                    let usage = response.usage;
                    self.emit(held, Ok(response), Some(&id), usage).await;
                }
                Err(error) => self.failed_line(state, index, number, held, error).await,
            }
            read += 1;
            if read == 1 {
                crash_point("downloading");
            }
        }
        drop(results);
        self.unanswered(state, index, &end, &id).await;
        let reading = std::mem::take(&mut state.batches[index].read);
        self.finish(state, index, &id, reading.billed, &end);
        if reading.cancelled > 0 {
            state.stopped = Some(halt(
                Some(ErrorKind::Cancelled),
                format!(
                    "{}: batch {id} was cancelled; its {} unanswered jobs stay pending: run again with --resume to submit them again",
                    self.label, reading.cancelled
                ),
            ));
        }
        self.rebatch(state, index, reading.again)
            .map_err(|e| halt(None, format!("{}: {e}", self.label)))
    }

    /// The batch's jobs that no line answered: ended as its end says.
    async fn unanswered(&self, state: &mut State, index: usize, end: &BatchEnd, id: &str) {
        let batch = &state.batches[index];
        let missing: Vec<u64> = batch
            .entry
            .jobs
            .iter()
            .map(|j| j.0)
            .filter(|n| {
                state.current.get(n) == Some(&index)
                    && state.held.contains_key(n)
                    && !batch.read.again.contains(n)
            })
            .collect();
        for number in missing {
            let Some(held) = state.held.remove(&number) else {
                continue;
            };
            let error = match end {
                BatchEnd::Expired => ProviderError::new(
                    ErrorKind::Expired,
                    format!("batch {id} expired before this request ran"),
                ),
                BatchEnd::Cancelled => ProviderError::new(
                    ErrorKind::Cancelled,
                    format!("batch {id} was cancelled before this request ran"),
                ),
                BatchEnd::Failed(message) => ProviderError::new(
                    ErrorKind::BadRequest,
                    format!("batch {id} failed: {message}"),
                ),
                // It may have run and been billed: recorded, never sent again.
                BatchEnd::Completed | BatchEnd::Refused(_) => ProviderError::new(
                    ErrorKind::InvalidResponse,
                    format!("batch {id} ended with no result for this request"),
                ),
            };
            self.failed_line(state, index, number, held, error).await;
        }
    }

    /// A failed line: into a later batch (or live) while retries are left and the line did
    /// not run (expired, cancelled, a server error or refusal: nothing billed), else its
    /// record. A line that ran, even if its answer cannot be read, is never sent again.
    async fn failed_line(
        &self,
        state: &mut State,
        index: usize,
        number: u64,
        mut held: Held,
        error: ProviderError,
    ) {
        if error.kind == ErrorKind::Cancelled && !state.batches[index].adopted {
            // Cancelled in this session (by `pacer batches --cancel`, or at the provider):
            // not sent again now; a resume does.
            state.batches[index].read.cancelled += 1;
            return;
        }
        let unrun = matches!(
            error.kind,
            ErrorKind::Expired
                | ErrorKind::Cancelled
                | ErrorKind::Server
                | ErrorKind::Overloaded
                | ErrorKind::RateLimited
                | ErrorKind::Timeout
        );
        if unrun && held.attempts < self.max_retries {
            if let Some(live) = &self.live {
                let request = pacer_core::Request {
                    model: self.model.clone(),
                    messages: held.messages.unwrap_or_default(),
                    params: Arc::unwrap_or_clone(held.params),
                    inputs: Vec::new(),
                };
                let item = WorkItem::prompt(
                    held.prompt_id.clone(),
                    request,
                    Job {
                        lane: self.lane,
                        prompt_id: held.prompt_id,
                        samples: vec![held.sample],
                        metadata: held.metadata,
                        batch_id: None,
                        deployment: None,
                        pack: Vec::new(),
                        receipt: None,
                    },
                );
                // A live lane that stopped takes nothing: the job stays pending.
                let _ = live.send(item).await;
                return;
            }
            held.attempts += 1;
            state.held.insert(number, held);
            state.batches[index].read.again.insert(number);
            return;
        }
        let id = state.batches[index].entry.id.clone();
        self.emit(held, Err(error), id.as_deref(), Usage::default())
            .await;
    }

    /// A download failed part-way: what was read is recorded, the rest is read again after
    /// a pause; a refused key, or failures that do not pass, stop the lane.
    fn read_failed(
        &self,
        state: &mut State,
        index: usize,
        error: ProviderError,
    ) -> Result<(), Stop> {
        let read = &mut state.batches[index].read;
        read.failures += 1;
        if error.kind.stops_lane() || read.failures >= MAX_READ_FAILURES {
            return Err(halt(
                Some(error.kind),
                format!(
                    "{}: reading a batch's results failed ({} times): {error}; run again with --resume to read them",
                    self.label, read.failures
                ),
            ));
        }
        tracing::warn!(label = %self.label, %error, "reading a batch's results failed; trying again");
        read.next =
            Some(Instant::now() + self.settings.poll.min(Duration::from_secs(5)) * read.failures);
        Ok(())
    }

    /// The batch is done: its budget hold settled to what it billed, its end journalled,
    /// batches waiting for the queue let go.
    fn finish(&self, state: &mut State, index: usize, id: &str, billed: Usage, end: &BatchEnd) {
        let batch = &mut state.batches[index];
        if let Some(hold) = batch.hold.take() {
            hold.settle(&billed, self.price.as_ref());
        }
        let word = match end {
            BatchEnd::Completed => "completed",
            BatchEnd::Expired => "expired",
            BatchEnd::Cancelled => "cancelled",
            BatchEnd::Refused(_) => "refused",
            BatchEnd::Failed(_) => "failed",
        };
        // Only for `pacer batches`: the records are what count.
        let _ = self.journal(Event::Ended {
            tag: batch.entry.tag.clone(),
            state: word.into(),
        });
        tracing::debug!(label = %self.label, id, word, "batch collected");
        batch.track = Track::Finished;
        for other in &mut state.batches {
            if let Track::Waiting(_) = other.track {
                other.track = Track::Ready;
            }
        }
    }

    /// A batch refused after its creation (OpenAI fails it once it checks the queue):
    /// nothing ran; it waits and goes again.
    fn requeue_refused(
        &self,
        state: &mut State,
        index: usize,
        message: String,
    ) -> Result<(), Stop> {
        if let Some(hold) = state.batches[index].hold.take() {
            drop(hold);
        }
        self.refused(state, index, message)
    }

    /// Puts the jobs `numbers` of the batch at `index` into new batches, copying their lines
    /// from its lines file (the same custom ids, the same bodies).
    fn rebatch(
        &self,
        state: &mut State,
        index: usize,
        numbers: BTreeSet<u64>,
    ) -> Result<(), crate::JournalError> {
        if numbers.is_empty() {
            return Ok(());
        }
        let entry = &state.batches[index].entry;
        let path = lines_path(&self.dir, &entry.tag);
        let jobs = entry.jobs.clone();
        let tokens_each = entry.tokens / jobs.len().max(1) as u64;
        let input_each = entry.input_tokens / jobs.len().max(1) as u64;
        let file = File::open(&path).map_err(crate::JournalError::io("read", &path))?;
        let caps = self.caps();
        let mut builder: Option<Builder> = None;
        for (line, job) in BufReader::new(file).lines().zip(&jobs) {
            let line = line.map_err(crate::JournalError::io("read", &path))?;
            if !numbers.contains(&job.0) {
                continue;
            }
            if builder
                .as_ref()
                .is_some_and(|b| !b.fits(&caps, line.len(), tokens_each))
            {
                let built = builder.take().expect("checked").finish()?;
                self.journal_built(state, built)?;
            }
            let builder = match &mut builder {
                Some(builder) => builder,
                None => {
                    let number = self
                        .numbers
                        .batches
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    builder.insert(Builder::start(&self.dir, batch_tag(&self.run_id, number))?)
                }
            };
            builder.push(job.clone(), line.as_bytes(), tokens_each, input_each)?;
        }
        if let Some(builder) = builder {
            let built = builder.finish()?;
            self.journal_built(state, built)?;
        }
        Ok(())
    }
}
