//! Helpers shared by the journal's tests: hand-built records, a journal written from them, and
//! reading one back.
//!
//! Each test module uses only part of it.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use chrono::Utc;
use pacer_batch::{Journal, OpenMode, Record, RecordError, RecordStatus, TokenCounts, UsageTotals};
use pacer_core::ErrorKind;
use serde_json::Map;

/// Resume, leaving failures done.
pub const RESUME: OpenMode = OpenMode::Resume {
    retry_failed: false,
};
/// Resume, rerunning failures.
pub const RETRY_FAILED: OpenMode = OpenMode::Resume { retry_failed: true };

/// A record for (`label`, `prompt_id`, `sample`) that succeeded or timed out.
pub fn record(label: &str, prompt_id: &str, sample: u32, ok: bool) -> Record {
    Record {
        run_id: "a1b2c3d4".into(),
        prompt_id: prompt_id.into(),
        model: format!("{label}-model"),
        model_version: None,
        full_response: ok.then(|| format!("answer to {prompt_id}")),
        tokens_used: TokenCounts::default(),
        token_logprobs: None,
        sampling_params: Map::new(),
        timestamp: Utc::now(),
        elapsed_seconds: 0.5,
        error: (!ok).then(|| RecordError {
            kind: ErrorKind::Timeout,
            status: None,
            message: "timed out".into(),
        }),
        retry_count: 0,
        metadata: Map::new(),
        provider: "mock".into(),
        label: label.into(),
        sample,
        status: if ok {
            RecordStatus::Ok
        } else {
            RecordStatus::Error
        },
        finish_reason: None,
        truncated: false,
        parsed: None,
        attempts: 1,
        latency_seconds: None,
        queue_seconds: None,
        first_token_seconds: None,
        usage_all_attempts: UsageTotals::default(),
        cost_usd: None,
        mode: pacer_batch::SendMode::Live,
        batch_id: None,
        deployment: None,
        embedding: None,
        embedding_index: None,
        tool_calls: None,
    }
}

/// Writes `records` to a new journal in `dir`.
pub fn write_journal(dir: &Path, records: &[Record]) {
    let (mut journal, done) = Journal::open(dir, OpenMode::New).unwrap();
    assert!(done.is_empty());
    for record in records {
        journal.append(record).unwrap();
    }
    journal.sync().unwrap();
}

/// Every line of `path`, read back as records.
pub fn read_records(path: &Path) -> Vec<Record> {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Each record's key, as text.
pub fn keys(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.key().to_string()).collect()
}
