//! The `generateContent` request body as the mock reads it (camelCase on the wire): the
//! mock's own types, holding only what it reads, so that a mistake in the provider's wire
//! types cannot hide on both sides of a test. A value of the wrong type is serde's error.
//! The request, a part and the generation config must be JSON objects: serde would read a
//! struct from an array of its fields, but not one with a flattened field (`_rest`).

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// `POST .../models/{model}:generateContent`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateContentRequest {
    /// The conversation: `user` and `model` turns.
    #[serde(default)]
    pub(super) contents: Vec<Content>,
    #[serde(default)]
    pub(super) system_instruction: Option<Content>,
    #[serde(default)]
    pub(super) generation_config: Option<GenerationConfig>,
    /// The tools: only `functionDeclarations` say anything to the mock.
    #[serde(default)]
    pub(super) tools: Option<Vec<GeminiTool>>,
    #[serde(default)]
    pub(super) tool_config: Option<ToolConfig>,
    /// The other fields (`safetySettings`, ...), unread.
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// One entry of `tools`: function declarations, or a built-in tool (`googleSearch`,
/// `codeExecution`, ...) the mock never calls.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GeminiTool {
    #[serde(default)]
    pub(super) function_declarations: Option<Vec<FunctionDeclaration>>,
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// A function the model may call.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FunctionDeclaration {
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    /// Its arguments' schema, in Gemini's OpenAPI subset.
    #[serde(default)]
    pub(super) parameters: Option<Value>,
    /// Its arguments' schema as JSON Schema (the newer field).
    #[serde(default)]
    pub(super) parameters_json_schema: Option<Value>,
}

/// `toolConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolConfig {
    #[serde(default)]
    pub(super) function_calling_config: Option<FunctionCallingConfig>,
}

/// `toolConfig.functionCallingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FunctionCallingConfig {
    /// `AUTO`, `ANY`, `NONE` or `VALIDATED`.
    #[serde(default)]
    pub(super) mode: Option<String>,
    /// With `ANY`: the functions it may call.
    #[serde(default)]
    pub(super) allowed_function_names: Option<Vec<String>>,
}

/// One turn, or the system instruction.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Content {
    /// `user`, `model` (or `function`, for function responses); none on a system
    /// instruction.
    #[serde(default)]
    pub(super) role: Option<String>,
    #[serde(default)]
    pub(super) parts: Vec<Part>,
}

/// One part of a turn: text, an image (inline or a file), a function call or its response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part {
    #[serde(default)]
    pub(super) text: Option<String>,
    #[serde(default)]
    pub(super) inline_data: Option<InlineData>,
    #[serde(default)]
    pub(super) file_data: Option<FileData>,
    #[serde(default)]
    pub(super) function_call: Option<FunctionCall>,
    #[serde(default)]
    pub(super) function_response: Option<FunctionResponse>,
    /// Whether the text is the model's thought, which the mock leaves out.
    #[serde(default)]
    pub(super) thought: Option<bool>,
    /// The other fields (`thoughtSignature`, `executableCode`, ...), unread.
    #[serde(flatten)]
    _rest: IgnoredAny,
}

/// Bytes sent in the request: `{"mimeType", "data"}` (base64).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InlineData {
    pub(super) mime_type: String,
    pub(super) data: String,
}

/// A file by URI: `{"mimeType", "fileUri"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FileData {
    #[serde(default)]
    pub(super) mime_type: Option<String>,
    pub(super) file_uri: String,
}

/// A call the model made: `{"name", "args", "id"?}`.
#[derive(Debug, Deserialize)]
pub(super) struct FunctionCall {
    pub(super) name: String,
    #[serde(default)]
    pub(super) args: Option<Value>,
    #[serde(default)]
    pub(super) id: Option<String>,
}

/// A call's result: `{"name", "response", "id"?}`.
#[derive(Debug, Deserialize)]
pub(super) struct FunctionResponse {
    pub(super) name: String,
    #[serde(default)]
    pub(super) response: Option<Value>,
    #[serde(default)]
    pub(super) id: Option<String>,
}

/// `generationConfig`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerationConfig {
    #[serde(default)]
    pub(super) temperature: Option<f64>,
    #[serde(default)]
    pub(super) top_p: Option<f64>,
    #[serde(default)]
    pub(super) top_k: Option<u32>,
    /// The output cap, per candidate.
    #[serde(default)]
    pub(super) max_output_tokens: Option<u32>,
    #[serde(default)]
    pub(super) candidate_count: Option<u32>,
    #[serde(default)]
    pub(super) seed: Option<u64>,
    #[serde(default)]
    pub(super) stop_sequences: Option<Vec<String>>,
    /// Whether to return the chosen tokens' log-probabilities.
    #[serde(default)]
    pub(super) response_logprobs: Option<bool>,
    /// Alternatives per token, with `responseLogprobs`.
    #[serde(default)]
    pub(super) logprobs: Option<u8>,
    /// The other fields (`responseMimeType`, `thinkingConfig`, ...), unread.
    #[serde(flatten)]
    _rest: IgnoredAny,
}
