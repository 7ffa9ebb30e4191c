//! The Responses API's wire format (`POST /v1/responses`), as serde types private to the
//! provider: input items and their content parts on the way out, output items, status and
//! usage on the way in. Output items and parts Pacer does not read (reasoning, built-in
//! tools' calls, annotations) are skipped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::wire::ChatTokenLogprob;

/// `POST /v1/responses`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct ResponsesRequest {
    /// The model.
    pub(crate) model: String,
    /// The system messages' text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instructions: Option<String>,
    /// The conversation: messages, function calls and their outputs.
    pub(crate) input: Vec<InputItem>,
    /// Output cap, reasoning included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_output_tokens: Option<u32>,
    /// Sampling temperature (refused by reasoning models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    /// Nucleus sampling (refused by reasoning models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    /// The functions the model may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tools: Vec<Value>,
    /// `auto`, `none`, `required` or `{"type": "function", "name"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<Value>,
    /// Extra output to include (`message.output_text.logprobs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) include: Vec<String>,
    /// Alternatives per token, 0 to 20.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) top_logprobs: Option<u8>,
    /// Whether OpenAI keeps the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) store: Option<bool>,
    /// Anything else, passed through (`reasoning`, `text`, `service_tier`, ...).
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// One item of the input.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum InputItem {
    /// A message.
    Message {
        /// `system`, `user` or `assistant`.
        role: &'static str,
        /// What it says.
        content: InputContent,
    },
    /// A call an assistant turn made.
    FunctionCall {
        /// The call's id, which its output names.
        call_id: String,
        /// The function.
        name: String,
        /// The arguments, as JSON text.
        arguments: String,
    },
    /// A tool's result.
    FunctionCallOutput {
        /// The call it answers.
        call_id: String,
        /// The result: text, or text and image parts.
        output: InputContent,
    },
}

/// A message's content: text, or parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum InputContent {
    /// Plain text.
    Text(String),
    /// Parts, in order.
    Parts(Vec<InputPart>),
}

/// One part of an input message.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum InputPart {
    /// Text from the user, the system or a tool.
    InputText {
        /// The text.
        text: String,
    },
    /// An image, by URL or as a `data:` URL.
    InputImage {
        /// The URL.
        image_url: String,
        /// `low`, `high` or `auto`.
        detail: String,
    },
    /// Text an assistant turn said.
    OutputText {
        /// The text.
        text: String,
    },
}

/// A response.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct ResponsesReply {
    /// `completed`, `incomplete`, `failed`, ...
    #[serde(default)]
    pub(crate) status: Option<String>,
    /// The exact model version that answered.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// What the model produced, in order.
    #[serde(default)]
    pub(crate) output: Vec<OutputItem>,
    /// Why an `incomplete` response stopped.
    #[serde(default)]
    pub(crate) incomplete_details: Option<IncompleteDetails>,
    /// Why a `failed` response failed.
    #[serde(default)]
    pub(crate) error: Option<ResponseError>,
    /// Tokens billed.
    #[serde(default)]
    pub(crate) usage: Option<ResponsesUsage>,
}

/// One output item.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputItem {
    /// A message of the model.
    Message {
        /// Its parts.
        #[serde(default)]
        content: Vec<OutputPart>,
    },
    /// A function call.
    FunctionCall {
        /// The call's id, which the tool result names.
        #[serde(default)]
        call_id: String,
        /// The function.
        #[serde(default)]
        name: String,
        /// The arguments, as JSON text.
        #[serde(default)]
        arguments: String,
    },
    /// Reasoning, a built-in tool's call, anything else: skipped.
    #[serde(other)]
    Other,
}

/// One part of an output message.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputPart {
    /// Text.
    OutputText {
        /// The text.
        #[serde(default)]
        text: String,
        /// Per-token log-probabilities, when included.
        #[serde(default)]
        logprobs: Option<Vec<ChatTokenLogprob>>,
    },
    /// The model declined.
    Refusal {
        /// Its words.
        #[serde(default)]
        refusal: String,
    },
    /// Anything else: skipped.
    #[serde(other)]
    Other,
}

/// Why a response is incomplete.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// Why a response failed.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(crate) struct ResponseError {
    /// `server_error`, `rate_limit_exceeded`, `invalid_image`, ...
    #[serde(default)]
    pub(crate) code: Option<String>,
    /// In words.
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// Tokens billed, as the Responses API reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct ResponsesUsage {
    /// Input tokens.
    #[serde(default)]
    pub(crate) input_tokens: u64,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub(crate) output_tokens: u64,
    /// Of the input, tokens read from the cache.
    #[serde(default)]
    pub(crate) input_tokens_details: Option<InputTokensDetails>,
    /// Of the output, reasoning tokens.
    #[serde(default)]
    pub(crate) output_tokens_details: Option<OutputTokensDetails>,
}

/// Input token details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct InputTokensDetails {
    /// Tokens read from the prompt cache.
    #[serde(default)]
    pub(crate) cached_tokens: Option<u64>,
}

/// Output token details.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct OutputTokensDetails {
    /// Hidden reasoning tokens.
    #[serde(default)]
    pub(crate) reasoning_tokens: Option<u64>,
}
