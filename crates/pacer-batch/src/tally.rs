//! Totals per model label, kept as records are written and, on resume, read once from the
//! records already in the journal, so a run never re-reads its own output to summarize it.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Deserialize;

use crate::journal::{JournalError, scan_lines};
use crate::record::{Record, RecordStatus, TokenCounts, UsageTotals};
use crate::summary::ModelTotals;

/// Latencies above a day are counted as a day.
const MAX_LATENCY_MICROS: u64 = 86_400_000_000;

/// The fields of a journal line that the totals need; the rest is skipped unparsed.
#[derive(Deserialize)]
struct Line {
    label: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    provider: String,
    status: RecordStatus,
    error: Option<ErrorLine>,
    #[serde(default)]
    latency_seconds: Option<f64>,
    #[serde(default)]
    queue_seconds: Option<f64>,
    #[serde(default)]
    retry_count: u64,
    usage_all_attempts: Option<UsageTotals>,
    tokens_used: Option<TokenCounts>,
    cost_usd: Option<f64>,
}

#[derive(Deserialize)]
struct ErrorLine {
    kind: String,
}

struct LaneTotals {
    totals: ModelTotals,
    latency: Histogram<u64>,
    queue: Histogram<u64>,
}

/// A histogram of seconds in microseconds, from 1 µs to a day at 0.1 % precision.
fn seconds_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
        .expect("constant histogram bounds are valid")
}

/// Counts `seconds` in `histogram`, when it is a time at all.
fn record_seconds(histogram: &mut Histogram<u64>, seconds: Option<f64>) {
    if let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
        let micros = (seconds * 1e6).round() as u64;
        histogram.saturating_record(micros.max(1));
    }
}

/// The `q` quantile of `histogram` in seconds; `None` when it is empty.
fn quantile(histogram: &Histogram<u64>, q: f64) -> Option<f64> {
    (!histogram.is_empty()).then(|| {
        let micros = histogram.value_at_quantile(q);
        histogram.median_equivalent(micros) as f64 / 1e6
    })
}

/// Running totals per model label.
#[derive(Default)]
pub struct Tally {
    lanes: BTreeMap<String, LaneTotals>,
}

impl Tally {
    /// Totals of the journal at `results_path` (a torn last line left out); empty when the
    /// file does not exist.
    pub fn read(results_path: &Path) -> Result<Tally, JournalError> {
        let mut tally = Tally::default();
        if results_path.exists() {
            scan_lines(results_path, |_, _, line: Line| {
                tally.add_line(line);
                Ok(())
            })?;
        }
        Ok(tally)
    }

    /// Counts `record`, as it is written to the journal.
    pub fn add(&mut self, record: &Record) {
        self.add_line(Line {
            label: record.label.clone(),
            model: record.model.clone(),
            provider: record.provider.clone(),
            status: record.status,
            error: record.error.as_ref().map(|e| ErrorLine {
                kind: e.kind.as_str().to_owned(),
            }),
            latency_seconds: record.latency_seconds,
            queue_seconds: record.queue_seconds,
            retry_count: u64::from(record.retry_count),
            usage_all_attempts: Some(record.usage_all_attempts),
            tokens_used: Some(record.tokens_used),
            cost_usd: record.cost_usd,
        });
    }

    fn add_line(&mut self, line: Line) {
        let lane = self.lanes.entry(line.label).or_insert_with(|| LaneTotals {
            totals: ModelTotals {
                model: line.model,
                provider: line.provider,
                ..ModelTotals::default()
            },
            latency: seconds_histogram(),
            queue: seconds_histogram(),
        });
        let totals = &mut lane.totals;
        totals.records += 1;
        match line.status {
            RecordStatus::Ok => totals.succeeded += 1,
            RecordStatus::Error => {
                totals.failed += 1;
                let kind = line.error.map_or_else(|| "unknown".to_owned(), |e| e.kind);
                *totals.failed_by_kind.entry(kind).or_default() += 1;
            }
        }
        let tokens = match (line.usage_all_attempts, line.tokens_used) {
            (Some(all), _) => TokenCounts {
                input: all.input,
                output: all.output,
                total: all.total,
            },
            (None, Some(last)) => last,
            (None, None) => TokenCounts::default(),
        };
        totals.tokens.add(&tokens);
        totals.retries += line.retry_count;
        if let Some(cost) = line.cost_usd {
            *totals.cost_usd.get_or_insert(0.0) += cost;
        }
        // The model's latency: successful attempts' time at the provider, not the wait for
        // capacity (a journal written before these fields has neither).
        if line.status == RecordStatus::Ok {
            record_seconds(&mut lane.latency, line.latency_seconds);
        }
        record_seconds(&mut lane.queue, line.queue_seconds);
    }

    /// Tokens billed and their known cost in US dollars, over every label.
    pub fn spent(&self) -> (u64, f64) {
        self.lanes.values().fold((0, 0.0), |(tokens, usd), lane| {
            (
                tokens + lane.totals.tokens.total,
                usd + lane.totals.cost_usd.unwrap_or(0.0),
            )
        })
    }

    /// The totals per label, latency percentiles included.
    pub fn finish(self) -> BTreeMap<String, ModelTotals> {
        self.lanes
            .into_iter()
            .map(|(label, lane)| {
                let totals = ModelTotals {
                    latency_p50_seconds: quantile(&lane.latency, 0.5),
                    latency_p95_seconds: quantile(&lane.latency, 0.95),
                    latency_p99_seconds: quantile(&lane.latency, 0.99),
                    queue_p50_seconds: quantile(&lane.queue, 0.5),
                    queue_p95_seconds: quantile(&lane.queue, 0.95),
                    ..lane.totals
                };
                (label, totals)
            })
            .collect()
    }
}

/// Reads the journal at `results_path` once and totals it per model label. A torn last line
/// is left out.
pub fn summarize(results_path: &Path) -> Result<BTreeMap<String, ModelTotals>, JournalError> {
    let mut tally = Tally::default();
    scan_lines(results_path, |_, _, line: Line| {
        tally.add_line(line);
        Ok(())
    })?;
    Ok(tally.finish())
}
