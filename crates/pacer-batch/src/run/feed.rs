//! Job expansion: a lane's own cursor over the prompts, streamed on a thread of its own,
//! turned into one work item per sample not yet done.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pacer_core::{Message, Params, Request};
use pacer_engine::WorkItem;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::LaneCounters;
use super::embed::{self, Member, Packing};
use crate::{Done, Prompt, PromptReader};

/// What a work item carries to its record.
#[derive(Debug)]
pub(crate) struct Job {
    /// The lane's index in the run.
    pub lane: usize,
    /// The prompt's id.
    pub prompt_id: String,
    /// The samples this call answers, from 0: one, or several sent as one call with `n`.
    pub samples: Vec<u32>,
    /// The prompt's metadata, shared by its samples.
    pub metadata: Arc<Map<String, Value>>,
    /// The provider's id of the batch that answered it (batch mode).
    pub batch_id: Option<String>,
    /// The prompts of a packed embedding request, in the order of its texts (the first is
    /// the one named above); empty for every other job.
    pub pack: Vec<Member>,
    /// For a job run by a worker: tells the coordinator its records are written.
    pub receipt: Option<crate::queue::coordinator::Receipt>,
    /// The deployment that took it, for a model with several.
    pub deployment: Option<Arc<super::model::Deployed>>,
}

/// Everything a feeder needs.
pub(crate) struct Feed {
    /// The lane's index.
    pub lane: usize,
    /// The model's label.
    pub label: String,
    /// The model's name.
    pub model: String,
    /// The model's parameters.
    pub params: Params,
    /// Completions per prompt.
    pub samples: u32,
    /// The prompts file.
    pub prompts: PathBuf,
    /// Only the first N valid prompts.
    pub limit: Option<u64>,
    /// Jobs finished earlier.
    pub done: Arc<Done>,
    /// Progress counters.
    pub counters: Arc<LaneCounters>,
    /// The most samples one call may ask for (`n`).
    pub max_per_call: u32,
    /// For an embedding model: how its prompts are packed into requests.
    pub packing: Option<Packing>,
}

/// Streams `feed`'s jobs into `tx` from a thread of its own; returns when the input is read
/// or the lane has stopped taking work.
pub(crate) fn spawn(feed: Feed, tx: mpsc::Sender<WorkItem<Job>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(reader) = PromptReader::open(&feed.prompts) else {
            // The scan before the run opened the same file; a failure now ends this lane's
            // input, and its jobs stay pending for a resume.
            return;
        };
        // Invalid prompts were reported (or recorded, with --skip-invalid) by the scan.
        let prompts = reader.with_limit(feed.limit).filter_map(Result::ok);
        if let Some(packing) = &feed.packing {
            embed::send_packs(&feed, packing, prompts, &tx);
            return;
        }
        for prompt in prompts.filter(Prompt::for_chat) {
            if !send_samples(&feed, prompt, &tx) {
                return;
            }
        }
    })
}

/// Sends the samples of `prompt` not done yet; false when the lane no longer listens.
fn send_samples(feed: &Feed, prompt: Prompt, tx: &mpsc::Sender<WorkItem<Job>>) -> bool {
    let metadata = Arc::new(prompt.metadata);
    let request = request(
        &feed.model,
        &feed.params,
        prompt.messages,
        prompt.params.as_ref(),
    );
    let pending: Vec<u32> = (0..feed.samples)
        .filter(|sample| {
            let done = feed.done.contains(&feed.label, &prompt.id, *sample);
            if done {
                feed.counters.skipped.fetch_add(1, Ordering::Relaxed);
            }
            !done
        })
        .collect();
    // Samples go out `n` at a time where the model allows it, one by one where it does not.
    for samples in pending.chunks(feed.max_per_call.max(1) as usize) {
        let mut request = request.clone();
        request.params.n = samples.len() as u32;
        let job = Job {
            lane: feed.lane,
            prompt_id: prompt.id.clone(),
            samples: samples.to_vec(),
            metadata: metadata.clone(),
            batch_id: None,
            deployment: None,
            pack: Vec::new(),
            receipt: None,
        };
        let item = WorkItem::prompt(prompt.id.clone(), request, job);
        if tx.blocking_send(item).is_err() {
            return false;
        }
    }
    true
}

/// The request a prompt's `messages` make on `model`, with the prompt's own parameters (from
/// an OpenAI batch line) over the model's `params`.
pub fn request(
    model: &str,
    params: &Params,
    messages: Vec<Message>,
    own: Option<&Params>,
) -> Request {
    let mut params = params.clone();
    if let Some(own) = own {
        merge(&mut params, own);
    }
    Request {
        model: model.to_owned(),
        messages,
        params,
        inputs: Vec::new(),
    }
}

/// Applies a prompt's own parameters (from an OpenAI batch line) over the model's.
fn merge(params: &mut Params, overrides: &Params) {
    if overrides.temperature.is_some() {
        params.temperature = overrides.temperature;
    }
    if overrides.top_p.is_some() {
        params.top_p = overrides.top_p;
    }
    if overrides.max_tokens.is_some() {
        params.max_tokens = overrides.max_tokens;
    }
    if overrides.seed.is_some() {
        params.seed = overrides.seed;
    }
    if !overrides.stop.is_empty() {
        params.stop = overrides.stop.clone();
    }
    for (key, value) in &overrides.extra {
        params.extra.insert(key.clone(), value.clone());
    }
    if !overrides.tools.is_empty() {
        params.tools = overrides.tools.clone();
    }
    if overrides.tool_choice.is_some() {
        params.tool_choice = overrides.tool_choice.clone();
    }
}
