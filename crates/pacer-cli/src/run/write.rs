//! The journal writer: one thread turning outcomes into records and appending them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use pacer_batch::{Journal, Record, RecordError, RecordStatus, TokenCounts, sampling_params};
use pacer_core::FinishReason;
use pacer_engine::Outcome;
use tokio::sync::mpsc;

use super::feed::Job;
use crate::progress::LaneCounters;

/// What the writer knows of each lane.
pub struct LaneInfo {
    /// The model's label.
    pub label: String,
    /// The model's name.
    pub model: String,
    /// The provider's short name.
    pub provider: &'static str,
    /// Progress counters.
    pub counters: Arc<LaneCounters>,
}

/// Appends every outcome from `rx` to `journal` until all senders are gone; returns the
/// journal, or the first write error (after which nothing more is written, so the journal
/// holds only whole records).
pub fn spawn(
    mut journal: Journal,
    run_id: String,
    lanes: Vec<LaneInfo>,
    mut rx: mpsc::Receiver<Outcome<Job>>,
) -> std::thread::JoinHandle<std::io::Result<Journal>> {
    std::thread::spawn(move || {
        while let Some(outcome) = rx.blocking_recv() {
            let lane = &lanes[outcome.context.lane];
            let record = record(&run_id, lane, outcome);
            let counters = &lane.counters;
            counters.done.fetch_add(1, Ordering::Relaxed);
            counters.failed.fetch_add(
                u64::from(record.status == RecordStatus::Error),
                Ordering::Relaxed,
            );
            counters
                .tokens
                .fetch_add(record.usage_all_attempts.total, Ordering::Relaxed);
            journal.append(&record)?;
        }
        journal.sync()?;
        Ok(journal)
    })
}

/// The record of one outcome.
pub fn record(run_id: &str, lane: &LaneInfo, outcome: Outcome<Job>) -> Record {
    let job = outcome.context;
    let sampling = outcome
        .request
        .as_ref()
        .map(|r| sampling_params(&r.params))
        .unwrap_or_default();
    let metadata = Arc::try_unwrap(job.metadata).unwrap_or_else(|shared| (*shared).clone());
    let mut record = Record {
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
        sample: job.sample,
        status: RecordStatus::Ok,
        finish_reason: None,
        truncated: false,
        attempts: outcome.attempts,
        usage_all_attempts: outcome.usage_all_attempts.into(),
        cost_usd: None,
    };
    match outcome.result {
        Ok(response) => {
            record.model_version = response.model_version;
            record.tokens_used = response.usage.into();
            if let Some(choice) = response.choices.into_iter().next() {
                record.truncated = choice.finish_reason == FinishReason::Length;
                record.finish_reason = Some(choice.finish_reason);
                record.full_response = Some(choice.text);
                record.token_logprobs = choice.logprobs;
            }
        }
        Err(error) => {
            record.status = RecordStatus::Error;
            record.tokens_used = error.usage.map(Into::into).unwrap_or_default();
            record.error = Some(RecordError::from(&error));
        }
    }
    record
}
