//! How the batch APIs behave: how long a batch takes, how its lines fare and how many tokens
//! may wait in the queue.

use std::time::Duration;

use crate::timefmt::go_duration;

/// How the batch APIs of a [`MockServer`](crate::MockServer) behave. The default ends every
/// batch two seconds after its creation with every line answered, and queues any number of
/// tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct MockBatchConfig {
    /// Time from a batch's creation until it ends, on tokio's clock (which a test may
    /// pause). The real APIs take up to 24 hours; the mock ends every batch after this,
    /// its first and last tenth shown as OpenAI's `validating` and `finalizing` (Gemini's
    /// `BATCH_STATE_PENDING` for the first).
    pub processing: Duration,
    /// Probability that a line fails with a server error: a 500 in its result.
    pub line_failure: f64,
    /// Probability that a line is not processed before the window ends: expired.
    pub line_expiry: f64,
    /// The enqueued-token limit per model: the tokens of a model's lines in batches not yet
    /// ended (each line's prompt, counted as the live endpoint counts it, plus its output
    /// cap or `default_max_tokens`) may not pass it. A batch that would pass it is refused
    /// whole, as each API refuses it. `None` for no limit.
    pub queue_tokens: Option<u64>,
}

impl Default for MockBatchConfig {
    fn default() -> Self {
        Self {
            processing: Duration::from_secs(2),
            line_failure: 0.0,
            line_expiry: 0.0,
            queue_tokens: None,
        }
    }
}

impl MockBatchConfig {
    /// What is wrong with the settings, if anything: probabilities between 0 and 1 that add
    /// up to at most 1, a positive queue limit.
    pub(crate) fn check(&self) -> Result<(), String> {
        let probabilities = [
            ("batch line failure", self.line_failure),
            ("batch line expiry", self.line_expiry),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "{name} must be a probability between 0 and 1, got {p}"
                ));
            }
        }
        if self.line_failure + self.line_expiry > 1.0 + 1e-9 {
            return Err(
                "the batch line failure and expiry probabilities add up to more than 1".into(),
            );
        }
        if self.queue_tokens == Some(0) {
            return Err("batch queue tokens must be positive (leave it out for no limit)".into());
        }
        Ok(())
    }

    /// The settings in a few words, for the server's startup line; `None` for the default.
    pub(crate) fn describe(&self) -> Option<String> {
        if *self == Self::default() {
            return None;
        }
        let mut text = format!("batches take {}", go_duration(self.processing));
        for (name, p) in [("fail", self.line_failure), ("expire", self.line_expiry)] {
            if p > 0.0 {
                text += &format!(", batch lines {name} {p}");
            }
        }
        if let Some(limit) = self.queue_tokens {
            text += &format!(", batch queue {limit} tokens");
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::MockBatchConfig;

    #[test]
    fn checks_probabilities_and_the_queue_limit() {
        assert_eq!(MockBatchConfig::default().check(), Ok(()));
        assert_eq!(MockBatchConfig::default().describe(), None);
        let config = MockBatchConfig {
            line_failure: 0.6,
            line_expiry: 0.6,
            ..MockBatchConfig::default()
        };
        assert!(config.check().unwrap_err().contains("add up"));
        let config = MockBatchConfig {
            line_expiry: -0.1,
            ..MockBatchConfig::default()
        };
        assert!(config.check().unwrap_err().contains("expiry"));
        let config = MockBatchConfig {
            queue_tokens: Some(0),
            ..MockBatchConfig::default()
        };
        assert!(config.check().unwrap_err().contains("positive"));
        let config = MockBatchConfig {
            line_failure: 0.25,
            queue_tokens: Some(9000),
            ..MockBatchConfig::default()
        };
        assert_eq!(
            config.describe().as_deref(),
            Some("batches take 2s, batch lines fail 0.25, batch queue 9000 tokens")
        );
    }
}
