//! The batches and files the batch APIs hold, in memory, behind one lock that no `.await`
//! ever holds: a batch keeps only what was sent (its lines' bodies and drawn fates); its
//! results are made when read.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::time::Instant;

use super::clock::{End, Phase, Timeline};
use super::draw::Fate;
use super::lines::Line;
use super::{gemini, openai};
use crate::stats::Counters;

/// One batch of any API.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    /// Its number, which its id is made from (`batch_<n>`, `msgbatch_<n>`, `batches/<n>`).
    pub(crate) number: u64,
    /// Its life on the clock.
    pub(crate) timeline: Timeline,
    /// Its lines, in the order they were sent.
    pub(crate) lines: Arc<[Line]>,
    /// The tokens its lines enqueue, by model.
    pub(crate) queue: Arc<[(String, u64)]>,
    /// The reply id of its first line; line `i`'s is this plus `i`.
    pub(crate) first_reply: u64,
    /// What its API keeps of it besides.
    pub(crate) api: Api,
    /// Whether its end has been counted in the stats.
    pub(crate) settled: bool,
}

/// Which API a batch belongs to, and what that API keeps of it besides its lines.
#[derive(Clone, Debug)]
pub(crate) enum Api {
    /// OpenAI's `/v1/batches`.
    OpenAi(Arc<openai::Submission>),
    /// Anthropic's `/v1/messages/batches`.
    Anthropic,
    /// Gemini's `batchGenerateContent`.
    Gemini(Arc<gemini::Submission>),
}

impl Batch {
    /// How many of its lines drew `fate`.
    pub(crate) fn count(&self, fate: Fate) -> u64 {
        self.lines.iter().filter(|l| l.fate == fate).count() as u64
    }

    /// Its lines that failed and expired, as its results report them, once it has ended:
    /// none when it was cancelled or refused; every line expired in a Gemini batch that
    /// expired, which returns none.
    fn settled_counts(&self) -> (u64, u64) {
        let expired = self.count(Fate::Expired);
        let whole = matches!(self.api, Api::Gemini(_)) && expired > 0;
        if whole {
            return (0, self.lines.len() as u64);
        }
        (
            self.count(Fate::Refused) + self.count(Fate::Failed),
            expired,
        )
    }
}

/// An uploaded file (OpenAI's `POST /v1/files`).
#[derive(Clone, Debug)]
pub(crate) struct File {
    /// The name it was uploaded under.
    pub(crate) name: String,
    /// Its bytes.
    pub(crate) bytes: Bytes,
    /// When it was uploaded, in Unix seconds.
    pub(crate) created_at: u64,
}

/// Every batch and file, by number.
#[derive(Debug, Default)]
pub(crate) struct Batches {
    inner: Mutex<Inner>,
    next_batch: AtomicU64,
    next_file: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    batches: BTreeMap<u64, Batch>,
    files: BTreeMap<u64, File>,
    /// The ids of batch output files deleted.
    deleted_outputs: HashSet<String>,
}

impl Batches {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new batch's number, from 1 up.
    pub(crate) fn number(&self) -> u64 {
        self.next_batch.fetch_add(1, Relaxed) + 1
    }

    /// Stores `batch` unless its tokens would take a model's enqueued tokens (those of the
    /// batches not ended at `now`) past `limit`; the first model they would take past it
    /// otherwise.
    pub(crate) fn enqueue(
        &self,
        now: Instant,
        batch: Batch,
        limit: Option<u64>,
    ) -> Result<(), String> {
        let mut inner = self.lock();
        if let Some(limit) = limit {
            for (model, tokens) in batch.queue.iter() {
                let waiting: u64 = inner
                    .batches
                    .values()
                    .filter(|b| !b.timeline.ended(now))
                    .flat_map(|b| b.queue.iter())
                    .filter(|(m, _)| m == model)
                    .map(|(_, t)| t)
                    .sum();
                if waiting + tokens > limit {
                    return Err(model.clone());
                }
            }
        }
        inner.batches.insert(batch.number, batch);
        Ok(())
    }

    /// Stores `batch` whatever it holds (a batch that failed at creation).
    pub(crate) fn insert(&self, batch: Batch) {
        self.lock().batches.insert(batch.number, batch);
    }

    /// The batch numbered `number`.
    pub(crate) fn get(&self, number: u64) -> Option<Batch> {
        self.lock().batches.get(&number).cloned()
    }

    /// Cancels the batch numbered `number` at `now`, to end after `grace`: the batch after,
    /// and whether this cancelled it (false when it had ended or was being cancelled).
    pub(crate) fn cancel(
        &self,
        number: u64,
        now: Instant,
        grace: std::time::Duration,
    ) -> Option<(Batch, bool)> {
        let mut inner = self.lock();
        let batch = inner.batches.get_mut(&number)?;
        let cancelled = batch.timeline.cancel(now, grace);
        Some((batch.clone(), cancelled))
    }

    /// Forgets the batch numbered `number`; false when there was none.
    pub(crate) fn remove(&self, number: u64) -> bool {
        self.lock().batches.remove(&number).is_some()
    }

    /// The batches `keep` keeps, newest first.
    pub(crate) fn list(&self, keep: impl Fn(&Batch) -> bool) -> Vec<Batch> {
        let inner = self.lock();
        inner
            .batches
            .values()
            .rev()
            .filter(|b| keep(b))
            .cloned()
            .collect()
    }

    /// Counts in `counters` the lines of the batches that have ended by `now` and were not
    /// counted yet.
    pub(crate) fn settle(&self, now: Instant, counters: &Counters) {
        let mut inner = self.lock();
        for batch in inner.batches.values_mut().filter(|b| !b.settled) {
            if let Phase::Ended(end) = batch.timeline.phase(now) {
                batch.settled = true;
                if end == End::Processed {
                    let (failed, expired) = batch.settled_counts();
                    Counters::add(&counters.batch_lines_failed, failed);
                    Counters::add(&counters.batch_lines_expired, expired);
                }
            }
        }
    }

    /// Stores an uploaded file, returning its number.
    pub(crate) fn add_file(&self, file: File) -> u64 {
        let number = self.next_file.fetch_add(1, Relaxed) + 1;
        self.lock().files.insert(number, file);
        number
    }

    /// The uploaded file numbered `number`.
    pub(crate) fn file(&self, number: u64) -> Option<File> {
        self.lock().files.get(&number).cloned()
    }

    /// Forgets the uploaded file numbered `number`; false when there was none.
    pub(crate) fn remove_file(&self, number: u64) -> bool {
        self.lock().files.remove(&number).is_some()
    }

    /// Marks the batch output file `id` deleted; false when it was already.
    pub(crate) fn delete_output(&self, id: &str) -> bool {
        self.lock().deleted_outputs.insert(id.to_owned())
    }

    /// Whether the batch output file `id` was deleted.
    pub(crate) fn output_deleted(&self, id: &str) -> bool {
        self.lock().deleted_outputs.contains(id)
    }
}
