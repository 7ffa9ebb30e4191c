//! A whole batch run: prompts × models × samples, one lane per model fed by its own cursor
//! over the prompts, every outcome journalled as one record per job, resumable, under an
//! optional budget, with progress counters and a summary. `pacer run` is a thin command over
//! [`Batch`].
//!
//! # Example
//!
//! Two models over a prompts file, into an output folder; run again with `resume` and only
//! the jobs not done yet are sent.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use pacer_batch::{Batch, BatchModel, OpenMode};
//! use pacer_providers::{MockConfig, MockProvider};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let prompts = dir.path().join("prompts.jsonl");
//! std::fs::write(&prompts, "{\"id\": \"a\", \"prompt\": \"Hi\"}\n{\"id\": \"b\", \"prompt\": \"Bye\"}\n").unwrap();
//! let out = dir.path().join("out");
//!
//! let models = || {
//!     [
//!         BatchModel::new("small", Arc::new(MockProvider::default())).samples(2),
//!         BatchModel::new("large", Arc::new(MockProvider::new(MockConfig::default()))),
//!     ]
//! };
//! let report = Batch::new(&prompts, &out).models(models()).run().await.unwrap();
//! assert_eq!(report.summary.totals.records, 6); // 2 prompts × (2 + 1) samples
//!
//! let again = Batch::new(&prompts, &out).models(models()).mode(OpenMode::Resume { retry_failed: false });
//! let report = again.run().await.unwrap();
//! assert_eq!((report.finished, report.pending), (0, 0)); // everything was done already
//! # });
//! ```

pub mod batched;
mod embed;
pub(crate) mod feed;
mod model;
mod report;
pub(crate) mod spawn;
mod vectors;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pacer_engine::{Budget, Spending};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::{
    Journal, JournalError, Manifest, OpenMode, RESULTS_FILE, RETRIED_FAILURES_FILE, Tally, scan,
};

pub use batched::{BatchProgress, BatchSettings};
pub use embed::{EmbedSettings, Pack, PackLimits, Packer, text_tokens};
pub use feed::request as job_request;
pub use model::{BatchDeployment, BatchModel, LaneCounters, Notice, Stopper};
pub use report::{BatchError, Report};
pub use vectors::EMBEDDINGS_FILE;

/// Items read ahead of each lane, so that a fast lane never waits on the prompts file.
const ITEMS_AHEAD: usize = 64;

/// What hears the run's notices.
type NoticeFn = Arc<dyn Fn(&Notice<'_>) + Send + Sync>;

/// A batch run, set up.
pub struct Batch {
    prompts: PathBuf,
    output: PathBuf,
    num_prompts: Option<u64>,
    models: Vec<BatchModel>,
    counters: Vec<Arc<LaneCounters>>,
    mode: OpenMode,
    skip_invalid: bool,
    budget: (Option<f64>, Option<u64>),
    config: Value,
    stop: Arc<watch::Sender<Option<String>>>,
    notices: Option<NoticeFn>,
    queue: Option<crate::queue::Queue>,
}

impl Batch {
    /// A run of the prompts in `prompts` (JSON, JSONL, CSV or an OpenAI batch file) into the
    /// folder `output`, with no model yet, as a new run (see [`mode`](Self::mode)).
    pub fn new(prompts: impl AsRef<Path>, output: impl AsRef<Path>) -> Self {
        Self {
            prompts: prompts.as_ref().to_path_buf(),
            output: output.as_ref().to_path_buf(),
            num_prompts: None,
            models: Vec::new(),
            counters: Vec::new(),
            mode: OpenMode::New,
            skip_invalid: false,
            budget: (None, None),
            config: Value::Null,
            stop: Arc::new(watch::channel(None).0),
            notices: None,
            queue: None,
        }
    }

    /// Adds a model.
    pub fn model(mut self, model: BatchModel) -> Self {
        self.models.push(model);
        self.counters.push(Arc::default());
        self
    }

    /// Adds models.
    pub fn models(self, models: impl IntoIterator<Item = BatchModel>) -> Self {
        models.into_iter().fold(self, Self::model)
    }

    /// New (the default: refused where results exist), resume, or fresh.
    pub fn mode(mut self, mode: OpenMode) -> Self {
        self.mode = mode;
        self
    }

    /// Only the first `n` valid prompts.
    pub fn num_prompts(mut self, n: Option<u64>) -> Self {
        self.num_prompts = n;
        self
    }

    /// Lists malformed prompts in `invalid_inputs.jsonl` and goes on, instead of refusing to
    /// start.
    pub fn skip_invalid(mut self, skip: bool) -> Self {
        self.skip_invalid = skip;
        self
    }

    /// Caps the whole run (earlier sessions of the same folder included) at `usd` dollars
    /// and `tokens` tokens; past it, lanes stop dispatching and the rest stays pending.
    pub fn budget(mut self, usd: Option<f64>, tokens: Option<u64>) -> Self {
        self.budget = (usd, tokens);
        self
    }

    /// The settings to keep in the folder's `run.json` (without secrets).
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// Runs the live models' jobs on `pacer worker` processes through Redis: this run is
    /// their coordinator (see [`queue`](crate::queue)).
    pub fn queue(mut self, queue: crate::queue::Queue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Calls `notice` with what a person may want to know as the run opens its folder.
    pub fn on_notice(mut self, notice: impl Fn(&Notice<'_>) + Send + Sync + 'static) -> Self {
        self.notices = Some(Arc::new(notice));
        self
    }

    /// Each model's label and counters, for a progress display.
    pub fn counters(&self) -> Vec<(String, Arc<LaneCounters>)> {
        self.models
            .iter()
            .zip(&self.counters)
            .map(|(m, c)| (m.label.clone(), c.clone()))
            .collect()
    }

    /// A handle that stops the run.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    fn notice(&self, notice: Notice<'_>) {
        if let Some(notices) = &self.notices {
            notices(&notice);
        }
    }

    /// Runs every job not done yet and writes the summary. Returns once every lane has
    /// ended (its input done, or stopped).
    pub async fn run(self) -> Result<Report, BatchError> {
        self.check_models()?;
        let prompts = self.prompts.clone();
        let (limit, skip_invalid) = (self.num_prompts, self.skip_invalid);
        let scanned = tokio::task::spawn_blocking(move || scan(&prompts, limit, skip_invalid))
            .await
            .map_err(|_| BatchError::Panicked("the prompt scan"))??;
        if scanned.count == 0 {
            let count = scanned.invalid.len();
            return Err(match scanned.invalid.into_iter().next() {
                None => BatchError::NoPrompts(self.prompts.clone()),
                Some(first) => BatchError::NoValidPrompts {
                    path: self.prompts.clone(),
                    count,
                    first: Box::new(first),
                },
            });
        }

        let resumed = matches!(self.mode, OpenMode::Resume { .. });
        if self.mode == OpenMode::New {
            let batches = batched::read_ledger(&self.output)?;
            if !batches.is_empty() {
                return Err(BatchError::HasBatches {
                    dir: self.output.clone(),
                    count: batches.len(),
                });
            }
        }
        let (journal, done) = Journal::open(&self.output, self.mode)?;
        if let Some(repaired) = done.repaired() {
            self.notice(Notice::TornLineDropped {
                bytes: repaired.dropped_bytes,
                line: repaired.line,
            });
        }
        if let Some(aside) = done.moved_aside() {
            self.notice(Notice::MovedAside(aside));
        }
        if !done.is_empty() {
            self.notice(Notice::Resuming {
                done: done.len(),
                succeeded: done.succeeded(),
                failed: done.failed(),
            });
        }
        // The records already there (on resume) are totalled once now; the writer adds the
        // rest.
        let tally = Tally::read(journal.path())?;
        let budget = self.open_budget(&tally)?;
        if !scanned.invalid.is_empty() {
            let listed_in = report::write_invalid(&self.output, &scanned.invalid)?;
            self.notice(Notice::SkippedInvalid {
                count: scanned.invalid.len(),
                listed_in: &listed_in,
            });
        }
        let manifest = match Manifest::read(&self.output)? {
            Some(manifest) if resumed => manifest,
            _ => {
                let manifest = Manifest::new(
                    Some(self.prompts.display().to_string()),
                    self.config.clone(),
                );
                manifest.write(&self.output)?;
                manifest
            }
        };

        let events = Arc::new(crate::EventLog::open(&self.output, resumed)?);
        events.log(
            None,
            crate::What::Session {
                run_id: manifest.run_id.clone(),
                resumed,
            },
        );

        let embedding_models = self.models.iter().any(|m| m.embed.is_some());
        let chat_models = self.models.iter().any(|m| m.embed.is_none());
        let untaken = scanned.untaken(chat_models, embedding_models);
        if untaken > 0 {
            self.notice(Notice::Untaken { count: untaken });
        }
        let done = Arc::new(done);
        let (outcomes_tx, outcomes_rx) = mpsc::channel(1024);
        let batches = self.open_batches(&manifest)?;
        let mut starts = Vec::new();
        let mut infos = Vec::new();
        let mut feeders = Vec::new();
        for (index, (model, counters)) in self.models.iter().zip(&self.counters).enumerate() {
            let jobs = match model.embed {
                Some(_) => scanned.for_embedding,
                None => scanned.for_chat * u64::from(model.samples),
            };
            counters.total.store(jobs, Ordering::Relaxed);
            infos.push(write::LaneInfo {
                label: model.label.clone(),
                model: model.name.clone(),
                provider: model.provider.kind(),
                price: model.lane.price,
                batch_price: model
                    .batch
                    .as_ref()
                    .and_then(|b| b.price_over(model.lane.price)),
                counters: counters.clone(),
                side_file: model.embed.as_ref().is_some_and(|e| e.side_file),
            });
            let (items_tx, items_rx) = mpsc::channel(ITEMS_AHEAD);
            // A batch line answers one sample: batches are cheap per request, not per call.
            // Of several deployments, the one that takes fewest samples a call decides.
            let max_per_call = match model.batch {
                Some(_) => 1,
                None => model
                    .deployments
                    .iter()
                    .map(|d| d.provider.max_samples_per_call(&d.name))
                    .chain([model.provider.max_samples_per_call(&model.name)])
                    .min()
                    .unwrap_or(1),
            };
            feeders.push(feed::spawn(
                feed::Feed {
                    lane: index,
                    label: model.label.clone(),
                    model: model.name.clone(),
                    params: model.params.clone(),
                    samples: model.samples,
                    prompts: self.prompts.clone(),
                    limit: self.num_prompts,
                    done: done.clone(),
                    counters: counters.clone(),
                    max_per_call,
                    packing: embed::Packing::of(model),
                },
                items_tx,
            ));
            starts.push(items_rx);
        }
        let coordinator = match &self.queue {
            Some(queue) => Some(queue.open(&manifest.run_id, &self.models, &done).await),
            None => None,
        };
        let writer = write::spawn(journal, tally, manifest.run_id.clone(), infos, outcomes_rx);
        self.notice(Notice::Running);

        let mut stops = Vec::new();
        let mut tasks = Vec::new();
        for (index, items) in starts.into_iter().enumerate() {
            let start = spawn::Start {
                index,
                model: &self.models[index],
                budget: budget.clone(),
                items,
                outcomes: outcomes_tx.clone(),
                done: done.clone(),
                events: events.clone(),
            };
            let (task, stop) = match (&batches, &coordinator) {
                (Some(shared), _) if self.models[index].batch.is_some() => {
                    let (task, stop) = spawn::batch(start, shared);
                    (task, stop.into_iter().collect())
                }
                (_, Some(coordinator)) => {
                    (coordinator.lane(start, self.stop.subscribe()), Vec::new())
                }
                _ => spawn::live(start),
            };
            stops.extend(stop);
            tasks.push(task);
        }
        drop(outcomes_tx);
        let mut stop = self.stop.subscribe();
        let stopper = tokio::spawn(async move {
            if let Ok(message) = stop.wait_for(Option::is_some).await {
                let message = message.clone().unwrap_or_default();
                for lane in &stops {
                    lane.stop(message.clone());
                }
            }
        });
        let mut ended = Vec::new();
        for task in tasks {
            ended.push(task.await.map_err(|_| BatchError::Panicked("a lane"))?);
        }
        stopper.abort();
        if let Some(coordinator) = coordinator {
            coordinator.finish(self.stop.borrow().is_none()).await;
        }
        let (journal, tally) = writer
            .join()
            .map_err(|_| BatchError::Panicked("the journal writer"))?
            .map_err(|source| JournalError::Io {
                doing: "write",
                path: self.output.join(RESULTS_FILE),
                source,
            })?;
        drop(journal);
        for feeder in feeders {
            let _ = feeder.join();
        }
        self.report(&manifest, resumed, tally, &ended)
    }

    /// The budget over the whole run: what earlier sessions of this folder billed counts,
    /// the failures `--retry-failed` moved aside included.
    fn open_budget(&self, tally: &Tally) -> Result<Option<Arc<Budget>>, BatchError> {
        let (usd, tokens) = self.budget;
        if usd.is_none() && tokens.is_none() {
            return Ok(None);
        }
        let moved = Tally::read(&self.output.join(RETRIED_FAILURES_FILE))?;
        let (spent_tokens, spent_usd) = tally.spent();
        let (moved_tokens, moved_usd) = moved.spent();
        let spent = Spending {
            usd: spent_usd + moved_usd,
            tokens: spent_tokens + moved_tokens,
        };
        Ok(Some(Budget::new(usd, tokens, spent)))
    }
}
