//! The journal writer: one thread turning outcomes into records and appending them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use pacer_core::{Choice, ErrorKind, FinishReason, Price, ProviderError, Usage};
use pacer_engine::Outcome;
use tokio::sync::mpsc;

use super::LaneCounters;
use super::feed::Job;
use super::vectors::{SideFile, pack_records};
use crate::{
    Journal, Record, RecordError, RecordStatus, SendMode, Tally, TokenCounts, UsageTotals,
    sampling_params,
};

/// The most records written at once.
const MAX_BATCH: usize = 512;

/// What the writer knows of each lane.
pub(crate) struct LaneInfo {
    /// The model's label.
    pub label: String,
    /// The model's name.
    pub model: String,
    /// The provider's short name.
    pub provider: &'static str,
    /// The model's prices, for each record's cost.
    pub price: Option<Price>,
    /// Its prices in batch mode, for the records of batches.
    pub batch_price: Option<Price>,
    /// Progress counters.
    pub counters: Arc<LaneCounters>,
    /// Whether its vectors go to the side file.
    pub side_file: bool,
}

/// Appends every outcome from `rx` to `journal`, counting each record in `tally`, until all
/// senders are gone; returns the journal and the tally, or the first write error (after which nothing more is written, so the journal
/// holds only whole records).
pub(crate) fn spawn(
    mut journal: Journal,
    mut tally: Tally,
    run_id: String,
    lanes: Vec<LaneInfo>,
    mut rx: mpsc::Receiver<Outcome<Job>>,
) -> std::thread::JoinHandle<std::io::Result<(Journal, Tally)>> {
    std::thread::spawn(move || {
        let mut batch = Vec::new();
        let mut receipts = Vec::new();
        let mut side: Option<SideFile> = None;
        let journal_dir = journal
            .path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        while let Some(first) = rx.blocking_recv() {
            // Whatever else is already queued goes out in the same write.
            let mut next = Some(first);
            while let Some(mut outcome) = next {
                receipts.extend(outcome.context.receipt.take());
                let lane = &lanes[outcome.context.lane];
                for mut record in records(&run_id, lane, outcome) {
                    if lane.side_file && record.embedding.is_some() {
                        let side = match &mut side {
                            Some(side) => side,
                            None => side.insert(SideFile::open(&journal_dir)?),
                        };
                        side.keep(&mut record)?;
                    }
                    let counters = &lane.counters;
                    counters.done.fetch_add(1, Ordering::Relaxed);
                    counters.failed.fetch_add(
                        u64::from(record.status == RecordStatus::Error),
                        Ordering::Relaxed,
                    );
                    counters
                        .tokens
                        .fetch_add(record.usage_all_attempts.total, Ordering::Relaxed);
                    tally.add(&record);
                    batch.push(record);
                }
                next = if batch.len() < MAX_BATCH {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            if let Some(side) = &mut side {
                side.flush()?;
            }
            journal.append_all(&batch)?;
            batch.clear();
            // Only now may a worker's job and result leave Redis.
            for receipt in receipts.drain(..) {
                receipt.written();
            }
        }
        journal.sync()?;
        Ok((journal, tally))
    })
}

/// The records of one outcome: one per sample it answers. A call that asked for `n`
/// completions gives choice `i` to its `i`-th sample and shares the tokens billed evenly, so
/// the records' tokens add up to the bill.
pub(crate) fn records(run_id: &str, lane: &LaneInfo, outcome: Outcome<Job>) -> Vec<Record> {
    let mut job = outcome.context;
    let pack = std::mem::take(&mut job.pack);
    let count = job.samples.len().max(1);
    let mut sampling = outcome
        .request
        .as_ref()
        .map(|r| sampling_params(&r.params))
        .unwrap_or_default();
    // Each record is one completion, whether or not its call asked for several.
    sampling.remove("n");
    let metadata = Arc::try_unwrap(job.metadata).unwrap_or_else(|shared| (*shared).clone());
    let (mode, price) = match (&job.batch_id, &job.deployment) {
        (Some(_), _) => (SendMode::Batch, lane.batch_price),
        (None, Some(deployed)) => (SendMode::Live, deployed.price),
        (None, None) => (SendMode::Live, lane.price),
    };
    let template = Record {
        run_id: run_id.to_string(),
        prompt_id: job.prompt_id,
        model: lane.model.clone(),
        model_version: None,
        full_response: None,
        tokens_used: TokenCounts::default(),
        token_logprobs: None,
        sampling_params: sampling,
        timestamp: DateTime::<Utc>::from(outcome.finished_at),
        elapsed_seconds: outcome.elapsed.as_secs_f64(),
        error: None,
        retry_count: outcome.attempts.saturating_sub(1),
        metadata,
        provider: lane.provider.to_string(),
        label: lane.label.clone(),
        sample: 0,
        status: RecordStatus::Ok,
        finish_reason: None,
        truncated: false,
        parsed: None,
        attempts: outcome.attempts,
        latency_seconds: outcome.latency.map(|d| d.as_secs_f64()),
        queue_seconds: job
            .batch_id
            .is_none()
            .then_some(outcome.queued.as_secs_f64()),
        first_token_seconds: outcome
            .result
            .as_ref()
            .ok()
            .and_then(|r| r.first_token)
            .map(|d| d.as_secs_f64()),
        usage_all_attempts: UsageTotals::default(),
        cost_usd: None,
        mode,
        batch_id: job.batch_id,
        deployment: job.deployment.as_ref().map(|d| d.id.clone()),
        tool_calls: None,
        embedding: None,
        embedding_index: None,
    };
    if !pack.is_empty() {
        return pack_records(
            template,
            &pack,
            outcome.result,
            &outcome.usage_all_attempts,
            price,
        );
    }
    let mut result = outcome.result;
    let mut choices: Vec<Option<Choice>> = match &mut result {
        Ok(response) => std::mem::take(&mut response.choices)
            .into_iter()
            .map(Some)
            .collect(),
        Err(_) => Vec::new(),
    };
    let received = choices.len();
    choices.resize(count, None);
    let mut template = Some(template);
    job.samples
        .iter()
        .zip(choices)
        .enumerate()
        .map(|(i, (sample, choice))| {
            // The last record takes the template itself: no copy for the usual one sample.
            let mut record = if i + 1 == count {
                template.take().expect("one template per outcome")
            } else {
                template.clone().expect("one template per outcome")
            };
            record.sample = *sample;
            let billed = share(&outcome.usage_all_attempts, count, i);
            record.usage_all_attempts = billed.into();
            record.cost_usd = price.map(|price| price.cost(&billed));
            match (&result, choice) {
                (Ok(response), Some(choice)) => {
                    record.model_version = response.model_version.clone();
                    record.tokens_used = share(&response.usage, count, i).into();
                    record.truncated = choice.finish_reason == FinishReason::Length;
                    record.finish_reason = Some(choice.finish_reason);
                    record.full_response = Some(choice.text);
                    record.token_logprobs = choice.logprobs;
                    record.parsed = choice.parsed;
                    record.tool_calls =
                        (!choice.tool_calls.is_empty()).then_some(choice.tool_calls);
                }
                (Ok(response), None) => {
                    record.status = RecordStatus::Error;
                    record.model_version = response.model_version.clone();
                    record.tokens_used = share(&response.usage, count, i).into();
                    let error = ProviderError::new(
                        ErrorKind::InvalidResponse,
                        format!("asked for {count} completions, the reply had {received}"),
                    );
                    record.error = Some(RecordError::from(&error));
                }
                (Err(error), _) => {
                    record.status = RecordStatus::Error;
                    let billed = error.usage.unwrap_or_default();
                    record.tokens_used = share(&billed, count, i).into();
                    record.error = Some(RecordError::from(error));
                }
            }
            record
        })
        .collect()
}

/// Sample `i`'s share of `usage` split `count` ways, the remainders going to the first.
fn share(usage: &Usage, count: usize, i: usize) -> Usage {
    let part = |total: u64| {
        let count = count as u64;
        total / count + u64::from((i as u64) < total % count)
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

    #[test]
    fn shares_add_up_to_the_bill() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 7,
            reasoning_tokens: 0,
            cached_input_tokens: 1,
        };
        let parts: Vec<Usage> = (0..3).map(|i| share(&usage, 3, i)).collect();
        let mut sum = Usage::default();
        parts.iter().for_each(|p| sum.add(p));
        assert_eq!(sum, usage);
        assert_eq!(parts[0].input_tokens, 4);
        assert_eq!(parts[2].input_tokens, 3);
    }
}
