//! The gateway's counters and histograms, served as Prometheus text at `GET /metrics`.
//! Labels are model names, statuses, error kinds and client key ids: never a key, a prompt
//! or a reply.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Histogram bucket bounds, in seconds.
const BOUNDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Default)]
struct Histogram {
    buckets: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, bucket) in BOUNDS.iter().zip(self.buckets.iter_mut()) {
            if seconds <= *bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    tokens: BTreeMap<(String, &'static str), u64>,
    errors: BTreeMap<(String, String), u64>,
    upstream_attempts: BTreeMap<String, u64>,
    queue_wait: BTreeMap<String, Histogram>,
    upstream_latency: BTreeMap<String, Histogram>,
    client_requests: BTreeMap<String, u64>,
    deployment_requests: BTreeMap<(String, String, u16), u64>,
    deployment_tokens: BTreeMap<(String, String), u64>,
    deployment_fallbacks: BTreeMap<(String, String), u64>,
    client_tokens: BTreeMap<String, u64>,
}

/// What one finished request adds to the metrics.
pub(crate) struct Observation<'a> {
    pub model: &'a str,
    /// The deployment that answered; empty for a model with one.
    pub deployment: &'a str,
    /// The deployments that failed the request before it.
    pub fell_from: &'a [String],
    pub client: &'a str,
    pub status: u16,
    pub error_kind: Option<&'a str>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub attempts: u32,
    pub queue_wait: Option<Duration>,
    pub upstream: Option<Duration>,
}

/// The gateway's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub(crate) fn observe(&self, o: &Observation<'_>) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let model = o.model.to_owned();
        *m.requests.entry((model.clone(), o.status)).or_default() += 1;
        *m.tokens.entry((model.clone(), "input")).or_default() += o.input_tokens;
        *m.tokens.entry((model.clone(), "output")).or_default() += o.output_tokens;
        if let Some(kind) = o.error_kind {
            *m.errors
                .entry((model.clone(), kind.to_owned()))
                .or_default() += 1;
        }
        *m.upstream_attempts.entry(model.clone()).or_default() += u64::from(o.attempts);
        if let Some(wait) = o.queue_wait {
            m.queue_wait
                .entry(model.clone())
                .or_default()
                .observe(wait.as_secs_f64());
        }
        if let Some(latency) = o.upstream {
            m.upstream_latency
                .entry(model)
                .or_default()
                .observe(latency.as_secs_f64());
        }
        if !o.deployment.is_empty() {
            let key = (o.model.to_owned(), o.deployment.to_owned());
            *m.deployment_requests
                .entry((key.0.clone(), key.1.clone(), o.status))
                .or_default() += 1;
            *m.deployment_tokens.entry(key).or_default() += o.input_tokens + o.output_tokens;
        }
        for failed in o.fell_from {
            *m.deployment_fallbacks
                .entry((o.model.to_owned(), failed.clone()))
                .or_default() += 1;
        }
        if !o.client.is_empty() {
            *m.client_requests.entry(o.client.to_owned()).or_default() += 1;
            *m.client_tokens.entry(o.client.to_owned()).or_default() +=
                o.input_tokens + o.output_tokens;
        }
    }

    /// Prometheus' text format.
    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(
            &mut out,
            "pacer_requests_total",
            "Requests answered, by model and HTTP status.",
        );
        for ((model, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "pacer_requests_total{{model=\"{}\",status=\"{status}\"}} {n}",
                esc(model)
            );
        }
        counter(
            &mut out,
            "pacer_tokens_total",
            "Tokens used, by model and kind (input, output).",
        );
        for ((model, kind), n) in &m.tokens {
            let _ = writeln!(
                out,
                "pacer_tokens_total{{model=\"{}\",kind=\"{kind}\"}} {n}",
                esc(model)
            );
        }
        counter(
            &mut out,
            "pacer_errors_total",
            "Failed requests, by model and error kind.",
        );
        for ((model, kind), n) in &m.errors {
            let _ = writeln!(
                out,
                "pacer_errors_total{{model=\"{}\",kind=\"{}\"}} {n}",
                esc(model),
                esc(kind)
            );
        }
        counter(
            &mut out,
            "pacer_upstream_attempts_total",
            "Requests sent upstream, retries included.",
        );
        for (model, n) in &m.upstream_attempts {
            let _ = writeln!(
                out,
                "pacer_upstream_attempts_total{{model=\"{}\"}} {n}",
                esc(model)
            );
        }
        counter(
            &mut out,
            "pacer_client_requests_total",
            "Requests by client key id.",
        );
        for (client, n) in &m.client_requests {
            let _ = writeln!(
                out,
                "pacer_client_requests_total{{client=\"{}\"}} {n}",
                esc(client)
            );
        }
        counter(
            &mut out,
            "pacer_client_tokens_total",
            "Tokens (input plus output) by client key id.",
        );
        for (client, n) in &m.client_tokens {
            let _ = writeln!(
                out,
                "pacer_client_tokens_total{{client=\"{}\"}} {n}",
                esc(client)
            );
        }
        counter(
            &mut out,
            "pacer_deployment_requests_total",
            "Requests answered by each deployment of a model, by HTTP status.",
        );
        for ((model, deployment, status), n) in &m.deployment_requests {
            let _ = writeln!(
                out,
                "pacer_deployment_requests_total{{model=\"{}\",deployment=\"{}\",status=\"{status}\"}} {n}",
                esc(model),
                esc(deployment)
            );
        }
        counter(
            &mut out,
            "pacer_deployment_tokens_total",
            "Tokens (input plus output) used through each deployment of a model.",
        );
        for ((model, deployment), n) in &m.deployment_tokens {
            let _ = writeln!(
                out,
                "pacer_deployment_tokens_total{{model=\"{}\",deployment=\"{}\"}} {n}",
                esc(model),
                esc(deployment)
            );
        }
        counter(
            &mut out,
            "pacer_deployment_fallbacks_total",
            "Requests a deployment failed (a server error, a timeout, a stop) that went on to another.",
        );
        for ((model, deployment), n) in &m.deployment_fallbacks {
            let _ = writeln!(
                out,
                "pacer_deployment_fallbacks_total{{model=\"{}\",deployment=\"{}\"}} {n}",
                esc(model),
                esc(deployment)
            );
        }
        for (name, help, map) in [
            (
                "pacer_queue_wait_seconds",
                "Time waiting for capacity before the first send.",
                &m.queue_wait,
            ),
            (
                "pacer_upstream_latency_seconds",
                "Time a request spent on upstream attempts, retries included (to the reply head for streams).",
                &m.upstream_latency,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (model, h) in map {
                let model = esc(model);
                for (bound, n) in BOUNDS.iter().zip(h.buckets) {
                    let _ = writeln!(out, "{name}_bucket{{model=\"{model}\",le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{model=\"{model}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{{model=\"{model}\"}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{model=\"{model}\"}} {}", h.count);
            }
        }
        out
    }
}
