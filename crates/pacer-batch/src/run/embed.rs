//! Embedding lanes: prompts packed into requests, many texts a request (up to the
//! provider's limits and the model's `embed_batch`), so that a run spends far fewer requests
//! than prompts; and each pack's reply shared back out, one record per prompt.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use pacer_core::{Params, Provider, Request, Usage};
use pacer_engine::WorkItem;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::feed::{Feed, Job};
use crate::Prompt;

/// How an embedding model's prompts are sent and where their vectors go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedSettings {
    /// The most texts one request carries (the provider's own limit applies too).
    pub batch: usize,
    /// Vectors to the binary side file `embeddings.f32` (little-endian f32, one vector after
    /// another), each record holding its place (`embedding_index`), instead of the JSON
    /// text of the vector in the record.
    pub side_file: bool,
}

impl Default for EmbedSettings {
    fn default() -> Self {
        Self {
            batch: 100,
            side_file: false,
        }
    }
}

/// One prompt's part of a packed request.
#[derive(Debug)]
pub(crate) struct Member {
    /// The prompt's id.
    pub prompt_id: String,
    /// Its metadata.
    pub metadata: Arc<Map<String, Value>>,
    /// How many of the request's texts are its own (one, or its `input` list).
    pub texts: usize,
    /// Its texts' estimated tokens: its share of the request's bill.
    pub tokens: u64,
}

/// The request being filled.
#[derive(Default)]
struct Pack {
    inputs: Vec<String>,
    members: Vec<Member>,
    tokens: u64,
    params: Option<Params>,
}

/// What bounds a pack.
pub(crate) struct Packing {
    /// The model's settings.
    pub settings: EmbedSettings,
    /// The provider, for its limits and token counts.
    pub provider: Arc<dyn Provider>,
}

/// Streams the prompts an embedding model takes, packed, into `tx`; false when the lane
/// no longer listens.
pub(crate) fn send_packs(
    feed: &Feed,
    packing: &Packing,
    prompts: impl Iterator<Item = Prompt>,
    tx: &mpsc::Sender<WorkItem<Job>>,
) -> bool {
    // A provider without embeddings was refused before the run started.
    let (max_inputs, max_tokens) = packing.provider.embedding_limits().unwrap_or((1, u64::MAX));
    let max_inputs = max_inputs.min(packing.settings.batch).max(1);
    let mut pack = Pack::default();
    for prompt in prompts {
        let Some(texts) = prompt
            .embed_texts()
            .map(|texts| texts.into_iter().map(str::to_owned).collect::<Vec<_>>())
        else {
            continue;
        };
        if feed.done.contains(&feed.label, &prompt.id, 0) {
            feed.counters.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let tokens: u64 = texts
            .iter()
            .map(|text| {
                let one = Request::embedding(&feed.model, vec![text.clone()]);
                packing.provider.estimate_input_tokens(&one)
            })
            .sum();
        let fits = pack.inputs.len() + texts.len() <= max_inputs
            && pack.tokens + tokens <= max_tokens
            && pack.params.as_ref() == prompt.params.as_ref();
        if !pack.members.is_empty() && !fits && !send(feed, std::mem::take(&mut pack), tx) {
            return false;
        }
        let count = texts.len();
        pack.inputs.extend(texts);
        pack.tokens += tokens;
        pack.params = prompt.params.clone();
        pack.members.push(Member {
            prompt_id: prompt.id,
            metadata: Arc::new(prompt.metadata),
            texts: count,
            tokens,
        });
    }
    pack.members.is_empty() || send(feed, pack, tx)
}

/// Sends one pack as a work item; false when the lane no longer listens.
fn send(feed: &Feed, pack: Pack, tx: &mpsc::Sender<WorkItem<Job>>) -> bool {
    let mut request =
        super::feed::request(&feed.model, &feed.params, Vec::new(), pack.params.as_ref());
    request.inputs = pack.inputs;
    let first = &pack.members[0];
    let id = match pack.members.len() {
        1 => first.prompt_id.clone(),
        n => format!("{}+{}", first.prompt_id, n - 1),
    };
    let job = Job {
        lane: feed.lane,
        prompt_id: first.prompt_id.clone(),
        samples: vec![0],
        metadata: first.metadata.clone(),
        batch_id: None,
        pack: pack.members,
    };
    tx.blocking_send(WorkItem::prompt(id, request, job)).is_ok()
}

/// Member `i`'s share of `usage`, by the members' token weights; the shares add up to
/// `usage` exactly (the remainders go to the first members).
pub(crate) fn share(usage: &Usage, members: &[Member], i: usize) -> Usage {
    let weights: Vec<u64> = members.iter().map(|m| m.tokens.max(1)).collect();
    let total: u64 = weights.iter().sum();
    let part = |amount: u64| {
        let exact: Vec<u64> = weights
            .iter()
            .map(|w| (u128::from(amount) * u128::from(*w) / u128::from(total)) as u64)
            .collect();
        let left = amount - exact.iter().sum::<u64>();
        exact[i] + u64::from((i as u64) < left)
    };
    Usage {
        input_tokens: part(usage.input_tokens),
        output_tokens: part(usage.output_tokens),
        reasoning_tokens: part(usage.reasoning_tokens),
        cached_input_tokens: part(usage.cached_input_tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(tokens: u64) -> Member {
        Member {
            prompt_id: String::new(),
            metadata: Arc::default(),
            texts: 1,
            tokens,
        }
    }

    #[test]
    fn shares_follow_the_token_weights_and_add_up() {
        let members = [member(10), member(30), member(7)];
        let usage = Usage {
            input_tokens: 50,
            ..Usage::default()
        };
        let shares: Vec<u64> = (0..3)
            .map(|i| share(&usage, &members, i).input_tokens)
            .collect();
        assert_eq!(shares.iter().sum::<u64>(), 50);
        assert_eq!(shares, vec![11, 32, 7]);
    }
}
