//! OpenAI's wire format for chat completions and legacy completions, as serde types. The
//! provider writes requests and reads replies with them; `pacer mock` does the reverse.
//! Unknown fields are ignored on the way in, so newer servers' additions do no harm.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature (refused by reasoning models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling (refused by reasoning models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Output cap for classic models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Output cap for reasoning models, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Completions in this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to return per-token log-probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Alternatives per token, 0 to 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u8>,
    /// Anything else, passed through (`response_format`, `reasoning_effort`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One chat message. Content parts (images, ...) are read as their text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// The text.
    #[serde(default, deserialize_with = "content_text")]
    pub content: String,
}

/// Reads `content` as a string, an array of `{type: "text", text}` parts, or null.
fn content_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::String(text) => text,
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    })
}

/// `POST /v1/completions` (legacy; vLLM and llama.cpp serve it for base models).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The model.
    pub model: String,
    /// The prompt text.
    pub prompt: String,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Output cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Completions in this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Alternatives per token to return (the legacy API's `logprobs` is a count, 0 to 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u8>,
    /// Anything else, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A chat completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The completion's id.
    #[serde(default)]
    pub id: String,
    /// `chat.completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The exact model version that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// The completions.
    #[serde(default)]
    pub choices: Vec<ChatChoice>,
    /// Tokens billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

/// One chat completion choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Its position.
    #[serde(default)]
    pub index: u32,
    /// The reply.
    pub message: ReplyMessage,
    /// `stop`, `length`, `content_filter`, `tool_calls`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Per-token log-probabilities.
    #[serde(default)]
    pub logprobs: Option<ChatLogprobs>,
}

/// The assistant's reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplyMessage {
    /// `assistant`.
    #[serde(default)]
    pub role: String,
    /// The text; null when the model only called tools or refused.
    #[serde(default)]
    pub content: Option<String>,
    /// The model's refusal, when it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// Chat log-probabilities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatLogprobs {
    /// One entry per output token.
    #[serde(default)]
    pub content: Option<Vec<ChatTokenLogprob>>,
}

/// One output token and its alternatives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatTokenLogprob {
    /// The token.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// The most likely tokens at this position.
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

/// An alternative token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
}

/// A legacy completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// The completion's id.
    #[serde(default)]
    pub id: String,
    /// `text_completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The exact model version that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// The completions.
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    /// Tokens billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

/// One legacy completion choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// Its position.
    #[serde(default)]
    pub index: u32,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// `stop` or `length`.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Per-token log-probabilities.
    #[serde(default)]
    pub logprobs: Option<CompletionLogprobs>,
}

/// Legacy log-probabilities: parallel arrays.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionLogprobs {
    /// The tokens.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Their log-probabilities (null for the first token of an echoed prompt).
    #[serde(default)]
    pub token_logprobs: Vec<Option<f64>>,
    /// Alternatives per position, token to log-probability.
    #[serde(default)]
    pub top_logprobs: Option<Vec<Option<Map<String, Value>>>>,
}

/// Tokens billed, as OpenAI reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens, reasoning included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
    /// Of the prompt, tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Of the completion, reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// Prompt token details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Tokens read from the prompt cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// Completion token details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Hidden reasoning tokens.
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// An error reply: `{"error": {...}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// In words.
    #[serde(default)]
    pub message: String,
    /// `invalid_request_error`, `rate_limit_exceeded`, `insufficient_quota`, ...
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `context_length_exceeded`, `rate_limit_exceeded`, `insufficient_quota`, ...
    #[serde(default)]
    pub code: Option<Value>,
    /// The parameter at fault.
    #[serde(default)]
    pub param: Option<String>,
}

impl ErrorDetail {
    /// The code as text, whatever its JSON type.
    pub fn code_text(&self) -> Option<String> {
        match &self.code {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}
