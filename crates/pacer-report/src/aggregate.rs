//! The aggregates of one run, kept as its records stream past: counts, sums, histograms and
//! per-second counts per model label. Memory grows with the labels, the run's length in
//! seconds and the distinct categories (capped), never with the records.

use std::collections::BTreeMap;

use hdrhistogram::Histogram as Hdr;

use crate::data::{Category, Histogram, Limits, Model, Stats, Timeline, Tokens};
use crate::line::{Line, seconds};

/// Times above a day are counted as a day.
const MAX_MICROS: u64 = 86_400_000_000;
/// Bins of a latency histogram.
const LATENCY_BINS: usize = 30;
/// Distinct (category, probe) pairs kept per model; the rest are counted as `(other)`.
const MAX_CATEGORIES: usize = 200;
/// The most buckets of a timeline.
pub(crate) const MAX_BUCKETS: f64 = 240.0;
/// The most counts a model keeps over time; past it they are merged ten to one (a run of
/// more than a day).
const MAX_TIME_KEYS: usize = 100_000;

fn hdr() -> Hdr<u64> {
    Hdr::new_with_bounds(1, MAX_MICROS, 3).expect("constant histogram bounds are valid")
}

fn record(histogram: &mut Hdr<u64>, value: Option<f64>) {
    if let Some(s) = seconds(value) {
        histogram.saturating_record(((s * 1e6).round() as u64).max(1));
    }
}

/// One second's counts: successes, failures, input and output tokens.
type Second = [u64; 4];

/// A model label's running aggregates.
pub(crate) struct ModelAgg {
    model: String,
    provider: String,
    records: u64,
    ok: u64,
    retries: u64,
    tokens: Tokens,
    cost: Option<f64>,
    failures: BTreeMap<String, u64>,
    latency: Hdr<u64>,
    queue: Hdr<u64>,
    first_token: Hdr<u64>,
    elapsed: Hdr<u64>,
    /// Output tokens and latency seconds of the successful records with a latency.
    produced: (u64, f64),
    /// Per `resolution` seconds (Unix time over it) in which records ended.
    seconds: BTreeMap<i64, Second>,
    /// Seconds per key of `seconds`: 1, then 10, 100… as the run grows long.
    resolution: i64,
    categories: BTreeMap<(Option<String>, Option<bool>), Category>,
    /// Records of sample 0: the distinct prompts this label answered.
    pub(crate) first_samples: u64,
}

impl ModelAgg {
    fn new(line: &Line) -> Self {
        Self {
            model: line.model.clone(),
            provider: line.provider.clone(),
            records: 0,
            ok: 0,
            retries: 0,
            tokens: Tokens::default(),
            cost: None,
            failures: BTreeMap::new(),
            latency: hdr(),
            queue: hdr(),
            first_token: hdr(),
            elapsed: hdr(),
            produced: (0, 0.0),
            seconds: BTreeMap::new(),
            resolution: 1,
            categories: BTreeMap::new(),
            first_samples: 0,
        }
    }

    fn add(&mut self, line: &Line, ended: Option<f64>) {
        let ok = line.ok();
        self.records += 1;
        self.retries += line.retry_count;
        self.first_samples += u64::from(line.sample == 0);
        if ok {
            self.ok += 1;
        } else {
            *self.failures.entry(line.error_kind()).or_default() += 1;
        }
        let tokens = line.tokens();
        self.tokens.add(tokens.input, tokens.output);
        if let Some(cost) = line.cost_usd.filter(|c| c.is_finite()) {
            *self.cost.get_or_insert(0.0) += cost;
        }
        if ok {
            record(&mut self.latency, line.latency_seconds);
            if let Some(latency) = seconds(line.latency_seconds) {
                let output = line.tokens_used.map_or(tokens.output, |t| t.output);
                self.produced.0 += output;
                self.produced.1 += latency;
            }
        }
        record(&mut self.queue, line.queue_seconds);
        record(&mut self.first_token, line.first_token_seconds);
        record(&mut self.elapsed, line.elapsed_seconds);
        if let Some(ended) = ended {
            let key = (ended.floor() as i64).div_euclid(self.resolution);
            let second = self.seconds.entry(key).or_default();
            second[usize::from(!ok)] += 1;
            second[2] += tokens.input;
            second[3] += tokens.output;
            if self.seconds.len() > MAX_TIME_KEYS {
                self.coarsen();
            }
        }
        let key = (line.category(), line.probe());
        let full = self.categories.len() >= MAX_CATEGORIES;
        let key = if full && !self.categories.contains_key(&key) {
            (Some("(other)".to_owned()), None)
        } else {
            key
        };
        let category = self.categories.entry(key).or_default();
        category.records += 1;
        category.ok += u64::from(ok);
        category.refusals += u64::from(line.refused());
        category.truncated += u64::from(line.truncated);
    }

    /// Merges the counts over time ten to one.
    fn coarsen(&mut self) {
        let mut merged: BTreeMap<i64, Second> = BTreeMap::new();
        for (key, counts) in std::mem::take(&mut self.seconds) {
            let into = merged.entry(key.div_euclid(10)).or_default();
            for (a, b) in into.iter_mut().zip(counts) {
                *a += b;
            }
        }
        self.seconds = merged;
        self.resolution *= 10;
    }

    /// The model's part of the report, its timeline in buckets of `width` seconds from `t0`.
    pub(crate) fn finish(self, label: String, t0: i64, width: f64, buckets: usize) -> Model {
        let mut timeline = Timeline {
            completions: vec![0; buckets],
            failures: vec![0; buckets],
            input_tokens: vec![0; buckets],
            output_tokens: vec![0; buckets],
        };
        for (key, counts) in &self.seconds {
            let second = key.saturating_mul(self.resolution);
            let i = ((second.saturating_sub(t0) as f64 / width).floor().max(0.0) as usize)
                .min(buckets - 1);
            timeline.completions[i] += counts[0];
            timeline.failures[i] += counts[1];
            timeline.input_tokens[i] += counts[2];
            timeline.output_tokens[i] += counts[3];
        }
        let categories = self
            .categories
            .into_iter()
            .map(|((category, probe), counts)| Category {
                category,
                probe,
                ..counts
            })
            .collect();
        let (output, latency_sum) = self.produced;
        Model {
            label,
            model: self.model,
            provider: self.provider,
            records: self.records,
            ok: self.ok,
            failed: self.records - self.ok,
            retries: self.retries,
            success_rate: (self.records > 0).then(|| self.ok as f64 / self.records as f64),
            pending: None,
            stopped: None,
            latency: stats(&self.latency),
            queue: stats(&self.queue),
            first_token: stats(&self.first_token),
            elapsed: stats(&self.elapsed),
            output_tokens_per_second: (latency_sum > 0.0).then(|| output as f64 / latency_sum),
            tokens: self.tokens,
            cost_usd: self.cost,
            // Per prompt: every sample and every failure of it counted in.
            cost_per_1000_prompts: self
                .cost
                .filter(|_| self.first_samples > 0)
                .map(|cost| cost / self.first_samples as f64 * 1000.0),
            failures: self.failures,
            limits: Limits::default(),
            timeline,
            latency_histogram: histogram(&self.latency),
            categories,
        }
    }
}

/// Count, mean and percentiles in seconds; `None` when nothing was counted.
fn stats(histogram: &Hdr<u64>) -> Option<Stats> {
    if histogram.is_empty() {
        return None;
    }
    let at = |q| histogram.median_equivalent(histogram.value_at_quantile(q)) as f64 / 1e6;
    Some(Stats {
        count: histogram.len(),
        mean: histogram.mean() / 1e6,
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
    })
}

/// Equal bins from 0 to a little past the 99th percentile; the last bin takes what is above.
fn histogram(latency: &Hdr<u64>) -> Histogram {
    if latency.is_empty() {
        return Histogram::default();
    }
    let p99 = latency.value_at_quantile(0.99) as f64 / 1e6;
    let upper = (p99 * 1.25).max(1e-3);
    let width = upper / LATENCY_BINS as f64;
    let mut counts = vec![0; LATENCY_BINS];
    for value in latency.iter_recorded() {
        let seconds = latency.median_equivalent(value.value_iterated_to()) as f64 / 1e6;
        let bin = ((seconds / width) as usize).min(LATENCY_BINS - 1);
        counts[bin] += value.count_at_value();
    }
    Histogram {
        edges: (0..=LATENCY_BINS).map(|i| i as f64 * width).collect(),
        counts,
    }
}

/// A run's running aggregates.
#[derive(Default)]
pub(crate) struct RunAgg {
    pub(crate) run_id: Option<String>,
    pub(crate) models: BTreeMap<String, ModelAgg>,
    /// The earliest start (end less elapsed) and the latest end, Unix seconds.
    pub(crate) first: Option<f64>,
    pub(crate) last: Option<f64>,
}

impl RunAgg {
    /// Counts one record.
    pub(crate) fn add(&mut self, line: &Line) {
        if self.run_id.is_none() {
            self.run_id.clone_from(&line.run_id);
        }
        let ended = line.ended();
        if let Some(ended) = ended {
            // A job takes a day at most: one wild `elapsed_seconds` must not stretch the run.
            let elapsed = seconds(line.elapsed_seconds).unwrap_or(0.0).min(86_400.0);
            let started = ended - elapsed;
            self.first = Some(self.first.map_or(started, |f| f.min(started)));
            self.last = Some(self.last.map_or(ended, |l| l.max(ended)));
        }
        let label = line.label();
        let model = match self.models.get_mut(label) {
            Some(model) => model,
            None => self
                .models
                .entry(label.to_owned())
                .or_insert_with(|| ModelAgg::new(line)),
        };
        model.add(line, ended);
    }
}

/// A bucket width, from a list of round ones, that cuts `span` seconds into at most
/// [`MAX_BUCKETS`] buckets.
pub(crate) fn bucket_width(span: f64) -> f64 {
    const WIDTHS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        21600.0, 86400.0,
    ];
    WIDTHS
        .iter()
        .copied()
        .find(|w| span / w <= MAX_BUCKETS)
        .unwrap_or_else(|| (span / MAX_BUCKETS / 86400.0).ceil() * 86400.0)
}
