//! The mock provider (seed 002's `MockAgent`): replies derived only from the prompt and the
//! sampling parameters, so the same request always gets the same answer, with token usage,
//! and settings that inject latency, transient failures and rate-limit errors. A request
//! with an output schema gets a JSON value that fits it (simple schemas only), or, at the
//! `invalid_json_rate`, broken JSON that the lane's validator refuses.
//!
//! It answers every request shape: embeddings ([`embedding`]), tool calls (`tools`),
//! refusals ([`REFUSAL_MARKER`]), images (billed, not looked at); [`reply`] says which
//! request gets which reply. `pacer mock` builds its replies on the same functions, so the
//! in-process mock and the mock server agree.

mod embed;
mod reply;
mod structured;
mod tools;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pacer_core::{Accounting, ErrorKind, Provider, ProviderError, Request, Response};

pub use embed::{DEFAULT_DIMENSIONS, dimensions, embedding};
pub use reply::{REFUSAL_MARKER, REFUSAL_TEXT, output_tokens, reply};

/// How the mock behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct MockConfig {
    /// Time each reply takes.
    pub latency: Duration,
    /// Share of calls, 0 to 1, that fail with `fail_kind`.
    pub fail_rate: f64,
    /// The kind of the injected failures (a transient server error by default).
    pub fail_kind: ErrorKind,
    /// Every n-th call is refused with a rate-limit error.
    pub rate_limit_every: Option<u64>,
    /// The `retry-after` those refusals carry.
    pub retry_after: Duration,
    /// Share of calls, 0 to 1, with an output schema whose reply is broken JSON (a chatty
    /// preamble and half a value), for showing the structured-output retries.
    pub invalid_json_rate: f64,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            fail_rate: 0.0,
            fail_kind: ErrorKind::Server,
            rate_limit_every: None,
            retry_after: Duration::from_secs(1),
            invalid_json_rate: 0.0,
        }
    }
}

/// The mock provider. Cheap to share; counts its calls.
#[derive(Debug, Default)]
pub struct MockProvider {
    config: MockConfig,
    calls: AtomicU64,
}

impl MockProvider {
    /// A mock behaving as `config` says.
    pub fn new(config: MockConfig) -> Self {
        Self {
            config,
            calls: AtomicU64::new(0),
        }
    }

    /// Calls received so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn injected_failure(&self, call: u64, request: &Request) -> Option<ProviderError> {
        if let Some(every) = self.config.rate_limit_every.filter(|e| *e > 0)
            && call.is_multiple_of(every)
        {
            return Some(
                ProviderError::new(
                    ErrorKind::RateLimited,
                    "mock: rate limit reached (injected)",
                )
                .with_status(429)
                .with_retry_after(self.config.retry_after),
            );
        }
        if self.config.fail_rate > 0.0 {
            let draw = reply::unit_draw(request, call);
            if draw < self.config.fail_rate {
                let kind = self.config.fail_kind;
                return Some(
                    ProviderError::new(kind, format!("mock: injected {kind} failure"))
                        .with_status(status_of(kind)),
                );
            }
        }
        None
    }
}

/// Salts the call number for the `invalid_json_rate` draw.
const INVALID_JSON_SALT: u64 = 0x5c4e_3a00_0000_0000;

/// The HTTP status a real provider would send with `kind`.
fn status_of(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::RateLimited | ErrorKind::QuotaExhausted => 429,
        ErrorKind::Server | ErrorKind::InvalidResponse | ErrorKind::InvalidOutput => 500,
        ErrorKind::Overloaded => 529,
        ErrorKind::Timeout => 504,
        ErrorKind::Connection => 502,
        ErrorKind::ContextLength
        | ErrorKind::BadRequest
        | ErrorKind::ContentFiltered
        | ErrorKind::Config => 400,
        ErrorKind::Auth => 401,
        ErrorKind::NotFound => 404,
        ErrorKind::BudgetExhausted => 402,
        // Batch lines that never ran: no live request ends this way.
        ErrorKind::Expired | ErrorKind::Cancelled => 408,
    }
}

#[async_trait]
impl Provider for MockProvider {
    fn embedding_limits(&self) -> Option<pacer_core::EmbeddingLimits> {
        Some(pacer_core::EmbeddingLimits::OPENAI)
    }

    fn kind(&self) -> &'static str {
        "mock"
    }

    fn accounting(&self) -> Accounting {
        Accounting::Actual
    }

    fn max_samples_per_call(&self, _model: &str) -> u32 {
        8
    }

    async fn send(&self, request: &Request) -> Result<Response, ProviderError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        if let Some(err) = self.injected_failure(call, request) {
            return Err(err);
        }
        let mut response = reply(request);
        // Its own draw (the call number salted), independent of the failure draw. Only a
        // JSON answer is broken: not a tool call nor a refusal.
        if request.params.schema.is_some()
            && self.config.invalid_json_rate > 0.0
            && reply::unit_draw(request, call ^ INVALID_JSON_SALT) < self.config.invalid_json_rate
            && let Some(first) = response.choices.first_mut()
            && first.finish_reason == pacer_core::FinishReason::Stop
            && first.tool_calls.is_empty()
        {
            first.text = structured::broken(&first.text);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_nth_call_is_rate_limited() {
        let mock = MockProvider::new(MockConfig {
            rate_limit_every: Some(3),
            ..MockConfig::default()
        });
        let request = Request::text("m", None, "hi");
        let mut kinds = Vec::new();
        for _ in 0..6 {
            kinds.push(mock.send(&request).await.err().map(|e| e.kind));
        }
        let limited = Some(ErrorKind::RateLimited);
        assert_eq!(kinds, [None, None, limited, None, None, limited]);
    }

    #[tokio::test]
    async fn fail_rate_one_always_fails_with_the_kind_asked() {
        let mock = MockProvider::new(MockConfig {
            fail_rate: 1.0,
            fail_kind: ErrorKind::Auth,
            ..MockConfig::default()
        });
        let err = mock
            .send(&Request::text("m", None, "hi"))
            .await
            .unwrap_err();
        assert_eq!((err.kind, err.status), (ErrorKind::Auth, Some(401)));
    }

    #[tokio::test]
    async fn a_schema_gets_json_and_invalid_json_rate_breaks_some() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"answer": {"type": "string"}},
            "required": ["answer"]
        });
        let mock = MockProvider::new(MockConfig {
            invalid_json_rate: 0.3,
            ..MockConfig::default()
        });
        let mut broken = 0;
        for i in 0..200 {
            let mut request = Request::text("m", None, &format!("prompt {i}"));
            request.params.schema = Some(std::sync::Arc::new(schema.clone()));
            let text = mock.send(&request).await.unwrap().choices[0].text.clone();
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(value) => assert!(value["answer"].is_string(), "{text}"),
                Err(_) => broken += 1,
            }
        }
        assert!((30..90).contains(&broken), "{broken} of 200");
        // Without a schema the knob does nothing.
        let plain = mock.send(&Request::text("m", None, "hi")).await.unwrap();
        assert!(!plain.choices[0].text.starts_with("Sure"));
    }

    #[tokio::test]
    async fn fail_rate_is_roughly_honoured() {
        let mock = MockProvider::new(MockConfig {
            fail_rate: 0.2,
            ..MockConfig::default()
        });
        let mut failed = 0;
        for i in 0..2000 {
            let request = Request::text("m", None, &format!("prompt {i}"));
            failed += usize::from(mock.send(&request).await.is_err());
        }
        assert!((300..500).contains(&failed), "{failed} of 2000");
    }
}
