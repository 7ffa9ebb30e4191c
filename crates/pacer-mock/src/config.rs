//! What the mock server does: its rate limits, latency, faults, key, models and batches.

use std::fmt;
use std::time::Duration;

use crate::MockBatchConfig;
use crate::timefmt::go_duration;

/// How a [`MockServer`](crate::MockServer) behaves. The default is an open server: no limits,
/// no latency, no faults, any key and any model.
#[derive(Clone, PartialEq)]
pub struct MockServerConfig {
    /// Requests per minute, for each model apart (as providers limit them); `None` for no
    /// request limit.
    pub rpm: Option<u64>,
    /// Tokens per minute per model (prompt plus the output cap); `None` for no token limit.
    /// Every endpoint counts them.
    pub tpm: Option<u64>,
    /// Input tokens per minute per model, as Anthropic limits them; `None` for no limit.
    /// Only `POST /v1/messages` counts them.
    pub itpm: Option<u64>,
    /// Output tokens per minute per model, as Anthropic limits them: charged from
    /// `max_tokens` at admission, then corrected to the output the reply used. `None` for
    /// no limit. Only `POST /v1/messages` counts them.
    pub otpm: Option<u64>,
    /// How much of a minute's allowance may be spent at once: each bucket holds
    /// `limit × window / 60` units.
    pub window: Duration,
    /// The window of the token limits (tokens, input and output tokens), when it differs
    /// from `window`.
    pub token_window: Option<Duration>,
    /// Mean of the latency added to each completion.
    pub latency: Duration,
    /// Standard deviation of that latency (normally distributed, clamped at zero).
    pub latency_sd: Duration,
    /// Probability of a 500 server error.
    pub fail_500: f64,
    /// Probability of a 503 overloaded error.
    pub fail_503: f64,
    /// Probability of closing the connection without a reply.
    pub drop: f64,
    /// Probability of a 200 whose JSON body is cut in half.
    pub truncate: f64,
    /// Probability of waiting `slow_for` before replying.
    pub slow: f64,
    /// Probability of a 429 while the limits have room (the provider short of capacity),
    /// with `retry-after: 1` and the rate-limit headers showing what remains (Gemini's, like
    /// Gemini's own, carries neither); the request is not counted against the limits.
    pub fail_429: f64,
    /// How long a slow reply waits.
    pub slow_for: Duration,
    /// Seed of the random draws (latency and faults).
    pub seed: u64,
    /// The key clients must send: as `Authorization: Bearer <key>` to OpenAI's endpoints,
    /// `x-api-key` to Anthropic's, `x-goog-api-key` or `?key=` to Gemini's; `None` accepts
    /// any.
    pub api_key: Option<String>,
    /// The models served; empty serves any model.
    pub models: Vec<String>,
    /// Tokens that may be charged in all before every request gets `insufficient_quota`.
    pub quota_tokens: Option<u64>,
    /// The output cap assumed for the token limit when a request sets none (OpenAI, Gemini;
    /// Anthropic requires one).
    pub default_max_tokens: u32,
    /// Whether replies carry rate-limit headers: OpenAI's `x-ratelimit-*` on its endpoints,
    /// Anthropic's `anthropic-ratelimit-*` on `/v1/messages` (Gemini sends none).
    pub rate_headers: bool,
    /// How the batch APIs behave: apart from the live endpoints, none of the limits,
    /// latency or faults above apply to them.
    pub batch: MockBatchConfig,
}

impl Default for MockServerConfig {
    fn default() -> Self {
        Self {
            rpm: None,
            tpm: None,
            itpm: None,
            otpm: None,
            window: Duration::from_secs(2),
            token_window: None,
            latency: Duration::ZERO,
            latency_sd: Duration::ZERO,
            fail_500: 0.0,
            fail_503: 0.0,
            drop: 0.0,
            truncate: 0.0,
            slow: 0.0,
            fail_429: 0.0,
            slow_for: Duration::from_secs(120),
            seed: 0,
            api_key: None,
            models: Vec::new(),
            quota_tokens: None,
            default_max_tokens: pacer_core::DEFAULT_MAX_TOKENS,
            rate_headers: true,
            batch: MockBatchConfig::default(),
        }
    }
}

impl fmt::Debug for MockServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServerConfig")
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .field("itpm", &self.itpm)
            .field("otpm", &self.otpm)
            .field("window", &self.window)
            .field("token_window", &self.token_window)
            .field("latency", &self.latency)
            .field("latency_sd", &self.latency_sd)
            .field("fail_500", &self.fail_500)
            .field("fail_503", &self.fail_503)
            .field("drop", &self.drop)
            .field("truncate", &self.truncate)
            .field("slow", &self.slow)
            .field("fail_429", &self.fail_429)
            .field("slow_for", &self.slow_for)
            .field("seed", &self.seed)
            // Never print the key itself.
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("models", &self.models)
            .field("quota_tokens", &self.quota_tokens)
            .field("default_max_tokens", &self.default_max_tokens)
            .field("rate_headers", &self.rate_headers)
            .field("batch", &self.batch)
            .finish()
    }
}

impl MockServerConfig {
    /// Checks the settings: positive limits and window, probabilities between 0 and 1 that
    /// add up to at most 1 (the faults' and, apart, the batch lines').
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        self.check().map_err(InvalidConfig)
    }

    fn check(&self) -> Result<(), String> {
        let limits = [
            ("rpm", self.rpm),
            ("tpm", self.tpm),
            ("itpm", self.itpm),
            ("otpm", self.otpm),
        ];
        for (name, limit) in limits {
            if limit == Some(0) {
                return Err(format!(
                    "{name} must be positive (leave it out for no limit)"
                ));
            }
        }
        if self.window.is_zero() || self.token_window.is_some_and(|w| w.is_zero()) {
            return Err("window must be positive".into());
        }
        let mut sum = 0.0;
        for (name, p) in self.fault_probabilities() {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "{name} must be a probability between 0 and 1, got {p}"
                ));
            }
            sum += p;
        }
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "the fault probabilities add up to {sum}, more than 1"
            ));
        }
        self.batch.check()
    }

    /// The settings in a few words (limits, latency, faults, quota, key, batches), for a
    /// startup line.
    pub fn describe(&self) -> String {
        let limit =
            |limit: Option<u64>| limit.map_or_else(|| "unlimited".into(), |l| l.to_string());
        let mut text = format!(
            "rpm {}, tpm {}, window {}",
            limit(self.rpm),
            limit(self.tpm),
            go_duration(self.window)
        );
        if let Some(window) = self.token_window {
            text += &format!(", token window {}", go_duration(window));
        }
        for (name, limit) in [("itpm", self.itpm), ("otpm", self.otpm)] {
            if let Some(limit) = limit {
                text += &format!(", {name} {limit}");
            }
        }
        if self.has_latency() {
            text += &format!(
                ", latency {}±{}",
                go_duration(self.latency),
                go_duration(self.latency_sd)
            );
        }
        for (name, p) in self.fault_probabilities() {
            if p > 0.0 {
                text += &format!(", {name} {p}");
            }
        }
        if let Some(quota) = self.quota_tokens {
            text += &format!(", quota {quota} tokens");
        }
        if self.api_key.is_some() {
            text += ", key required";
        }
        if !self.rate_headers {
            text += ", no rate headers";
        }
        if let Some(batch) = self.batch.describe() {
            text += &format!(", {batch}");
        }
        text
    }

    /// The fault probabilities by flag name, in the order they are drawn.
    pub(crate) fn fault_probabilities(&self) -> [(&'static str, f64); 6] {
        [
            ("fail-500", self.fail_500),
            ("fail-503", self.fail_503),
            ("drop", self.drop),
            ("truncate", self.truncate),
            ("slow", self.slow),
            ("fail-429", self.fail_429),
        ]
    }

    /// Whether any fault or latency needs random draws.
    pub(crate) fn draws(&self) -> bool {
        self.has_latency() || self.fault_probabilities().iter().any(|(_, p)| *p > 0.0)
    }

    /// Whether completions wait at all.
    pub(crate) fn has_latency(&self) -> bool {
        !self.latency.is_zero() || !self.latency_sd.is_zero()
    }
}

/// Settings the mock cannot serve, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_debug_hides_the_key() {
        let mut config = MockServerConfig::default();
        assert_eq!(config.validate(), Ok(()));
        config.api_key = Some("sk-secret".into());
        assert!(!format!("{config:?}").contains("sk-secret"));
    }

    #[test]
    fn rejects_bad_probabilities_and_limits() {
        let config = MockServerConfig {
            drop: 1.5,
            ..MockServerConfig::default()
        };
        assert!(config.validate().unwrap_err().to_string().contains("drop"));
        let config = MockServerConfig {
            fail_500: 0.6,
            fail_503: 0.6,
            ..MockServerConfig::default()
        };
        assert!(config.validate().is_err());
        let config = MockServerConfig {
            rpm: Some(0),
            ..MockServerConfig::default()
        };
        assert!(config.validate().is_err());
        for config in [
            MockServerConfig {
                itpm: Some(0),
                ..MockServerConfig::default()
            },
            MockServerConfig {
                otpm: Some(0),
                ..MockServerConfig::default()
            },
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("tpm must be positive"), "{err}");
        }
    }
}
