//! A batch's lines: made from what a client sent, their fates drawn, and answered when the
//! results are read, with the live endpoints' own checks and renderers but none of their
//! limits, latency, faults or counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use hyper::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use super::clock::Timeline;
use super::draw::{self, Fate};
use super::store::{Api, Batch};
use crate::complete::Rendered;
use crate::handler::Shared;
use crate::respond::{self, Reply};

/// One line of a batch, as sent, with its fate.
#[derive(Debug)]
pub(crate) struct Line {
    /// Its `custom_id` (Gemini: its index).
    pub(crate) key: String,
    /// Its request body, as the live endpoint takes it.
    pub(crate) body: Vec<u8>,
    /// What Gemini echoes with its result.
    pub(crate) metadata: Option<Value>,
    /// What becomes of it.
    pub(crate) fate: Fate,
}

/// A line as a client sent it, checked, before its fate is drawn.
#[derive(Debug)]
pub(crate) struct Sent {
    /// Its `custom_id`, or its index where the API has none: what its draws are keyed by.
    pub(crate) key: String,
    /// Its request body.
    pub(crate) body: Vec<u8>,
    /// What Gemini echoes with its result.
    pub(crate) metadata: Option<Value>,
    /// Its model and tokens when the live endpoint would take it; `None` when it would
    /// refuse it.
    pub(crate) cost: Option<(String, u64)>,
}

/// What one line came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The live endpoint's reply body.
    Answered(Value),
    /// An error: the status and the body the live endpoint gives for it.
    Errored(StatusCode, Value),
    /// Not processed before the window ended.
    Expired,
    /// Not processed: the batch was cancelled.
    Cancelled,
}

impl Batch {
    /// A batch of `sent` created now, numbered `number`, its id `id` (which keys its
    /// draws): the fates drawn, the tokens it enqueues summed by model, and a block of reply
    /// ids taken for its lines.
    pub(crate) fn new(shared: &Shared, number: u64, id: &str, sent: Vec<Sent>, api: Api) -> Batch {
        let config = &shared.config;
        let mut queue: BTreeMap<String, u64> = BTreeMap::new();
        let lines: Vec<Line> = sent
            .into_iter()
            .map(|s| {
                if let Some((model, tokens)) = &s.cost {
                    *queue.entry(model.clone()).or_default() += tokens;
                }
                let fate = draw::fate(&config.batch, config.seed, id, &s.key, s.cost.is_some());
                Line {
                    key: s.key,
                    body: s.body,
                    metadata: s.metadata,
                    fate,
                }
            })
            .collect();
        let first_reply = shared.next_id.fetch_add(lines.len() as u64, Relaxed);
        Batch {
            number,
            timeline: Timeline::new(Instant::now(), config.batch.processing),
            lines: lines.into(),
            queue: queue.into_iter().collect::<Vec<_>>().into(),
            first_reply,
            api,
            settled: false,
        }
    }

    /// A batch numbered `number` refused at its creation: no lines, ended at once.
    pub(crate) fn failed(number: u64, api: Api) -> Batch {
        Batch {
            number,
            timeline: Timeline::failed(Instant::now()),
            lines: Arc::new([]),
            queue: Arc::new([]),
            first_reply: 0,
            api,
            settled: false,
        }
    }

    /// The indices of its lines in the order its results list them: shuffled, so that
    /// clients must match by `custom_id`.
    pub(crate) fn shuffled(&self, seed: u64, id: &str) -> Vec<usize> {
        draw::shuffled(seed, id, self.lines.len())
    }

    /// What line `i` came to, in a batch `cancelled` or not: `answer` renders a body the
    /// live endpoint takes (or gives its refusal), as reply `id`; `failure` is the API's
    /// server error.
    pub(crate) fn outcome(
        &self,
        i: usize,
        cancelled: bool,
        answer: impl Fn(&[u8], u64) -> Result<Rendered, Box<Reply>>,
        failure: impl Fn() -> Reply,
    ) -> Outcome {
        let line = &self.lines[i];
        if cancelled {
            return Outcome::Cancelled;
        }
        match line.fate {
            Fate::Expired => Outcome::Expired,
            Fate::Failed => errored(failure()),
            Fate::Answered | Fate::Refused => match answer(&line.body, self.first_reply + i as u64)
            {
                Ok(rendered) => Outcome::Answered(json(&rendered.body)),
                Err(reply) => errored(*reply),
            },
        }
    }
}

/// An error reply as an outcome.
fn errored(reply: Reply) -> Outcome {
    let (status, body) = respond::into_parts(reply);
    Outcome::Errored(status, json(&body))
}

/// `body` as JSON: the mock's own replies always are.
fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}
