//! What one request costs against each kind of limit.

use std::fmt;

/// A kind of rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Requests per minute.
    Requests,
    /// Input plus output tokens per minute (OpenAI's TPM).
    Tokens,
    /// Input tokens per minute (Anthropic's ITPM).
    InputTokens,
    /// Output tokens per minute (Anthropic's OTPM).
    OutputTokens,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 4] = [
        Dimension::Requests,
        Dimension::Tokens,
        Dimension::InputTokens,
        Dimension::OutputTokens,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Dimension::Requests => 0,
            Dimension::Tokens => 1,
            Dimension::InputTokens => 2,
            Dimension::OutputTokens => 3,
        }
    }

    /// The config key that sets this limit.
    pub fn key(self) -> &'static str {
        match self {
            Dimension::Requests => "rpm",
            Dimension::Tokens => "tpm",
            Dimension::InputTokens => "itpm",
            Dimension::OutputTokens => "otpm",
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dimension::Requests => "requests per minute",
            Dimension::Tokens => "tokens per minute",
            Dimension::InputTokens => "input tokens per minute",
            Dimension::OutputTokens => "output tokens per minute",
        })
    }
}

/// The cost of one request: itself, and its (estimated or actual) tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Requests: 1 for a call.
    pub requests: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens (at admission: `max_tokens × n`).
    pub output_tokens: u64,
}

impl Cost {
    /// One request with the given tokens.
    pub fn request(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            requests: 1,
            input_tokens,
            output_tokens,
        }
    }

    /// What this cost weighs against `dimension`.
    pub fn of(&self, dimension: Dimension) -> u64 {
        match dimension {
            Dimension::Requests => self.requests,
            Dimension::Tokens => self.input_tokens + self.output_tokens,
            Dimension::InputTokens => self.input_tokens,
            Dimension::OutputTokens => self.output_tokens,
        }
    }
}
