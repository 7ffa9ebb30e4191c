//! Embedding lanes: prompts packed into requests, many texts a request (up to the
//! provider's limits and the model's `embed_batch`), so that a run spends far fewer requests
//! than prompts; and each pack's reply shared back out, one record per prompt.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use pacer_core::{EmbeddingLimits, Params, Provider, Request, Usage};
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
    /// Whether its texts are an `input` list: its record holds a list of vectors, even of one.
    pub list: bool,
    /// Its texts' estimated tokens: its share of the request's bill.
    pub tokens: u64,
}

/// Where a pack closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackLimits {
    /// The most texts a request.
    pub inputs: usize,
    /// The most tokens a request: the provider's cap, and the model's own token limits (a
    /// request over a per-minute limit could never be sent).
    pub tokens: u64,
    /// The most tokens of one text: a longer (or empty) text goes alone, so that its
    /// refusal is its own and not its pack's.
    pub input_tokens: u64,
}

impl PackLimits {
    /// The limits of `provider`'s embedding requests, `batch` texts at most, and at most
    /// `per_minute` tokens (the model's lowest token limit, when it has one).
    pub fn new(provider: &dyn Provider, batch: usize, per_minute: Option<u64>) -> Self {
        // A provider without embeddings is refused before the run starts; one text a request
        // is what it would be sent as.
        let api = provider.embedding_limits().unwrap_or(EmbeddingLimits {
            inputs: 1,
            tokens: u64::MAX,
            input_tokens: u64::MAX,
        });
        Self {
            inputs: api.inputs.min(batch).max(1),
            tokens: api.tokens.min(per_minute.unwrap_or(u64::MAX)),
            input_tokens: api.input_tokens,
        }
    }
}

/// A request being filled, and its prompts.
#[derive(Debug)]
pub struct Pack<T> {
    /// What stands for each prompt in it, in order.
    pub members: Vec<T>,
    /// Its texts, in order.
    pub inputs: Vec<String>,
    /// Their estimated tokens.
    pub tokens: u64,
    /// The prompts' own parameters (every prompt of a pack has the same).
    pub params: Option<Params>,
}

impl<T> Default for Pack<T> {
    fn default() -> Self {
        Self {
            members: Vec::new(),
            inputs: Vec::new(),
            tokens: 0,
            params: None,
        }
    }
}

/// Packs prompts into requests, in order: the one planner of packs, for a run and for
/// `pacer validate`'s count of its calls.
#[derive(Debug)]
pub struct Packer<T> {
    limits: PackLimits,
    open: Pack<T>,
}

impl<T> Packer<T> {
    /// An empty packer within `limits`.
    pub fn new(limits: PackLimits) -> Self {
        Self {
            limits,
            open: Pack::default(),
        }
    }

    /// Adds a prompt's `texts` (their estimated `tokens`, one each) with its own `params`;
    /// returns the packs this closes (none, one, or the one before and this prompt alone).
    pub fn add(
        &mut self,
        member: T,
        texts: Vec<String>,
        tokens: &[u64],
        params: Option<Params>,
    ) -> Vec<Pack<T>> {
        let total: u64 = tokens.iter().sum();
        let alone = texts.iter().any(|text| text.trim().is_empty())
            || tokens.iter().any(|t| *t > self.limits.input_tokens);
        let fits = self.open.inputs.len() + texts.len() <= self.limits.inputs
            && self.open.tokens + total <= self.limits.tokens
            && self.open.params == params;
        let mut closed = Vec::new();
        if !self.open.members.is_empty() && (alone || !fits) {
            closed.push(std::mem::take(&mut self.open));
        }
        self.open.members.push(member);
        self.open.inputs.extend(texts);
        self.open.tokens += total;
        self.open.params = params;
        if alone {
            closed.push(std::mem::take(&mut self.open));
        }
        closed
    }

    /// The last pack, if any prompt is in it.
    pub fn finish(self) -> Option<Pack<T>> {
        (!self.open.members.is_empty()).then_some(self.open)
    }
}

/// What bounds a lane's packs.
pub(crate) struct Packing {
    /// Where packs close.
    pub limits: PackLimits,
    /// The provider, for its token counts.
    pub provider: Arc<dyn Provider>,
}

impl Packing {
    /// How `model`'s prompts are packed, when it is an embedding model: within its
    /// provider's limits, its `embed_batch` and its lowest token limit.
    pub(crate) fn of(model: &super::BatchModel) -> Option<Self> {
        let settings = model.embed.as_ref()?;
        let limits = &model.lane.limits;
        let per_minute = [limits.tpm, limits.itpm].into_iter().flatten().min();
        Some(Self {
            limits: PackLimits::new(
                model.provider.as_ref(),
                settings.batch,
                per_minute.map(std::num::NonZeroU64::get),
            ),
            provider: model.provider.clone(),
        })
    }
}

/// Streams the prompts an embedding model takes, packed, into `tx`; false when the lane
/// no longer listens.
pub(crate) fn send_packs(
    feed: &Feed,
    packing: &Packing,
    prompts: impl Iterator<Item = Prompt>,
    tx: &mpsc::Sender<WorkItem<Job>>,
) -> bool {
    let mut packer = Packer::new(packing.limits);
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
        let tokens = text_tokens(packing.provider.as_ref(), &feed.model, &texts);
        let member = Member {
            list: !prompt.inputs.is_empty(),
            prompt_id: prompt.id,
            metadata: Arc::new(prompt.metadata),
            texts: texts.len(),
            tokens: tokens.iter().sum(),
        };
        for pack in packer.add(member, texts, &tokens, prompt.params) {
            if !send(feed, pack, tx) {
                return false;
            }
        }
    }
    packer.finish().is_none_or(|pack| send(feed, pack, tx))
}

/// Each text's estimated tokens on `provider`.
pub fn text_tokens(provider: &dyn Provider, model: &str, texts: &[String]) -> Vec<u64> {
    texts
        .iter()
        .map(|text| provider.estimate_input_tokens(&Request::embedding(model, vec![text.clone()])))
        .collect()
}

/// Sends one pack as a work item; false when the lane no longer listens.
fn send(feed: &Feed, pack: Pack<Member>, tx: &mpsc::Sender<WorkItem<Job>>) -> bool {
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
        deployment: None,
        pack: pack.members,
        receipt: None,
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
            list: false,
            tokens,
        }
    }

    #[test]
    fn packs_close_at_every_limit_and_long_texts_go_alone() {
        let limits = PackLimits {
            inputs: 3,
            tokens: 100,
            input_tokens: 40,
        };
        let mut packer = Packer::new(limits);
        let text = |n: usize| vec!["x".repeat(n); 1];
        let mut sizes = Vec::new();
        let mut add = |packer: &mut Packer<u32>, id, tokens: u64, params: Option<Params>| {
            for pack in packer.add(id, text(1), &[tokens], params) {
                sizes.push(pack.members);
            }
        };
        add(&mut packer, 1, 10, None);
        add(&mut packer, 2, 10, None);
        add(&mut packer, 3, 10, None);
        add(&mut packer, 4, 10, None); // a fourth text: a new pack
        add(&mut packer, 5, 35, None);
        add(&mut packer, 6, 35, None);
        add(&mut packer, 7, 35, None); // past 100 tokens: a new pack
        add(&mut packer, 8, 50, None); // longer than one text may be: alone
        let own = Params {
            temperature: Some(0.0),
            ..Params::default()
        };
        add(&mut packer, 9, 5, Some(own)); // other parameters: a new pack
        add(&mut packer, 10, 5, None);
        sizes.extend(packer.finish().map(|pack| pack.members));
        assert_eq!(
            sizes,
            vec![
                vec![1, 2, 3],
                vec![4, 5, 6],
                vec![7],
                vec![8],
                vec![9],
                vec![10]
            ]
        );
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
