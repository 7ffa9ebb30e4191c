//! What the report embeds: the JSON object `assets/report.js` draws the page from (its
//! fields are listed in `DATA.md`). Times are seconds; `None` is written `null`: not known.

use std::collections::BTreeMap;

use serde::Serialize;

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReportData {
    /// Pacer's version.
    pub pacer_version: String,
    /// When the report was made, RFC 3339.
    pub generated_at: String,
    /// The most prompts in the browser (`--prompts`).
    pub prompts_limit: usize,
    /// Distinct prompts of the busiest model label of any run.
    pub prompts_seen: u64,
    /// Prompts of the sample left out so that the file stays under about 20 MB.
    pub prompts_left_out: usize,
    /// One per output folder, in the order given.
    pub runs: Vec<Run>,
    /// The browser's sample: the same prompt ids in every run.
    pub prompts: Vec<PromptView>,
}

/// One output folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Run {
    /// A short name: the folder's, made unique among the runs.
    pub name: String,
    /// The folder, as given.
    pub path: String,
    /// The run's id, from `run.json` or the records.
    pub run_id: Option<String>,
    /// When its first session started.
    pub started_at: Option<String>,
    /// When its last record was written.
    pub ended_at: Option<String>,
    /// Unix seconds: the origin of its timelines and events.
    pub t0: f64,
    /// From `t0` to the last record.
    pub wall_seconds: f64,
    /// Sessions (the first and each `--resume`), from `events.jsonl`.
    pub sessions: u32,
    /// Of them, resumes.
    pub resumes: u32,
    /// The prompts file, as given to the run.
    pub prompts_file: Option<String>,
    /// Records in the journal.
    pub records: u64,
    /// Of them, successes.
    pub ok: u64,
    /// Of them, failures.
    pub failed: u64,
    /// Jobs not done when the run last ended (from `summary.json`).
    pub pending: Option<u64>,
    /// Tokens billed over every attempt.
    pub tokens: Tokens,
    /// Known cost in US dollars.
    pub cost_usd: Option<f64>,
    /// Whether the run stopped at its budget.
    pub budget_exhausted: bool,
    /// Width of every timeline bucket.
    pub bucket_seconds: f64,
    /// Per model label, in label order.
    pub models: Vec<Model>,
    /// Lane events, in time order.
    pub events: Vec<EventView>,
    /// Events not shown (past the cap).
    pub events_left_out: u64,
}

/// Input, output and total tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    /// Prompt tokens.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
    /// Their sum.
    pub total: u64,
}

impl Tokens {
    /// Adds `input` and `output` tokens.
    pub fn add(&mut self, input: u64, output: u64) {
        self.input += input;
        self.output += output;
        self.total += input + output;
    }
}

/// One model label of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Model {
    /// The label.
    pub label: String,
    /// The model name sent.
    pub model: String,
    /// The provider.
    pub provider: String,
    /// Records.
    pub records: u64,
    /// Successes.
    pub ok: u64,
    /// Failures.
    pub failed: u64,
    /// Retries over every record.
    pub retries: u64,
    /// `ok / records`.
    pub success_rate: Option<f64>,
    /// Jobs pending when the run last ended.
    pub pending: Option<u64>,
    /// Why its lane stopped early, if it did.
    pub stopped: Option<String>,
    /// `latency_seconds` of the successful records.
    pub latency: Option<Stats>,
    /// `queue_seconds` of every record.
    pub queue: Option<Stats>,
    /// `first_token_seconds`, where streamed.
    pub first_token: Option<Stats>,
    /// `elapsed_seconds` of every record.
    pub elapsed: Option<Stats>,
    /// Output tokens over latency seconds, of the successful records.
    pub output_tokens_per_second: Option<f64>,
    /// Tokens over every attempt.
    pub tokens: Tokens,
    /// Known cost.
    pub cost_usd: Option<f64>,
    /// Cost per 1,000 records.
    pub cost_per_1000_prompts: Option<f64>,
    /// Failures by error kind.
    pub failures: BTreeMap<String, u64>,
    /// The limits configured in `run.json`.
    pub limits: Limits,
    /// Per bucket of the run's timeline.
    pub timeline: Timeline,
    /// The distribution of `latency_seconds`.
    pub latency_histogram: Histogram,
    /// By `prompt_category` and `is_synthetic_probe`, where present.
    pub categories: Vec<Category>,
}

/// Count, mean and percentiles of some seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Values counted.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Configured per-minute limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
}

/// Counts per bucket; bucket `i` covers `[t0 + i·w, t0 + (i+1)·w)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Records that ended in the bucket, successes.
    pub completions: Vec<u64>,
    /// Records that ended in the bucket, failures.
    pub failures: Vec<u64>,
    /// Input tokens of the records that ended in it.
    pub input_tokens: Vec<u64>,
    /// Output tokens of the records that ended in it.
    pub output_tokens: Vec<u64>,
}

/// A histogram: `counts[i]` values in `[edges[i], edges[i+1])`, the last bin open above.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// Bin edges in seconds, one more than the bins.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
}

/// A category's records of one model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Category {
    /// `prompt_category`.
    pub category: Option<String>,
    /// `is_synthetic_probe`.
    pub probe: Option<bool>,
    /// Records.
    pub records: u64,
    /// Successes.
    pub ok: u64,
    /// Refused or content-filtered answers.
    pub refusals: u64,
    /// Answers cut off at `max_tokens`.
    pub truncated: u64,
}

/// A lane event on the run's timeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventView {
    /// Seconds since the run's `t0`.
    pub t: f64,
    /// The model label; `None` for the run itself.
    pub lane: Option<String>,
    /// `session`, `cooldown`, `refused`, `limit`, `stopped`, `budget` or `retry`.
    pub kind: &'static str,
    /// A cool-down's length.
    pub seconds: Option<f64>,
    /// A limit's dimension.
    pub dimension: Option<String>,
    /// A limit before.
    pub from: Option<u64>,
    /// A limit after.
    pub to: Option<u64>,
    /// In words.
    pub detail: String,
}

/// A prompt of the browser, with its answers from every run, model and sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PromptView {
    /// Its id.
    pub prompt_id: String,
    /// Its text, when the prompts file was found.
    pub prompt: Option<String>,
    /// `prompt_category`.
    pub category: Option<String>,
    /// `is_synthetic_probe`.
    pub probe: Option<bool>,
    /// The answers.
    pub answers: Vec<Answer>,
}

/// One record of a browsed prompt.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Answer {
    /// Index into the runs.
    pub run: usize,
    /// The model label.
    pub label: String,
    /// The sample.
    pub sample: u32,
    /// `ok` or `error`.
    pub status: &'static str,
    /// The answer, clipped to the report's length.
    pub text: Option<String>,
    /// Whether the text was clipped.
    pub clipped: bool,
    /// `kind: message` of a failure.
    pub error: Option<String>,
    /// Why the model stopped.
    pub finish_reason: Option<String>,
    /// Output tokens.
    pub output_tokens: u64,
    /// `latency_seconds`.
    pub latency_seconds: Option<f64>,
    /// `cost_usd`.
    pub cost_usd: Option<f64>,
    /// Tokens with their logprob (`None` where it was not finite), in output order, within
    /// the clipped text.
    pub tokens: Option<Vec<(String, Option<f64>)>>,
}
