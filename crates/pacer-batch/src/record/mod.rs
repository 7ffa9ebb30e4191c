//! The result record: one JSON line per (model label × prompt × sample) in `results.jsonl`.
//!
//! Seed 003's field names come first and keep their meaning, so the tools written for
//! `run_pilot.py` read Pacer's records as they are; Pacer's own fields follow the prompt's
//! metadata. A record never holds an API key or an auth header: nothing here carries one, and
//! error messages come from [`ProviderError`], whose providers must keep keys out of them.

use std::fmt;

use chrono::{DateTime, Utc};
use pacer_core::{ErrorKind, FinishReason, Params, ProviderError, TokenLogprob, ToolCall, Usage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The result of one job: what was sent, what came back, what it cost.
///
/// Serialized with its fields in a fixed order (see [`Record::FIELDS`]), the prompt's metadata
/// flattened between seed 003's fields and Pacer's. Reading a record back puts every field it
/// does not know into [`metadata`](Record::metadata).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Record {
    /// The run this record belongs to (8 hex characters, kept across resumes).
    pub run_id: String,
    /// The prompt's id, from the input.
    pub prompt_id: String,
    /// The model name sent to the provider.
    pub model: String,
    /// The exact model version that answered, when the provider says.
    pub model_version: Option<String>,
    /// The model's output; `None` when the job failed.
    pub full_response: Option<String>,
    /// Tokens of the final attempt.
    pub tokens_used: TokenCounts,
    /// Per-token log-probabilities, when asked for and offered.
    pub token_logprobs: Option<Vec<TokenLogprob>>,
    /// The sampling parameters that were sent (temperature, seed, max_tokens, top_p, stop…).
    pub sampling_params: Map<String, Value>,
    /// When the job finished; written as RFC 3339 UTC with microseconds.
    #[serde(deserialize_with = "deserialize_timestamp")]
    pub timestamp: DateTime<Utc>,
    /// Wall time of the job from its first attempt to its end: waits for capacity, retries
    /// and back-off included.
    pub elapsed_seconds: f64,
    /// Why the job failed; `None` when it succeeded.
    pub error: Option<RecordError>,
    /// Attempts beyond the first.
    pub retry_count: u32,
    /// The prompt's own fields (`prompt_category`, `is_synthetic_probe`, anything else).
    ///
    /// A key that is also a record field (a CSV column named `label`, say) is written as
    /// `prompt_<key>`, so that no line ever holds a field twice.
    #[serde(flatten)]
    pub metadata: Map<String, Value>,
    /// The provider that served the model (`openai`, `anthropic`, …).
    pub provider: String,
    /// The model's label in the config: the lane, and the first part of the job's key.
    pub label: String,
    /// Which sample of this prompt this is, from 0.
    pub sample: u32,
    /// Whether the job succeeded.
    pub status: RecordStatus,
    /// Why the model stopped writing, when it answered.
    pub finish_reason: Option<FinishReason>,
    /// Whether the output was cut off at `max_tokens`.
    pub truncated: bool,
    /// With an output schema (structured output): the output read as JSON, checked against
    /// the schema. `None` (written `null`) without a schema, and when the job failed.
    #[serde(default)]
    pub parsed: Option<Value>,
    /// The tools the model called, when it called any (written only then).
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// An embedding model's vector (a list of vectors for an `input` list), when the vectors
    /// are kept in the records (written only then).
    #[serde(default)]
    pub embedding: Option<Embedding>,
    /// Where the vectors are in the side file `embeddings.f32`, when they are kept there
    /// (written only then).
    #[serde(default)]
    pub embedding_index: Option<EmbeddingIndex>,
    /// Requests sent for this job, the last one included.
    pub attempts: u32,
    /// The successful attempt's time at the provider: the model's latency, without the wait
    /// for capacity or failed attempts. `None` when the job failed, and for a batch record.
    #[serde(default)]
    pub latency_seconds: Option<f64>,
    /// Of `elapsed_seconds`, the time spent waiting for capacity (the limiter, a cool-down),
    /// over every attempt. `None` for a batch record.
    #[serde(default)]
    pub queue_seconds: Option<f64>,
    /// When the reply was streamed (a local model): the time from sending to its first token
    /// (written only then).
    #[serde(default)]
    pub first_token_seconds: Option<f64>,
    /// Tokens billed over every attempt, failed ones included.
    pub usage_all_attempts: UsageTotals,
    /// What the job cost in US dollars, when the model's prices are known (at the batch
    /// price for a batch record).
    pub cost_usd: Option<f64>,
    /// How the job was sent: live, or in a provider's batch.
    #[serde(default)]
    pub mode: SendMode,
    /// The provider's id of the batch that answered, for a batch record.
    #[serde(default)]
    pub batch_id: Option<String>,
    /// The deployment that answered, for a model with several (written only then).
    #[serde(default)]
    pub deployment: Option<String>,
}

/// An embedding record's vectors: one for one text, a list for an `input` list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Embedding {
    /// The vector of the prompt's one text.
    One(Vec<f32>),
    /// The vectors of an `input` list, in its order.
    Many(Vec<Vec<f32>>),
}

impl Embedding {
    /// The vectors, in order.
    pub fn vectors(&self) -> Vec<&[f32]> {
        match self {
            Embedding::One(vector) => vec![vector.as_slice()],
            Embedding::Many(vectors) => vectors.iter().map(Vec::as_slice).collect(),
        }
    }
}

/// Where a record's vectors are in the side file: `count` vectors of `dimensions`
/// little-endian `f32`s each, one after another from byte `offset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingIndex {
    /// The side file, relative to the output folder (`embeddings.f32`).
    pub file: String,
    /// The byte at which the first vector starts.
    pub offset: u64,
    /// How many vectors.
    pub count: u32,
    /// Floats per vector.
    pub dimensions: u32,
}

/// How a job was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendMode {
    /// One request, answered at once.
    #[default]
    Live,
    /// A line of a provider's batch (half price, answered within a day).
    Batch,
}

/// Identifies one job: the unit that is done or not done in a journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobKey<'a> {
    /// The model's label.
    pub label: &'a str,
    /// The prompt's id.
    pub prompt_id: &'a str,
    /// The sample number, from 0.
    pub sample: u32,
}

impl fmt::Display for JobKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}#{}", self.label, self.prompt_id, self.sample)
    }
}

/// Whether a job succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordStatus {
    /// The model answered.
    Ok,
    /// The job failed; the record's `error` says why.
    Error,
}

impl RecordStatus {
    /// The status as written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Ok => "ok",
            RecordStatus::Error => "error",
        }
    }
}

/// Seed 003's `tokens_used`: input, output and their sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Prompt tokens.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
    /// Input plus output.
    pub total: u64,
}

impl TokenCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &TokenCounts) {
        self.input += other.input;
        self.output += other.output;
        self.total += other.total;
    }
}

impl From<Usage> for TokenCounts {
    fn from(usage: Usage) -> Self {
        Self {
            input: usage.input_tokens,
            output: usage.output_tokens,
            total: usage.total(),
        }
    }
}

/// Tokens billed over every attempt of a job, with the reasoning and cache detail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotals {
    /// Prompt tokens.
    pub input: u64,
    /// Completion tokens, reasoning included.
    pub output: u64,
    /// Input plus output.
    pub total: u64,
    /// Of the output tokens, those spent on hidden reasoning.
    #[serde(default)]
    pub reasoning: u64,
    /// Of the input tokens, those read from the provider's prompt cache.
    #[serde(default)]
    pub cached_input: u64,
}

impl From<Usage> for UsageTotals {
    fn from(usage: Usage) -> Self {
        Self {
            input: usage.input_tokens,
            output: usage.output_tokens,
            total: usage.total(),
            reasoning: usage.reasoning_tokens,
            cached_input: usage.cached_input_tokens,
        }
    }
}

/// Why a job failed, as written in its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// The classification.
    pub kind: ErrorKind,
    /// The HTTP status of the last attempt, when there was one.
    pub status: Option<u16>,
    /// What went wrong, in words (never a key: see [`ProviderError`]).
    pub message: String,
}

impl From<&ProviderError> for RecordError {
    fn from(err: &ProviderError) -> Self {
        Self {
            kind: err.kind,
            status: err.status,
            message: err.message.clone(),
        }
    }
}

impl Record {
    /// Every field name a record writes itself, in order; `metadata` goes after `retry_count`.
    pub const FIELDS: [&'static str; 31] = [
        "run_id",
        "prompt_id",
        "model",
        "model_version",
        "full_response",
        "tokens_used",
        "token_logprobs",
        "sampling_params",
        "timestamp",
        "elapsed_seconds",
        "error",
        "retry_count",
        "provider",
        "label",
        "sample",
        "status",
        "finish_reason",
        "truncated",
        "parsed",
        "tool_calls",
        "embedding",
        "embedding_index",
        "attempts",
        "latency_seconds",
        "queue_seconds",
        "first_token_seconds",
        "usage_all_attempts",
        "cost_usd",
        "mode",
        "batch_id",
        "deployment",
    ];

    /// The job this record is the result of.
    pub fn key(&self) -> JobKey<'_> {
        JobKey {
            label: &self.label,
            prompt_id: &self.prompt_id,
            sample: self.sample,
        }
    }
}

/// The `sampling_params` object for `params`: the fields that were set, with the
/// provider-specific `extra` ones merged in at the top level.
pub fn sampling_params(params: &Params) -> Map<String, Value> {
    let mut map = match serde_json::to_value(params) {
        Ok(Value::Object(map)) => map,
        // Params is a plain struct of JSON-safe fields, so this arm is never taken.
        Ok(_) | Err(_) => Map::new(),
    };
    if let Some(Value::Object(extra)) = map.remove("extra") {
        for (key, value) in extra {
            map.entry(key).or_insert(value);
        }
    }
    map
}

mod json;

use json::deserialize_timestamp;
pub(crate) use json::format_timestamp;

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            run_id: "a1b2c3d4".into(),
            prompt_id: "p1".into(),
            model: "m".into(),
            model_version: None,
            full_response: Some("hi".into()),
            tokens_used: TokenCounts::default(),
            token_logprobs: None,
            sampling_params: Map::new(),
            timestamp: DateTime::from_timestamp(1_800_000_000, 456_789_000).unwrap(),
            elapsed_seconds: 1.5,
            error: None,
            retry_count: 0,
            metadata: Map::new(),
            provider: "mock".into(),
            label: "m".into(),
            sample: 0,
            status: RecordStatus::Ok,
            finish_reason: Some(FinishReason::Stop),
            truncated: false,
            parsed: None,
            attempts: 1,
            latency_seconds: Some(1.25),
            queue_seconds: Some(0.25),
            first_token_seconds: None,
            usage_all_attempts: UsageTotals::default(),
            cost_usd: None,
            mode: SendMode::Live,
            batch_id: None,
            deployment: None,
            embedding: None,
            embedding_index: None,
            tool_calls: None,
        }
    }

    #[test]
    fn timestamp_has_microseconds_and_z() {
        let json = serde_json::to_value(record()).unwrap();
        assert_eq!(json["timestamp"], "2027-01-15T08:00:00.456789Z");
    }

    #[test]
    fn metadata_clashing_with_a_field_is_prefixed_and_reads_back() {
        let mut rec = record();
        rec.metadata.insert("label".into(), "positive".into());
        rec.metadata.insert("prompt_label".into(), "x".into());
        let line = serde_json::to_string(&rec).unwrap();
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back.label, "m");
        assert_eq!(back.metadata["prompt_prompt_label"], "positive");
        assert_eq!(back.metadata["prompt_label"], "x");
    }

    #[test]
    fn times_are_written_and_read_back_first_token_only_when_streamed() {
        let plain = serde_json::to_value(record()).unwrap();
        assert_eq!(plain["latency_seconds"], 1.25);
        assert_eq!(plain["queue_seconds"], 0.25);
        assert!(plain.get("first_token_seconds").is_none());
        let mut streamed = record();
        streamed.first_token_seconds = Some(0.5);
        let line = serde_json::to_string(&streamed).unwrap();
        assert!(
            line.contains(r#""queue_seconds":0.25,"first_token_seconds":0.5,"#),
            "{line}"
        );
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, streamed);
    }

    #[test]
    fn sampling_params_merges_extra() {
        let mut params = Params {
            temperature: Some(0.0),
            seed: Some(42),
            ..Params::default()
        };
        params.extra.insert("reasoning_effort".into(), "low".into());
        let map = sampling_params(&params);
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        assert_eq!(keys, ["temperature", "seed", "reasoning_effort"]);
    }

    #[test]
    fn sampling_params_leave_out_the_output_schema() {
        let params = Params {
            seed: Some(1),
            schema: Some(std::sync::Arc::new(serde_json::json!({"type": "object"}))),
            ..Params::default()
        };
        let map = sampling_params(&params);
        assert_eq!(map.keys().collect::<Vec<_>>(), ["seed"]);
    }

    #[test]
    fn seed_timestamps_without_offset_read_as_utc() {
        let mut json = serde_json::to_value(record()).unwrap();
        json["timestamp"] = "2025-11-12T10:01:23.456789".into();
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(
            format_timestamp(&back.timestamp),
            "2025-11-12T10:01:23.456789Z"
        );
    }
}
