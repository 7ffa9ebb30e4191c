//! OpenAI's wire format for chat completions and legacy completions, as serde types, private
//! to the provider: it writes requests and reads replies with them. `pacer mock` keeps its
//! own, so that a mistake here shows up against it. Unknown fields are ignored on the way
//! in, so newer servers' additions do no harm.

use pacer_core::Content;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatRequest {
    /// The model.
    pub(crate) model: String,
    /// The conversation.
    pub(crate) messages: Vec<ChatMessage>,
    /// Sampling temperature (refused by reasoning models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    /// Nucleus sampling (refused by reasoning models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    /// Output cap for classic models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    /// Output cap for reasoning models, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_completion_tokens: Option<u32>,
    /// Completions in this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop: Option<Vec<String>>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    /// Whether to return per-token log-probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logprobs: Option<bool>,
    /// Alternatives per token, 0 to 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_logprobs: Option<u8>,
    /// The functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<ChatTool>,
    /// `auto`, `none`, `required` or `{"type": "function", "function": {"name"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<Value>,
    /// Anything else, passed through (`response_format`, `reasoning_effort`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// One chat message: its content as OpenAI's chat format has it (a string, or text and
/// `image_url` parts), the tools an assistant turn called, the call a tool result answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub(crate) role: String,
    /// What is said; null for an assistant turn that only called tools.
    #[serde(default)]
    pub(crate) content: Option<Content>,
    /// The calls an assistant turn made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tool_calls: Vec<WireToolCall>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_call_id: Option<String>,
}

/// A function the model may call: `{"type": "function", "function": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatTool {
    /// `function`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The function.
    pub(crate) function: ChatFunction,
}

/// A function's definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatFunction {
    /// Its name.
    pub(crate) name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// The JSON Schema of its arguments.
    pub(crate) parameters: Value,
}

/// A tool call, in a reply or in an assistant turn sent back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireToolCall {
    /// The call's id, which the tool result names.
    #[serde(default)]
    pub(crate) id: String,
    /// `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub(crate) kind: String,
    /// The function called.
    pub(crate) function: WireFunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// The function a call names, and its arguments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireFunctionCall {
    /// The function.
    #[serde(default)]
    pub(crate) name: String,
    /// The arguments, as JSON text.
    #[serde(default)]
    pub(crate) arguments: String,
}

/// `POST /v1/completions` (legacy; vLLM and llama.cpp serve it for base models).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompletionRequest {
    /// The model.
    pub(crate) model: String,
    /// The prompt text.
    pub(crate) prompt: String,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    /// Output cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    /// Completions in this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop: Option<Vec<String>>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    /// Alternatives per token to return (the legacy API's `logprobs` is a count, 0 to 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logprobs: Option<u8>,
    /// Anything else, passed through.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// A chat completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatResponse {
    /// The completion's id.
    #[serde(default)]
    pub(crate) id: String,
    /// `chat.completion`.
    #[serde(default)]
    pub(crate) object: String,
    /// Unix seconds.
    #[serde(default)]
    pub(crate) created: u64,
    /// The exact model version that answered.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// The completions.
    #[serde(default)]
    pub(crate) choices: Vec<ChatChoice>,
    /// Tokens billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<WireUsage>,
}

/// One chat completion choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatChoice {
    /// Its position.
    #[serde(default)]
    pub(crate) index: u32,
    /// The reply.
    pub(crate) message: ReplyMessage,
    /// `stop`, `length`, `content_filter`, `tool_calls`.
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    /// Per-token log-probabilities.
    #[serde(default)]
    pub(crate) logprobs: Option<ChatLogprobs>,
}

/// The assistant's reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReplyMessage {
    /// `assistant`.
    #[serde(default)]
    pub(crate) role: String,
    /// The text; null when the model only called tools or refused.
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// The model's refusal, when it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refusal: Option<String>,
    /// The tools the model called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tool_calls: Vec<WireToolCall>,
}

/// Chat log-probabilities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatLogprobs {
    /// One entry per output token.
    #[serde(default)]
    pub(crate) content: Option<Vec<ChatTokenLogprob>>,
}

/// One output token and its alternatives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChatTokenLogprob {
    /// The token.
    pub(crate) token: String,
    /// Its log-probability.
    pub(crate) logprob: f64,
    /// The most likely tokens at this position.
    #[serde(default)]
    pub(crate) top_logprobs: Vec<TopLogprob>,
}

/// An alternative token.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TopLogprob {
    /// The token.
    pub(crate) token: String,
    /// Its log-probability.
    pub(crate) logprob: f64,
}

/// A legacy completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompletionResponse {
    /// The completion's id.
    #[serde(default)]
    pub(crate) id: String,
    /// `text_completion`.
    #[serde(default)]
    pub(crate) object: String,
    /// Unix seconds.
    #[serde(default)]
    pub(crate) created: u64,
    /// The exact model version that answered.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// The completions.
    #[serde(default)]
    pub(crate) choices: Vec<CompletionChoice>,
    /// Tokens billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<WireUsage>,
}

/// One legacy completion choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompletionChoice {
    /// Its position.
    #[serde(default)]
    pub(crate) index: u32,
    /// The text.
    #[serde(default)]
    pub(crate) text: String,
    /// `stop` or `length`.
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    /// Per-token log-probabilities.
    #[serde(default)]
    pub(crate) logprobs: Option<CompletionLogprobs>,
}

/// Legacy log-probabilities: parallel arrays.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CompletionLogprobs {
    /// The tokens.
    #[serde(default)]
    pub(crate) tokens: Vec<String>,
    /// Their log-probabilities (null for the first token of an echoed prompt).
    #[serde(default)]
    pub(crate) token_logprobs: Vec<Option<f64>>,
    /// Alternatives per position, token to log-probability.
    #[serde(default)]
    pub(crate) top_logprobs: Option<Vec<Option<Map<String, Value>>>>,
}

/// Tokens billed, as OpenAI reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub(crate) prompt_tokens: u64,
    /// Completion tokens, reasoning included.
    #[serde(default)]
    pub(crate) completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub(crate) total_tokens: u64,
    /// Of the prompt, tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prompt_tokens_details: Option<PromptTokensDetails>,
    /// Of the completion, reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) completion_tokens_details: Option<CompletionTokensDetails>,
}

/// Prompt token details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PromptTokensDetails {
    /// Tokens read from the prompt cache.
    #[serde(default)]
    pub(crate) cached_tokens: Option<u64>,
}

/// Completion token details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CompletionTokensDetails {
    /// Hidden reasoning tokens.
    #[serde(default)]
    pub(crate) reasoning_tokens: Option<u64>,
}

/// An error reply: `{"error": {...}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorReply {
    /// The error.
    pub(crate) error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorDetail {
    /// In words.
    #[serde(default)]
    pub(crate) message: String,
    /// `invalid_request_error`, `rate_limit_exceeded`, `insufficient_quota`, ...
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    /// `context_length_exceeded`, `rate_limit_exceeded`, `insufficient_quota`, ...
    #[serde(default)]
    pub(crate) code: Option<Value>,
    /// The parameter at fault.
    #[serde(default)]
    pub(crate) param: Option<String>,
}

impl ErrorDetail {
    /// The code as text, whatever its JSON type.
    pub(crate) fn code_text(&self) -> Option<String> {
        match &self.code {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}
