//! What a provider returns: completions, token usage and log-probabilities.

use serde::{Deserialize, Serialize};

/// Why the model stopped writing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It ended on its own or hit a stop sequence.
    Stop,
    /// It reached `max_tokens`: the output is truncated.
    Length,
    /// A safety filter cut it off.
    ContentFilter,
    /// It called a tool.
    ToolCalls,
    /// It declined to answer (OpenAI's Responses API `refusal`, Anthropic's `refusal`).
    Refusal,
    /// Any other reason, as the provider spelled it.
    #[serde(untagged)]
    Other(String),
}

impl FinishReason {
    /// The reason as it appears in result records.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Refusal => "refusal",
            FinishReason::Other(other) => other,
        }
    }
}

/// Tokens used by one or more requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens billed.
    pub input_tokens: u64,
    /// Completion tokens billed, reasoning tokens included.
    pub output_tokens: u64,
    /// Of the output tokens, those spent on hidden reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Of the input tokens, those read from the provider's prompt cache.
    #[serde(default)]
    pub cached_input_tokens: u64,
}

impl Usage {
    /// Input plus output tokens.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// Adds `other` to this usage.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
    }
}

/// The most likely tokens at one position of the output, in seed 003's record format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// Position of the token in the output, from 0.
    pub token_position: usize,
    /// The token the model chose.
    pub token: String,
    /// The chosen token's log-probability.
    pub logprob: f64,
    /// The most likely tokens at this position, most likely first.
    pub top_tokens: Vec<String>,
    /// Their log-probabilities, in the same order.
    pub top_logprobs: Vec<f64>,
}

/// One completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The text the model wrote.
    pub text: String,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// Per-token log-probabilities, when asked for and offered.
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// The text read as JSON and checked against the request's output schema; `None`
    /// when there was no schema. Providers leave it `None`: the lane fills it in.
    pub parsed: Option<serde_json::Value>,
    /// The tools the model called, in order.
    pub tool_calls: Vec<crate::ToolCall>,
}

impl Choice {
    /// A completion of `text` that ended for `finish_reason`, with nothing else.
    pub fn text(text: impl Into<String>, finish_reason: FinishReason) -> Self {
        Self {
            text: text.into(),
            finish_reason,
            logprobs: None,
            parsed: None,
            tool_calls: Vec::new(),
        }
    }
}

/// A successful reply to one [`Request`](crate::Request). Serialized whole but for the
/// rate-limit readings (a worker returns it to its coordinator as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The exact model version that answered, when the provider says.
    pub model_version: Option<String>,
    /// The completions, one per `n` (none for an embedding request).
    pub choices: Vec<Choice>,
    /// The vectors of an embedding request, one per input, in order.
    pub embeddings: Vec<Vec<f32>>,
    /// Tokens billed for the whole request.
    pub usage: Usage,
    /// What the reply's headers said about the rate limits.
    #[serde(skip)]
    pub rate_limits: Option<crate::RateLimitInfo>,
    /// When the reply was streamed: how long after the request was sent its first output
    /// token came (a local model's first generated token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token: Option<std::time::Duration>,
}
