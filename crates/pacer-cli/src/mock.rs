//! `pacer mock`: its flags, and the loop that serves until Ctrl-C.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use pacer_mock::{MockBatchConfig, MockServer, MockServerConfig, Stats};
use pacer_providers::openai::Encoding;

/// The flags of `pacer mock`.
#[derive(clap::Args, Clone, PartialEq)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Requests per minute allowed to each model (no limit when left out).
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Tokens per minute allowed to each model, counting each request's prompt plus its output cap (no
    /// limit when left out).
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Input tokens per minute allowed to each model on Anthropic's `/v1/messages` (no limit
    /// when left out).
    #[arg(long)]
    pub itpm: Option<u64>,
    /// Output tokens per minute allowed to each model on Anthropic's `/v1/messages`: charged
    /// from `max_tokens`, then corrected to the output used (no limit when left out).
    #[arg(long)]
    pub otpm: Option<u64>,
    /// Burst window: each limit's bucket holds `limit × window / 60` units.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub window: Duration,
    /// The window of the token limits (`--tpm`, `--itpm`, `--otpm`), when it differs from
    /// `--window`.
    #[arg(long, value_parser = duration)]
    pub token_window: Option<Duration>,
    /// Mean latency added to each completion, e.g. `300ms`.
    #[arg(long, default_value = "0ms", value_parser = duration)]
    pub latency: Duration,
    /// Standard deviation of that latency (normal, clamped at zero).
    #[arg(long, default_value = "0ms", value_parser = duration)]
    pub latency_sd: Duration,
    /// Probability (0 to 1) of a 500 server error.
    #[arg(long = "fail-500", default_value_t = 0.0, value_parser = probability)]
    pub fail_500: f64,
    /// Probability (0 to 1) of a 503 overloaded error.
    #[arg(long = "fail-503", default_value_t = 0.0, value_parser = probability)]
    pub fail_503: f64,
    /// Probability (0 to 1) of closing the connection without a reply.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub drop: f64,
    /// Probability (0 to 1) of a 200 whose JSON body is cut in half.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub truncate: f64,
    /// Probability (0 to 1) of replying only after `--slow-for`.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub slow: f64,
    /// Probability (0 to 1) of a 429 while the limits have room (the provider short of
    /// capacity), with `retry-after: 1`; it is not counted against the limits.
    #[arg(long = "fail-429", default_value_t = 0.0, value_parser = probability)]
    pub fail_429: f64,
    /// How long slow replies wait.
    #[arg(long, default_value = "120s", value_parser = duration)]
    pub slow_for: Duration,
    /// Seed of the latency and fault draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Require this key: as `Authorization: Bearer <key>` (OpenAI), `x-api-key` (Anthropic),
    /// `x-goog-api-key` or `?key=` (Gemini).
    #[arg(long, env = "PACER_MOCK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Serve only these models (comma-separated); any model when left out.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Total tokens that may be charged before every request gets `insufficient_quota`.
    #[arg(long)]
    pub quota_tokens: Option<u64>,
    /// Output cap assumed for the token limit when a request sets none.
    #[arg(long, default_value_t = pacer_core::DEFAULT_MAX_TOKENS)]
    pub default_max_tokens: u32,
    /// Send no `x-ratelimit-*` or `anthropic-ratelimit-*` headers (as vLLM and most local
    /// servers).
    #[arg(long)]
    pub no_rate_headers: bool,
    /// Time from a batch's creation (OpenAI's, Anthropic's or Gemini's batch API) until it
    /// ends.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub batch_time: Duration,
    /// Probability (0 to 1) that a batch line fails with a server error.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub batch_fail: f64,
    /// Probability (0 to 1) that a batch line expires unprocessed (a Gemini batch with any
    /// expires whole).
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub batch_expire: f64,
    /// Enqueued-token limit per model: batches that would take the tokens of a model's
    /// batches not yet ended past it are refused (no limit when left out).
    #[arg(long)]
    pub batch_queue_tokens: Option<u64>,
}

impl fmt::Debug for MockArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockArgs")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("config", &self.config_unchecked())
            .finish()
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    pacer_core::parse_duration(text).ok_or_else(|| {
        format!(
            "`{text}` is not a duration: expected e.g. `300ms`, `2s`, `1m30s` or `1.5` (seconds)"
        )
    })
}

fn probability(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "`{text}` is not a probability: expected a number from 0 to 1"
        )),
    }
}

impl MockArgs {
    fn config_unchecked(&self) -> MockServerConfig {
        MockServerConfig {
            rpm: self.rpm,
            tpm: self.tpm,
            itpm: self.itpm,
            otpm: self.otpm,
            window: self.window,
            token_window: self.token_window,
            latency: self.latency,
            latency_sd: self.latency_sd,
            fail_500: self.fail_500,
            fail_503: self.fail_503,
            drop: self.drop,
            truncate: self.truncate,
            slow: self.slow,
            fail_429: self.fail_429,
            slow_for: self.slow_for,
            seed: self.seed,
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            models: self
                .models
                .iter()
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect(),
            quota_tokens: self.quota_tokens,
            default_max_tokens: self.default_max_tokens,
            rate_headers: !self.no_rate_headers,
            batch: MockBatchConfig {
                processing: self.batch_time,
                line_failure: self.batch_fail,
                line_expiry: self.batch_expire,
                queue_tokens: self.batch_queue_tokens,
            },
        }
    }

    /// The server configuration these flags describe, checked.
    pub fn config(&self) -> anyhow::Result<MockServerConfig> {
        let config = self.config_unchecked();
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("pacer mock: {e}"))?;
        Ok(config)
    }
}

/// The counters in one line, for the exit (with the batch APIs' when they were used).
fn summary(stats: &Stats) -> String {
    let mut line = format!(
        "pacer mock: {} requests ({} OpenAI, {} Anthropic, {} Gemini) in {:.1}s: {} ok, {} rate-limited, {} over quota, {} 500s, \
         {} 503s, {} dropped, {} truncated, {} slow, {} busy 429s, {} bad, {} unauthorized, {} not found; \
         {} prompt + {} completion tokens",
        stats.requests,
        stats.openai_requests,
        stats.anthropic_requests,
        stats.gemini_requests,
        stats.uptime_seconds,
        stats.ok,
        stats.rate_limited,
        stats.quota_exceeded,
        stats.server_errors,
        stats.overloaded,
        stats.dropped,
        stats.truncated,
        stats.slow,
        stats.busy,
        stats.bad_requests,
        stats.unauthorized,
        stats.not_found,
        stats.prompt_tokens,
        stats.completion_tokens,
    );
    if stats.batch_requests > 0 {
        line += &format!(
            "; {} batch requests: {} files, {} batches ({} refused, {} cancelled), {} lines \
             ({} failed, {} expired)",
            stats.batch_requests,
            stats.files_uploaded,
            stats.batches_created,
            stats.batches_refused,
            stats.batches_cancelled,
            stats.batch_lines_submitted,
            stats.batch_lines_failed,
            stats.batch_lines_expired,
        );
    }
    line
}

/// Runs `pacer mock`: listens on `--host:--port`, says so on stderr, serves until Ctrl-C,
/// then prints what it served.
pub async fn run(args: MockArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let addr = tokio::net::lookup_host((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("pacer mock: cannot resolve host `{}`", args.host))?
        .next()
        .with_context(|| format!("pacer mock: host `{}` has no address", args.host))?;
    // Build the tokenizers now rather than on the first requests.
    tokio::task::spawn_blocking(|| {
        Encoding::O200k.warm();
        Encoding::Cl100k.warm();
    })
    .await?;
    let line = config.describe();
    let server = MockServer::bind(addr, config)
        .await
        .with_context(|| format!("pacer mock: cannot listen on {addr}"))?;
    eprintln!(
        "pacer mock: listening on {} (Anthropic: {}, Gemini: {}) ({line})",
        server.url(),
        server.anthropic_url(),
        server.gemini_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("pacer mock: cannot wait for Ctrl-C")?;
    let stats = server.stats();
    server.shutdown().await;
    eprintln!("{}", summary(&stats));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        mock: MockArgs,
    }

    fn parse(args: &[&str]) -> Result<MockArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("pacer-mock").chain(args.iter().copied()))
            .map(|c| c.mock)
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!((args.host.as_str(), args.port), ("127.0.0.1", 8000));
        let config = args.config().unwrap();
        assert_eq!(config.window, Duration::from_secs(2));
        assert_eq!(config.slow_for, Duration::from_secs(120));
        assert_eq!(config.default_max_tokens, pacer_core::DEFAULT_MAX_TOKENS);
        assert!(config.rate_headers);
        assert_eq!(config.batch, MockBatchConfig::default());
        assert_eq!(config.describe(), "rpm unlimited, tpm unlimited, window 2s");
    }

    #[test]
    fn flags() {
        let args = parse(&[
            "--rpm",
            "1200",
            "--tpm",
            "40000",
            "--itpm",
            "30000",
            "--otpm",
            "8000",
            "--window",
            "1m30s",
            "--latency",
            "300ms",
            "--latency-sd",
            "0.05",
            "--fail-500",
            "0.1",
            "--fail-503",
            "0.2",
            "--drop",
            "0.05",
            "--truncate",
            "0.05",
            "--slow",
            "0.01",
            "--slow-for",
            "10s",
            "--seed",
            "7",
            "--api-key",
            "sk-test",
            "--models",
            "gpt-4o-mini, o4-mini",
            "--quota-tokens",
            "5",
            "--default-max-tokens",
            "64",
            "--no-rate-headers",
            "--batch-time",
            "500ms",
            "--batch-fail",
            "0.1",
            "--batch-expire",
            "0.05",
            "--batch-queue-tokens",
            "90000",
            "--port",
            "0",
        ])
        .unwrap();
        let config = args.config().unwrap();
        assert_eq!((config.rpm, config.tpm), (Some(1200), Some(40000)));
        assert_eq!((config.itpm, config.otpm), (Some(30000), Some(8000)));
        assert!(config.describe().contains("itpm 30000, otpm 8000"));
        assert_eq!(config.window, Duration::from_secs(90));
        assert_eq!(config.latency_sd, Duration::from_millis(50));
        assert_eq!(config.models, ["gpt-4o-mini", "o4-mini"]);
        assert_eq!(config.api_key.as_deref(), Some("sk-test"));
        assert!(!config.rate_headers);
        let batch = MockBatchConfig {
            processing: Duration::from_millis(500),
            line_failure: 0.1,
            line_expiry: 0.05,
            queue_tokens: Some(90000),
        };
        assert_eq!(config.batch, batch);
        assert!(config.describe().contains("batches take 500ms"));
        assert!(!format!("{args:?}").contains("sk-test"));
    }

    #[test]
    fn clear_errors() {
        let err = parse(&["--drop", "1.5"]).unwrap_err().to_string();
        assert!(err.contains("not a probability"), "{err}");
        let err = parse(&["--window", "soon"]).unwrap_err().to_string();
        assert!(err.contains("not a duration"), "{err}");
        let args = parse(&["--fail-500", "0.7", "--fail-503", "0.7"]).unwrap();
        assert!(args.config().unwrap_err().to_string().contains("add up"));
        let args = parse(&["--batch-fail", "0.7", "--batch-expire", "0.7"]).unwrap();
        assert!(args.config().unwrap_err().to_string().contains("add up"));
        let args = parse(&["--otpm", "0"]).unwrap();
        let err = args.config().unwrap_err().to_string();
        assert!(err.contains("otpm must be positive"), "{err}");
    }
}
