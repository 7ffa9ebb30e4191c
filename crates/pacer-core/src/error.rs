//! The one classification of everything that can go wrong with a request.
//!
//! A provider classifies its failures once, at its edge, into an [`ErrorKind`]; everything
//! above asks the kind what to do (`is_retryable`, `stops_lane`, `is_rate_limit`) and never
//! looks at status codes or bodies again.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{RateLimitInfo, Usage};

/// What kind of failure a request met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// 429: the provider's rate limit was hit. The lane pauses; the item is retried without
    /// using up its error retries.
    RateLimited,
    /// The account's quota or spend limit is used up. Every item would fail: stop the lane.
    QuotaExhausted,
    /// 500, 502, 503, 504: the provider failed. Back off and retry.
    Server,
    /// 529 or an `overloaded_error`: the provider is busy. Back off and retry.
    Overloaded,
    /// No reply within the request timeout. Back off and retry.
    Timeout,
    /// The connection failed (refused, reset, DNS). Back off and retry.
    Connection,
    /// A 200 whose body could not be read, or held no completion. Back off and retry.
    InvalidResponse,
    /// The prompt is longer than the model's context window. Not retried.
    ContextLength,
    /// The request was refused as malformed (other 400s, 422). Not retried.
    BadRequest,
    /// 401, 403: the key is missing, wrong or not allowed. Stops the lane.
    Auth,
    /// 404: the model does not exist. Stops the lane.
    NotFound,
    /// A safety filter refused the prompt or the reply. Not retried.
    ContentFiltered,
    /// The reply does not meet the requested output schema. Retried with the next attempt's
    /// parameters.
    InvalidOutput,
    /// The run's budget would be passed. Dispatching stops; the item stays pending.
    BudgetExhausted,
    /// The setup cannot serve the request, whatever the server would say: a base URL or key
    /// that cannot be used, a model file that will not load, a request larger than a whole
    /// limit. Not retried; the config needs a change.
    Config,
    /// A batch's completion window passed before the request ran (batch mode). Nothing was
    /// billed; it is submitted again in a later batch.
    Expired,
    /// The batch holding the request was cancelled before it ran (batch mode). Nothing was
    /// billed; the job stays pending for a resume.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::RateLimited,
        ErrorKind::QuotaExhausted,
        ErrorKind::Server,
        ErrorKind::Overloaded,
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::InvalidResponse,
        ErrorKind::ContextLength,
        ErrorKind::BadRequest,
        ErrorKind::Auth,
        ErrorKind::NotFound,
        ErrorKind::ContentFiltered,
        ErrorKind::InvalidOutput,
        ErrorKind::BudgetExhausted,
        ErrorKind::Config,
        ErrorKind::Expired,
        ErrorKind::Cancelled,
    ];

    /// Whether sending the same item again may succeed (rate limits included).
    pub fn is_retryable(self) -> bool {
        match self {
            ErrorKind::RateLimited
            | ErrorKind::Server
            | ErrorKind::Overloaded
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::InvalidResponse
            | ErrorKind::InvalidOutput
            | ErrorKind::Expired => true,
            ErrorKind::QuotaExhausted
            | ErrorKind::ContextLength
            | ErrorKind::BadRequest
            | ErrorKind::Auth
            | ErrorKind::NotFound
            | ErrorKind::ContentFiltered
            | ErrorKind::BudgetExhausted
            | ErrorKind::Config
            | ErrorKind::Cancelled => false,
        }
    }

    /// Whether this is a rate-limit event: a lane event, not an item failure.
    pub fn is_rate_limit(self) -> bool {
        matches!(self, ErrorKind::RateLimited)
    }

    /// Whether every other item of the lane would fail the same way, so the lane must stop.
    pub fn stops_lane(self) -> bool {
        match self {
            ErrorKind::QuotaExhausted
            | ErrorKind::Auth
            | ErrorKind::NotFound
            | ErrorKind::BudgetExhausted => true,
            ErrorKind::RateLimited
            | ErrorKind::Server
            | ErrorKind::Overloaded
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::InvalidResponse
            | ErrorKind::ContextLength
            | ErrorKind::BadRequest
            | ErrorKind::ContentFiltered
            | ErrorKind::InvalidOutput
            | ErrorKind::Config
            | ErrorKind::Expired
            | ErrorKind::Cancelled => false,
        }
    }

    /// The kind's name as written in records and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimited => "RateLimited",
            ErrorKind::QuotaExhausted => "QuotaExhausted",
            ErrorKind::Server => "Server",
            ErrorKind::Overloaded => "Overloaded",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::Connection => "Connection",
            ErrorKind::InvalidResponse => "InvalidResponse",
            ErrorKind::ContextLength => "ContextLength",
            ErrorKind::BadRequest => "BadRequest",
            ErrorKind::Auth => "Auth",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::ContentFiltered => "ContentFiltered",
            ErrorKind::InvalidOutput => "InvalidOutput",
            ErrorKind::BudgetExhausted => "BudgetExhausted",
            ErrorKind::Config => "Config",
            ErrorKind::Expired => "Expired",
            ErrorKind::Cancelled => "Cancelled",
        }
    }

    /// What a person should do when a lane stops with this kind.
    pub fn advice(self) -> &'static str {
        match self {
            ErrorKind::Auth => {
                "check the API key for this model (config `api_key` or the provider's environment variable)"
            }
            ErrorKind::NotFound => "check the model name and base_url",
            ErrorKind::QuotaExhausted => {
                "add credit or raise the spend limit with the provider, then run again with --resume"
            }
            ErrorKind::BudgetExhausted => "raise the budget and run again with --resume",
            ErrorKind::Config => {
                "fix the model's entry in the config (or the limit the request exceeds), then run again with --resume --retry-failed"
            }
            ErrorKind::RateLimited
            | ErrorKind::Server
            | ErrorKind::Overloaded
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::InvalidResponse
            | ErrorKind::ContextLength
            | ErrorKind::BadRequest
            | ErrorKind::ContentFiltered
            | ErrorKind::InvalidOutput
            | ErrorKind::Expired
            | ErrorKind::Cancelled => {
                "run again with --resume --retry-failed to retry the failed items"
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure of one request.
///
/// `message` is shown to people and written to result records: providers must never put an
/// API key or an auth header in it.
#[derive(Debug, thiserror::Error)]
#[error("{kind}{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct ProviderError {
    /// The classification.
    pub kind: ErrorKind,
    /// The HTTP status, when there was one.
    pub status: Option<u16>,
    /// What went wrong, in words.
    pub message: String,
    /// How long the provider asked us to wait before trying again.
    pub retry_after: Option<Duration>,
    /// Tokens the failed attempt was billed for, if any.
    pub usage: Option<Usage>,
    /// What the reply's headers said about the rate limits (boxed: errors stay small).
    pub rate_limits: Option<Box<RateLimitInfo>>,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ProviderError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            message: message.into(),
            retry_after: None,
            usage: None,
            rate_limits: None,
            source: None,
        }
    }

    /// Sets what the reply's headers said about the rate limits.
    pub fn with_rate_limits(mut self, rate_limits: Option<RateLimitInfo>) -> Self {
        self.rate_limits = rate_limits.map(Box::new);
        self
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets how long to wait before retrying.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Sets the usage billed for the failed attempt.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Keeps the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lane_stopping_kinds_are_never_retried() {
        for kind in ErrorKind::ALL {
            assert!(!(kind.stops_lane() && kind.is_retryable()), "{kind}");
        }
    }

    #[test]
    fn display_names_kind_status_and_message() {
        let err = ProviderError::new(ErrorKind::Server, "boom").with_status(503);
        assert_eq!(err.to_string(), "Server (HTTP 503): boom");
    }
}
