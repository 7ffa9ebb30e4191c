//! The config file's shape: Pacer's own keys and seed 003's, as written.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The top level of a config file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Free text.
    pub description: Option<String>,
    /// The prompts (relative paths are taken from the config file's folder).
    pub prompts_file: Option<PathBuf>,
    /// Where results go (relative to the current folder).
    pub output_dir: Option<PathBuf>,
    /// Only the first N prompts.
    pub num_prompts: Option<u64>,
    /// Default seed for every model.
    pub seed: Option<u64>,
    /// Error retries per item.
    pub max_retries: Option<u32>,
    /// Default requests-per-minute limit for every model.
    pub requests_per_minute: Option<u64>,
    /// Default tokens-per-minute limit for every model.
    pub tokens_per_minute: Option<u64>,
    /// Known limits per model and usage tier (seed 001's `rate_config.json`), relative to
    /// this file's folder.
    pub limits_file: Option<PathBuf>,
    /// The usage tier to read from `limits_file`.
    pub tier: Option<Value>,
    /// Default concurrency per model.
    pub concurrency: Option<usize>,
    /// Default per-request timeout.
    pub timeout_secs: Option<f64>,
    /// Default `max_tokens`.
    pub max_tokens: Option<u32>,
    /// Stop dispatching before the run's cost would pass this many US dollars.
    pub budget_usd: Option<f64>,
    /// Stop dispatching before the run's tokens would pass this many.
    pub budget_tokens: Option<u64>,
    /// Default temperature per error retry, e.g. `[0.0, 0.25, 0.5]`.
    pub temperature_schedule: Option<Vec<f64>>,
    /// The models.
    #[serde(default)]
    pub models: Vec<ModelEntry>,
    /// A Redis server (`redis://host:6379`): `pacer run` becomes the coordinator of
    /// `pacer worker` processes, and `pacer serve` shares each model's limits with every
    /// other process booking through it.
    pub redis: Option<String>,
    /// `pacer serve`: the keys clients must present (`Authorization: Bearer KEY`), each a
    /// string or `{ id = "...", key = "..." }`; `PACER_GATEWAY_KEYS` adds more.
    pub gateway_keys: Option<Vec<GatewayKeyEntry>>,
    /// `pacer serve`: the address to listen on (default 127.0.0.1:8787).
    pub listen: Option<String>,
    /// `pacer serve`: the longest a request waits for capacity before a 429 (default 60).
    pub max_queue_wait_secs: Option<f64>,
    /// `pacer serve`: the largest request body accepted (default 4 MiB).
    pub max_body_bytes: Option<usize>,
    /// `pacer serve`: requests per minute allowed to each gateway key.
    pub client_rpm: Option<u64>,
    /// `pacer serve`: where the usage log goes (a file, or `-` for standard output).
    pub usage_log: Option<PathBuf>,
}

/// One gateway key in the config.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum GatewayKeyEntry {
    /// The key alone; its id is `key1`, `key2`, ... by position.
    Plain(String),
    /// A key with the id logs and metrics name it by, and perhaps its own limits and models.
    Named {
        /// The id.
        id: String,
        /// The secret.
        key: String,
        /// This key's requests per minute over every model (default: `client_rpm`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rpm: Option<u64>,
        /// This key's tokens per minute over every model.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tpm: Option<u64>,
        /// The models (labels) this key may use (default: every one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        models: Option<Vec<String>>,
        /// The most this key may spend in US dollars, over the gateway's restarts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget_usd: Option<f64>,
        /// The most tokens this key may spend, over the gateway's restarts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget_tokens: Option<u64>,
    },
}

/// `stop` may be one string or a list.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Stop {
    /// One stop sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// One model entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ModelEntry {
    /// The model's name at the provider.
    pub name: String,
    /// The provider: openai (any OpenAI-compatible server) or mock (later claude/anthropic,
    /// gemini, local).
    #[serde(rename = "type", alias = "provider")]
    pub kind: Option<String>,
    /// What the model is asked: `"chat"` (the default) or `"embedding"` (the default for a
    /// name holding "embed").
    #[serde(rename = "kind")]
    pub request_kind: Option<String>,
    /// Embedding models: the most texts one request carries (default 100; the provider's
    /// own limit applies too).
    pub embed_batch: Option<usize>,
    /// Embedding models: vectors to the binary side file `embeddings.f32` instead of the
    /// records' JSON.
    pub embeddings_file: Option<bool>,
    /// Tools the model may call, in OpenAI's, the Responses API's or Anthropic's form.
    pub tools: Option<Value>,
    /// `"auto"`, `"none"`, `"required"`, or one tool by name.
    pub tool_choice: Option<Value>,
    /// A distinct label when one model appears twice (e.g. at two temperatures).
    pub label: Option<String>,
    /// Free text.
    pub notes: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling.
    pub top_k: Option<u32>,
    /// Output cap per completion.
    pub max_tokens: Option<u32>,
    /// Sampling seed.
    pub seed: Option<u64>,
    /// Stop sequences.
    pub stop: Option<Stop>,
    /// A JSON Schema file (relative to this file's folder) that every output must match:
    /// structured output.
    pub schema: Option<PathBuf>,
    /// Completions per prompt.
    pub samples: Option<u32>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Input tokens per minute.
    pub itpm: Option<u64>,
    /// Output tokens per minute.
    pub otpm: Option<u64>,
    /// Requests in flight at once.
    pub concurrency: Option<usize>,
    /// The API's base URL.
    pub base_url: Option<String>,
    /// The API key (better: the provider's environment variable).
    pub api_key: Option<String>,
    /// OpenAI-compatible: `chat` (default) or `completions` (the legacy text endpoint).
    pub api: Option<String>,
    /// OpenAI-compatible: a regular expression naming reasoning models, which take
    /// `max_completion_tokens` and refuse temperature, top_p, n and stop.
    pub reasoning_pattern: Option<String>,
    /// OpenAI-compatible: whether one call may ask for several completions (`n`).
    pub supports_n: Option<bool>,
    /// Ask for token log-probabilities.
    pub logprobs: Option<bool>,
    /// Alternatives per token when `logprobs` is on.
    pub top_logprobs: Option<u8>,
    /// Temperature per error retry.
    pub temperature_schedule: Option<Vec<f64>>,
    /// Per-request timeout.
    pub timeout_secs: Option<f64>,
    /// Local models: device.
    pub device: Option<String>,
    /// Local models: weights (a .gguf file, a folder with one, or a Hugging Face folder).
    pub model_path: Option<String>,
    /// Local models: `"exact"` (every weight F32) or `"fast"` (quantized blocks); unset:
    /// exact up to `exact_limit_mb`.
    pub precision: Option<String>,
    /// Local models: the F32 weights' size in MiB up to which an unset precision is exact.
    pub exact_limit_mb: Option<u64>,
    /// Mock: latency of each reply.
    pub latency_ms: Option<u64>,
    /// Mock: share of calls that fail.
    pub fail_rate: Option<f64>,
    /// Mock: the kind of those failures (an error kind name, e.g. "Server", "Auth").
    pub fail_kind: Option<String>,
    /// Mock: every n-th call is rate limited.
    pub rate_limit_every: Option<u64>,
    /// Mock: the retry-after of those refusals.
    pub retry_after_ms: Option<u64>,
    /// US dollars per million tokens (`input`, `output`, `cached_input`); wins over the
    /// built-in price table.
    pub price: Option<pacer_core::Price>,
    /// Mock: share of calls with a schema whose reply is broken JSON.
    pub invalid_json_rate: Option<f64>,
    /// `"live"` (the default) or `"batch"`: through the provider's batch API, at half the
    /// price, answered within a day.
    pub mode: Option<String>,
    /// Batch mode: the most requests per batch (the provider's own limit applies too).
    pub batch_size: Option<usize>,
    /// Batch mode: where lines that failed for a passing reason go: `"batch"` (a later batch,
    /// the default) or `"live"`.
    pub batch_fallback: Option<String>,
    /// Batch mode: US dollars per million tokens; half the live price when left out.
    pub batch_price: Option<pacer_core::Price>,
    /// Batch mode: the provider's enqueued-token limit for this model.
    pub batch_queue_tokens: Option<u64>,
    /// Batch mode: seconds between polls of the batches (default 30).
    pub batch_poll_secs: Option<f64>,
    /// Several deployments of this model (other keys, regions, base URLs, even providers),
    /// each `{ id, base_url, api_key, rpm, tpm, ... }` over the entry's other keys: `pacer
    /// run` spreads the model's jobs over them, `pacer serve` sends each request to the one
    /// that admits it soonest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<Vec<Map<String, Value>>>,
    /// Anything else: passed to the provider as extra parameters.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
