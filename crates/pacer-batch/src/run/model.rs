//! What a batch is made of and how it is watched: its models, their progress counters, the
//! notices it gives as it opens its folder, and the handle that stops it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use pacer_core::{Params, Provider};
use pacer_engine::LaneConfig;

use super::BatchError;
use super::batched::{BatchProgress, BatchSettings};
use super::embed::EmbedSettings;
use tokio::sync::watch;

/// One model of a batch: its label (unique in the batch, written in each record), the name
/// sent to the provider, the provider, and how its lane works.
#[derive(Clone)]
pub struct BatchModel {
    /// The label records carry (and the lane's name).
    pub label: String,
    /// The model's name at the provider.
    pub name: String,
    /// Sends its requests.
    pub provider: Arc<dyn Provider>,
    /// Completions per prompt.
    pub samples: u32,
    /// Sampling parameters for every prompt (a prompt's own, from an OpenAI batch line, win).
    pub params: Params,
    /// How its lane paces, retries and checks (its `name` and `budget` are set by the
    /// batch).
    pub lane: LaneConfig,
    /// Through the provider's batch API instead of one request each, with these settings.
    pub batch: Option<BatchSettings>,
    /// An embedding model: its prompts' texts are embedded, many a request, with these
    /// settings (one sample each: an embedding is no draw).
    pub embed: Option<EmbedSettings>,
    /// Several deployments of the model (other keys, regions, base URLs), each a lane of
    /// its own taking the model's jobs as it has room, so that their limits add up. Empty:
    /// the model's own provider and lane.
    pub deployments: Vec<BatchDeployment>,
}

/// One deployment of a model: its provider and lane (limits, concurrency, price).
#[derive(Clone)]
pub struct BatchDeployment {
    /// Its id, written in the records it answers as `deployment`.
    pub id: String,
    /// The model's name at this deployment.
    pub name: String,
    /// Sends its requests.
    pub provider: Arc<dyn Provider>,
    /// How its lane paces, retries and checks (its `name` and `budget` are set by the
    /// batch).
    pub lane: LaneConfig,
}

/// The deployment that took a job, as its record tells it.
#[derive(Debug)]
pub(crate) struct Deployed {
    /// Its id.
    pub id: String,
    /// Its prices, for the record's cost.
    pub price: Option<pacer_core::Price>,
}

impl BatchModel {
    /// `name` on `provider`, labelled `name`, one sample, default parameters and lane.
    pub fn new(name: impl Into<String>, provider: Arc<dyn Provider>) -> Self {
        let name = name.into();
        Self {
            label: name.clone(),
            lane: LaneConfig::new(name.clone()),
            name,
            provider,
            samples: 1,
            params: Params::default(),
            batch: None,
            embed: None,
            deployments: Vec::new(),
        }
    }

    /// Makes it an embedding model: its prompts' texts are embedded, packed many a request.
    pub fn embed(mut self, settings: EmbedSettings) -> Self {
        self.embed = Some(settings);
        self.samples = 1;
        self
    }

    /// Sends its jobs through the provider's batch API (half price, within a day).
    pub fn batch(mut self, settings: BatchSettings) -> Self {
        self.batch = Some(settings);
        self
    }

    /// Sets the label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the completions per prompt.
    pub fn samples(mut self, samples: u32) -> Self {
        self.samples = samples.max(1);
        self
    }
}

/// What a run counts as it goes, per model, for a progress display.
#[derive(Debug, Default)]
pub struct LaneCounters {
    /// Jobs of this model in the whole run.
    pub total: AtomicU64,
    /// Jobs finished earlier (skipped on resume).
    pub skipped: AtomicU64,
    /// Jobs finished in this session.
    pub done: AtomicU64,
    /// Of those, failed.
    pub failed: AtomicU64,
    /// Tokens over all attempts.
    pub tokens: AtomicU64,
}

/// Something a person may want to know as the run opens its folder.
#[derive(Debug)]
pub enum Notice<'a> {
    /// A torn last line left by an interrupted run was dropped; its job runs again.
    TornLineDropped {
        /// Its size.
        bytes: u64,
        /// Its line number.
        line: u64,
    },
    /// `--fresh`: the earlier results were moved here.
    MovedAside(&'a Path),
    /// Resuming: these jobs are done already.
    Resuming {
        /// Jobs done.
        done: usize,
        /// Of which succeeded.
        succeeded: u64,
        /// Of which failed.
        failed: u64,
    },
    /// Invalid prompts were skipped and listed in this file.
    SkippedInvalid {
        /// How many.
        count: usize,
        /// Where they are listed.
        listed_in: &'a Path,
    },
    /// The folder is open and the lanes start: the last notice before the lanes' own (a
    /// progress display can start now without the notices above crossing it).
    Running,
    /// Prompts that no model of the run takes (an embedding line with no embedding model, a
    /// chat line or a conversation with no chat model): they get no record.
    Untaken {
        /// How many.
        count: u64,
    },
    /// A batch was built, submitted, or moved on at the provider (batch mode).
    Batch(&'a BatchProgress),
}

/// Stops a running batch from outside (e.g. on Ctrl-C): nothing new is sent, what is in
/// flight is abandoned and stays pending for a resume.
#[derive(Clone, Debug)]
pub struct Stopper(pub(super) Arc<watch::Sender<Option<String>>>);

impl Stopper {
    /// Stops the run with `message` as every lane's reason.
    pub fn stop(&self, message: impl Into<String>) {
        let message = message.into();
        self.0.send_if_modified(|current| {
            current.is_none() && {
                *current = Some(message);
                true
            }
        });
    }
}

impl super::Batch {
    /// Refuses models that cannot run as configured.
    pub(super) fn check_models(&self) -> Result<(), BatchError> {
        for (i, model) in self.models.iter().enumerate() {
            if self.models[..i].iter().any(|m| m.label == model.label) {
                return Err(BatchError::DuplicateLabel(model.label.clone()));
            }
            if self.budget.0.is_some() && model.lane.price.is_none() {
                return Err(BatchError::NoPrice(model.label.clone()));
            }
            if model.embed.is_some() && model.provider.embedding_limits().is_none() {
                return Err(BatchError::NoEmbeddings {
                    label: model.label.clone(),
                    provider: model.provider.kind(),
                });
            }
            if !model.deployments.is_empty() {
                let why = if model.batch.is_some() {
                    Some(
                        "batch mode sends through one batch API: set `mode = \"live\"` on it, or list one deployment",
                    )
                } else if model.embed.is_some() {
                    Some("an embedding model runs on one: list one deployment")
                } else if self.queue.is_some() {
                    Some("a run with workers (--redis) runs each model on one: list one deployment")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(BatchError::Deployments {
                        label: model.label.clone(),
                        why,
                    });
                }
                if self.budget.0.is_some()
                    && model.deployments.iter().any(|d| d.lane.price.is_none())
                {
                    return Err(BatchError::NoPrice(model.label.clone()));
                }
            }
            if model.batch.is_some() && model.embed.is_some() {
                return Err(BatchError::EmbeddingBatch(model.label.clone()));
            }
            if model.batch.is_some() && model.provider.batch_api().is_none() {
                return Err(BatchError::NoBatchApi {
                    label: model.label.clone(),
                    provider: model.provider.kind(),
                });
            }
        }
        Ok(())
    }
}
