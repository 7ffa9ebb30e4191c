//! Gemini's `generateContent` wire format, as serde types (camelCase on the wire), private
//! to the provider: it writes requests and reads replies with them. `pacer mock` keeps its
//! own, so that a mistake here shows up against it. Unknown fields are ignored on the way
//! in, so newer servers' additions do no harm. Tool declarations live in `tools`, error
//! replies in `error`.

mod error;
mod tools;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use error::{ErrorReply, ErrorStatus};
pub(crate) use tools::{
    FunctionCallingConfig, FunctionDeclaration, FunctionTool, Tool, ToolConfig,
};

/// `POST {base}/models/{model}:generateContent`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentRequest {
    /// The conversation: `user` and `model` turns.
    #[serde(default)]
    pub(crate) contents: Vec<Content>,
    /// The system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) system_instruction: Option<Content>,
    /// Sampling and output settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) generation_config: Option<GenerationConfig>,
    /// The tools the model may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<Tool>,
    /// Whether and which function the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_config: Option<ToolConfig>,
    /// Anything else, passed through (`safetySettings`, `cachedContent`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// One turn, or the system instruction.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Content {
    /// `user` or `model`; none on a system instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
    /// The parts.
    #[serde(default)]
    pub(crate) parts: Vec<Part>,
}

impl Content {
    /// A turn of `role` (none for a system instruction) holding one text part.
    pub(crate) fn text(role: Option<&str>, text: impl Into<String>) -> Self {
        Self {
            role: role.map(str::to_owned),
            parts: vec![Part {
                text: Some(text.into()),
                ..Part::default()
            }],
        }
    }
}

/// One part of a turn.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part {
    /// Its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// Whether the part is the model's thinking rather than its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thought: Option<bool>,
    /// An image (or other media) inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) inline_data: Option<Blob>,
    /// An image (or other media) by URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) file_data: Option<FileData>,
    /// A call the model makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) function_call: Option<FunctionCall>,
    /// A function's result, answering a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) function_response: Option<FunctionResponse>,
    /// The rest of the part (`thoughtSignature`, `executableCode`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// Media inline: `{mimeType, data}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Blob {
    /// `image/png`, ...
    pub(crate) mime_type: String,
    /// The bytes, base64.
    pub(crate) data: String,
}

/// Media by URI: `{mimeType, fileUri}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileData {
    /// `image/png`, ...
    pub(crate) mime_type: String,
    /// Where the file is.
    pub(crate) file_uri: String,
}

/// A function call: in a reply, or in an earlier `model` turn.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionCall {
    /// The call's id, where the API gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// The function.
    pub(crate) name: String,
    /// The arguments, an object (absent for a function without parameters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) args: Option<Value>,
}

/// A function's result: `{name, response}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FunctionResponse {
    /// The function that was called.
    pub(crate) name: String,
    /// What it returned, an object.
    pub(crate) response: Value,
}

/// `generationConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerationConfig {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_k: Option<u32>,
    /// The output cap, per candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_output_tokens: Option<u32>,
    /// Candidates in this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) candidate_count: Option<u32>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop_sequences: Option<Vec<String>>,
    /// Whether to return the chosen tokens' log-probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_logprobs: Option<bool>,
    /// Alternatives per token, with `responseLogprobs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logprobs: Option<u8>,
    /// Anything else (`responseMimeType`, `thinkingConfig`, `presencePenalty`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// A reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse {
    /// The candidates; none when the prompt was blocked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) candidates: Vec<Candidate>,
    /// Why the prompt was blocked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prompt_feedback: Option<PromptFeedback>,
    /// Tokens billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage_metadata: Option<UsageMetadata>,
    /// The exact model version that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model_version: Option<String>,
    /// The reply's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_id: Option<String>,
}

/// One candidate completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    /// What the model wrote; absent when a filter stopped it before any output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<Content>,
    /// `STOP`, `MAX_TOKENS`, `SAFETY`, `RECITATION`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) finish_reason: Option<String>,
    /// Its position (left out for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index: Option<u32>,
    /// The mean log-probability of its tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) avg_logprobs: Option<f64>,
    /// Per-token log-probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logprobs_result: Option<LogprobsResult>,
}

/// Per-token log-probabilities: parallel arrays, one entry per decoding step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogprobsResult {
    /// The most likely tokens at each step, most likely first.
    #[serde(default)]
    pub(crate) top_candidates: Vec<TopCandidates>,
    /// The token chosen at each step.
    #[serde(default)]
    pub(crate) chosen_candidates: Vec<LogprobCandidate>,
}

/// The alternatives at one step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TopCandidates {
    /// Most likely first.
    #[serde(default)]
    pub(crate) candidates: Vec<LogprobCandidate>,
}

/// A token and its log-probability.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogprobCandidate {
    /// The token.
    #[serde(default)]
    pub(crate) token: String,
    /// Its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) token_id: Option<i64>,
    /// Its log-probability (left out when 0).
    #[serde(default)]
    pub(crate) log_probability: f64,
}

/// Why a prompt was blocked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    /// `SAFETY`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `OTHER`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) block_reason: Option<String>,
    /// The safety ratings, as sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) safety_ratings: Vec<Value>,
}

/// Tokens billed, as Gemini reports them (counts of 0 are left out on the wire).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    /// Prompt tokens, cached ones included.
    #[serde(default)]
    pub(crate) prompt_token_count: u64,
    /// Output tokens over all candidates, thinking left out.
    #[serde(default)]
    pub(crate) candidates_token_count: u64,
    /// Thinking tokens.
    #[serde(default)]
    pub(crate) thoughts_token_count: u64,
    /// Of the prompt, tokens read from a cache.
    #[serde(default)]
    pub(crate) cached_content_token_count: u64,
    /// All of them.
    #[serde(default)]
    pub(crate) total_token_count: u64,
}
