//! The run summary, `OUTPUT/summary.json`: per model label, what was done, what failed and
//! why, tokens, latency and cost, computed by streaming the journal once; and the plain-text
//! table printed at the end of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::journal::{JournalError, write_atomically};
use crate::manifest::{Manifest, read_json};
use crate::record::{TokenCounts, format_timestamp};

/// The summary's file name inside the output folder.
pub const SUMMARY_FILE: &str = "summary.json";

/// What the journal says about one model label.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelTotals {
    /// The model name sent to the provider (empty when the lane wrote no record).
    pub model: String,
    /// The provider (empty when the lane wrote no record).
    pub provider: String,
    /// Records in the journal.
    pub records: u64,
    /// Of them, successes.
    pub succeeded: u64,
    /// Of them, failures.
    pub failed: u64,
    /// Failures by error kind.
    pub failed_by_kind: BTreeMap<String, u64>,
    /// Tokens billed over every attempt, failed ones included.
    pub tokens: TokenCounts,
    /// Median `latency_seconds` (the successful attempt's time at the provider) over the
    /// successful records (about 0.1 % precision).
    pub latency_p50_seconds: Option<f64>,
    /// 95th percentile of `latency_seconds` over the successful records.
    pub latency_p95_seconds: Option<f64>,
    /// 99th percentile of `latency_seconds` over the successful records.
    #[serde(default)]
    pub latency_p99_seconds: Option<f64>,
    /// Median `queue_seconds` (the wait for capacity) over every record.
    #[serde(default)]
    pub queue_p50_seconds: Option<f64>,
    /// 95th percentile of `queue_seconds` over every record.
    #[serde(default)]
    pub queue_p95_seconds: Option<f64>,
    /// Retries over every record.
    pub retries: u64,
    /// Cost in US dollars of the records whose cost is known; `None` when none is.
    pub cost_usd: Option<f64>,
}

/// What the caller knows about a lane that the journal does not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaneReport {
    /// The model label.
    pub label: String,
    /// Wall time the lane ran in this run.
    pub elapsed_seconds: f64,
    /// Jobs finished by the lane in this run (the journal also holds earlier runs' records
    /// when resumed); the table's rate is this over `elapsed_seconds`.
    pub completed: u64,
    /// Jobs not done when the lane ended.
    pub pending: u64,
    /// Why the lane stopped early, if it did ("Auth: check the API key…").
    pub stopped: Option<String>,
}

/// One model label in the summary: the journal's totals and the lane's report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// What the journal says.
    #[serde(flatten)]
    pub totals: ModelTotals,
    /// Wall time the lane ran in this run.
    pub elapsed_seconds: f64,
    /// Jobs finished by the lane in this run.
    pub completed: u64,
    /// Jobs not done when the lane ended.
    pub pending: u64,
    /// Why the lane stopped early, if it did.
    pub stopped: Option<String>,
}

/// Totals over every model label.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Records in the journal.
    pub records: u64,
    /// Of them, successes.
    pub succeeded: u64,
    /// Of them, failures.
    pub failed: u64,
    /// Tokens billed over every attempt.
    pub tokens: TokenCounts,
    /// Known cost in US dollars; `None` when no cost is known.
    pub cost_usd: Option<f64>,
}

/// The contents of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// When the run first started.
    pub started_at: String,
    /// When this summary was made.
    pub ended_at: String,
    /// Whether this run continued an earlier one.
    pub resumed: bool,
    /// The config, secrets redacted.
    pub config: Value,
    /// The prompts file, as given.
    pub prompts_file: Option<String>,
    /// Per model label.
    pub models: BTreeMap<String, ModelSummary>,
    /// Over every label.
    pub totals: Totals,
    /// Whether the run stopped because its budget was spent.
    pub budget_exhausted: bool,
}

impl Summary {
    /// The summary of a run: the manifest's identity, the journal's totals per label, and each
    /// lane's report; labels found in either are listed. `ended_at` is now; `resumed` and
    /// `budget_exhausted` start false for the caller to set.
    pub fn new(
        manifest: &Manifest,
        per_label: BTreeMap<String, ModelTotals>,
        lanes: &[LaneReport],
    ) -> Self {
        let mut models: BTreeMap<String, ModelSummary> = per_label
            .into_iter()
            .map(|(label, totals)| {
                let summary = ModelSummary {
                    totals,
                    ..ModelSummary::default()
                };
                (label, summary)
            })
            .collect();
        for lane in lanes {
            let model = models.entry(lane.label.clone()).or_default();
            model.elapsed_seconds = lane.elapsed_seconds;
            model.completed = lane.completed;
            model.pending = lane.pending;
            model.stopped.clone_from(&lane.stopped);
        }
        let mut totals = Totals::default();
        for model in models.values() {
            totals.records += model.totals.records;
            totals.succeeded += model.totals.succeeded;
            totals.failed += model.totals.failed;
            totals.tokens.add(&model.totals.tokens);
            if let Some(cost) = model.totals.cost_usd {
                *totals.cost_usd.get_or_insert(0.0) += cost;
            }
        }
        Self {
            run_id: manifest.run_id.clone(),
            started_at: manifest.started_at.clone(),
            ended_at: format_timestamp(&Utc::now()),
            resumed: false,
            config: manifest.config.clone(),
            prompts_file: manifest.prompts_file.clone(),
            models,
            totals,
            budget_exhausted: false,
        }
    }

    /// Reads `dir/summary.json`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Summary>, JournalError> {
        read_json(&dir.join(SUMMARY_FILE))
    }

    /// Writes `dir/summary.json`, replacing any earlier one whole.
    pub fn write(&self, dir: &Path) -> Result<(), JournalError> {
        let path = dir.join(SUMMARY_FILE);
        write_atomically(&path, |out| {
            serde_json::to_writer_pretty(&mut *out, self)
                .map_err(io::Error::from)
                .map_err(JournalError::io("write", &path))
        })
    }
}

/// The per-model table for the end of a run: label, ok, failed, tokens, latency p50 and p95,
/// elapsed time and rate (jobs finished this run per second), then a line for each lane that
/// stopped early or left jobs pending.
pub fn table(summary: &Summary) -> String {
    let seconds = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s:.2}s"));
    let mut rows = vec![
        [
            "label", "ok", "failed", "tokens", "p50", "p95", "elapsed", "rate",
        ]
        .map(str::to_owned),
    ];
    for (label, model) in &summary.models {
        let t = &model.totals;
        let rate = if model.elapsed_seconds > 0.0 {
            format!("{:.2}/s", model.completed as f64 / model.elapsed_seconds)
        } else {
            "-".to_owned()
        };
        rows.push([
            label.clone(),
            t.succeeded.to_string(),
            t.failed.to_string(),
            t.tokens.total.to_string(),
            seconds(t.latency_p50_seconds),
            seconds(t.latency_p95_seconds),
            format!("{:.1}s", model.elapsed_seconds),
            rate,
        ]);
    }
    let mut widths = [0; 8];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for (cell, width) in row.iter().zip(widths).skip(1) {
            let _ = write!(line, "  {cell:>width$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let totals = &summary.totals;
    let _ = write!(
        out,
        "total: {} ok, {} failed, {} tokens",
        totals.succeeded, totals.failed, totals.tokens.total
    );
    if let Some(cost) = totals.cost_usd {
        let _ = write!(out, ", ${cost:.4}");
    }
    out.push('\n');
    for (label, model) in &summary.models {
        match (&model.stopped, model.pending) {
            (None, 0) => {}
            (None, pending) => {
                let _ = writeln!(out, "{label}: {pending} pending");
            }
            (Some(why), pending) => {
                let _ = writeln!(out, "{label}: stopped with {pending} pending: {why}");
            }
        }
    }
    if summary.budget_exhausted {
        out.push_str("budget exhausted: the rest stays pending for --resume\n");
    }
    out
}
